/* CPU fills over Philox4x32-10. The generator itself is philox.h; this file only evaluates it many counters at a
 * time: RNG_BATCH consecutive blocks are kept side by side in arrays (structure of arrays), so that each round is
 * a loop over independent counters that the compiler turns into vector 32x32->64 multiplies. Work is split into
 * RNG_CHUNK-element pieces for the threads; since every element is a pure function of its index, the split does
 * not change any value. philox_batch restates philox.h's round in this layout; tests/kernels/rng checks the two
 * agree bit for bit, so they cannot drift apart. */
#include "kernels/rng/rng.h"

#include "kernels/common/kernel_common.h"

/* Philox blocks per batch (256 draws). GCC 12 fully unrolls smaller batches and then fails to vectorise the
 * rounds, which costs about 8x; 64 blocks stay a loop and vectorise. */
#define RNG_BATCH 64
#define RNG_BATCH_DRAWS (4 * RNG_BATCH)
#define RNG_CHUNK 8192 /* Elements per thread work item. */

/* bits[4*j + lane] = lane `lane` of block first_block + j: the draws numbered 4*first_block onwards, in order. */
static void philox_batch(uint32_t bits[RNG_BATCH_DRAWS], uint64_t seed, uint64_t stream, uint64_t first_block) {
  uint32_t x0[RNG_BATCH], x1[RNG_BATCH], x2[RNG_BATCH], x3[RNG_BATCH];
  for (int j = 0; j < RNG_BATCH; j++) {
    uint64_t block = first_block + (uint64_t)j;
    x0[j] = (uint32_t)block;
    x1[j] = (uint32_t)(block >> 32);
    x2[j] = (uint32_t)stream;
    x3[j] = (uint32_t)(stream >> 32);
  }
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < LEAP_PHILOX_ROUNDS; r++) {
    for (int j = 0; j < RNG_BATCH; j++) {
      uint64_t p0 = (uint64_t)LEAP_PHILOX_M0 * x0[j];
      uint64_t p1 = (uint64_t)LEAP_PHILOX_M1 * x2[j];
      uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1[j] ^ k0;
      uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3[j] ^ k1;
      x0[j] = y0;
      x1[j] = (uint32_t)p1;
      x2[j] = y2;
      x3[j] = (uint32_t)p0;
    }
    k0 += LEAP_PHILOX_W0;
    k1 += LEAP_PHILOX_W1;
  }
  for (int j = 0; j < RNG_BATCH; j++) {
    bits[4 * j + 0] = x0[j];
    bits[4 * j + 1] = x1[j];
    bits[4 * j + 2] = x2[j];
    bits[4 * j + 3] = x3[j];
  }
}

void leap__rng_uniform_span(float *LEAP_RESTRICT u, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  uint32_t bits[RNG_BATCH_DRAWS];
  int64_t j = 0;
  while (j < n) {
    uint64_t index = offset + (uint64_t)j;
    uint64_t first_draw = index & ~(uint64_t)3;
    philox_batch(bits, seed, stream, first_draw >> 2);
    int64_t skip = (int64_t)(index - first_draw);
    int64_t take = RNG_BATCH_DRAWS - skip;
    if (take > n - j) take = n - j;
    for (int64_t k = 0; k < take; k++) u[j + k] = leap_rng_bits_to_uniform(bits[skip + k]);
    j += take;
  }
}

/* x[j] = mean + std * normal(offset + j): normal number i uses draws 2i and 2i+1, so a batch of RNG_BATCH blocks
 * gives RNG_BATCH_DRAWS / 2 normals. */
static void normal_span(float *LEAP_RESTRICT x, int64_t n, float mean, float std, uint64_t seed, uint64_t stream,
                        uint64_t offset) {
  uint32_t bits[RNG_BATCH_DRAWS];
  const int64_t per_batch = RNG_BATCH_DRAWS / 2;
  int64_t j = 0;
  while (j < n) {
    uint64_t index = offset + (uint64_t)j;
    uint64_t first = index & ~(uint64_t)1;
    philox_batch(bits, seed, stream, first >> 1);
    int64_t skip = (int64_t)(index - first);
    int64_t take = per_batch - skip;
    if (take > n - j) take = n - j;
    for (int64_t k = 0; k < take; k++) {
      int64_t d = 2 * (skip + k);
      x[j + k] = mean + std * leap_rng_bits_to_normal(bits[d], bits[d + 1]);
    }
    j += take;
  }
}

void leap_rng_fill_uniform_cpu(float *x, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream,
                               uint64_t offset) {
  const float range = hi - lo;
  const int64_t chunks = (n + RNG_CHUNK - 1) / RNG_CHUNK;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (int64_t c = 0; c < chunks; c++) {
    int64_t begin = c * RNG_CHUNK;
    int64_t len = n - begin < RNG_CHUNK ? n - begin : RNG_CHUNK;
    float *LEAP_RESTRICT xc = x + begin;
    leap__rng_uniform_span(xc, len, seed, stream, offset + (uint64_t)begin);
    for (int64_t k = 0; k < len; k++) xc[k] = lo + range * xc[k];
  }
}

void leap_rng_fill_normal_cpu(float *x, int64_t n, float mean, float std, uint64_t seed, uint64_t stream,
                              uint64_t offset) {
  const int64_t chunks = (n + RNG_CHUNK - 1) / RNG_CHUNK;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (int64_t c = 0; c < chunks; c++) {
    int64_t begin = c * RNG_CHUNK;
    int64_t len = n - begin < RNG_CHUNK ? n - begin : RNG_CHUNK;
    normal_span(x + begin, len, mean, std, seed, stream, offset + (uint64_t)begin);
  }
}
