/* The epoch order; see order.h for its definition. */
#include "data/hdf5/order.h"

#include "kernels/rng/philox.h"

uint64_t leap__order_draw(uint64_t seed, uint64_t stream, uint64_t k) {
  leap_philox4 r = leap_rng_block(seed, stream, k >> 1);
  unsigned lane = 2u * (unsigned)(k & 1);
  return (uint64_t)r.x[lane] | (uint64_t)r.x[lane + 1] << 32;
}

uint64_t leap__order_below(uint64_t seed, uint64_t stream, uint64_t k, uint64_t m) {
  return (uint64_t)(((unsigned __int128)leap__order_draw(seed, stream, k) * m) >> 64);
}

static uint64_t epoch_stream(int64_t epoch, unsigned purpose) { return (uint64_t)epoch << 2 | purpose; }

/* Fisher-Yates over a[0..m), with draws first_draw + k. */
static void permute(int64_t *a, int64_t m, uint64_t seed, uint64_t stream, uint64_t first_draw) {
  for (int64_t k = m - 1; k > 0; k--) {
    int64_t j = (int64_t)leap__order_below(seed, stream, first_draw + (uint64_t)k, (uint64_t)k + 1);
    int64_t t = a[k];
    a[k] = a[j];
    a[j] = t;
  }
}

void leap__epoch_order(int64_t *order, int64_t n, int64_t block_rows, int64_t group_blocks, bool shuffle, uint64_t seed,
                       int64_t epoch, int64_t *block_scratch) {
  if (!shuffle) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    return;
  }
  int64_t n_blocks = (n + block_rows - 1) / block_rows;
  for (int64_t b = 0; b < n_blocks; b++) block_scratch[b] = b;
  permute(block_scratch, n_blocks, seed, epoch_stream(epoch, LEAP__STREAM_BLOCKS), 0);
  int64_t pos = 0;
  for (int64_t g = 0; g < n_blocks; g += group_blocks) {
    int64_t group_start = pos;
    for (int64_t b = g; b < n_blocks && b < g + group_blocks; b++) {
      int64_t first = block_scratch[b] * block_rows, end = first + block_rows < n ? first + block_rows : n;
      for (int64_t s = first; s < end; s++) order[pos++] = s;
    }
    permute(order + group_start, pos - group_start, seed, epoch_stream(epoch, LEAP__STREAM_SAMPLES),
            (uint64_t)group_start);
  }
}

int64_t leap__window_start(int64_t k, int64_t n_tokens, int64_t window, bool shuffle, uint64_t seed, int64_t epoch) {
  int64_t last = n_tokens - window - 1;
  if (shuffle)
    return (int64_t)leap__order_below(seed, epoch_stream(epoch, LEAP__STREAM_WINDOWS), (uint64_t)k, (uint64_t)last + 1);
  return k * window < last ? k * window : last;
}

void leap__rank_range(int64_t n, int rank, int world, int64_t *lo, int64_t *hi) {
  *lo = (int64_t)((unsigned __int128)n * (unsigned)rank / (unsigned)world);
  *hi = (int64_t)((unsigned __int128)n * (unsigned)(rank + 1) / (unsigned)world);
}
