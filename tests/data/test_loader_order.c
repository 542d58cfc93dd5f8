/* The loader's order: each epoch a permutation (every sample exactly once), the same for the same seed and epoch
 * (pinned values, so that a change of the algorithm that would change orders across machines or versions shows),
 * different for another seed or epoch, chunk-aware (each group of the permutation holds whole blocks); shards for
 * W in {1, 2, 3, 8} disjoint and covering each epoch; identical batches whatever the thread count, the cache or a
 * seek; fraction and drop_last; token windows in range. */
#include <stdio.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5
int main(void) { return LEAP_TEST_SKIP_CODE; }
#else

#include "data/hdf5/order.h"
#include "tests/data/loader_fixtures.h"

/* ------------------------------------------------------------------------------------------------------------ */
/* the order functions */

static int64_t *make_order(int64_t n, int64_t block_rows, int64_t group_blocks, bool shuffle, uint64_t seed,
                           int64_t epoch) {
  int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
  int64_t *scratch = malloc(sizeof(int64_t) * (size_t)((n + block_rows - 1) / block_rows));
  leap__epoch_order(order, n, block_rows, group_blocks, shuffle, seed, epoch, scratch);
  free(scratch);
  return order;
}

static bool is_permutation64(const int64_t *order, int64_t n) {
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)order[i];
  bool ok = fix_is_permutation(ids, n, 0);
  free(ids);
  return ok;
}

/* The order is chunk-aware: cut it into the shortest runs that each hold whole blocks; no run may need more than
 * group_blocks blocks (a block split between groups would make its run swallow the next group). */
static bool chunk_aware(const int64_t *order, int64_t n, int64_t block_rows, int64_t group_blocks) {
  int64_t n_blocks = (n + block_rows - 1) / block_rows, pos = 0;
  char *seen = calloc((size_t)n_blocks, 1);
  bool ok = true;
  while (ok && pos < n) {
    int64_t blocks = 0, need = 0, end = pos;
    do {
      int64_t b = order[end++] / block_rows;
      if (!seen[b]) {
        seen[b] = 1;
        blocks++;
        need += (b + 1) * block_rows < n ? block_rows : n - b * block_rows;
      }
    } while (end - pos < need && end < n);
    ok = blocks <= group_blocks && end - pos == need;
    for (int64_t p = pos; p < end; p++) seen[order[p] / block_rows] = 0;
    pos = end;
  }
  free(seen);
  return ok;
}

static void test_order_functions(void) {
  static const struct {
    int64_t n, block_rows, group_blocks;
  } cases[] = {{1, 1, 1}, {7, 3, 1}, {100, 1, 100}, {100, 100, 1}, {1000, 16, 4}, {1001, 16, 5}, {333, 7, 3}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int64_t n = cases[k].n, br = cases[k].block_rows, gb = cases[k].group_blocks;
    int64_t *a = make_order(n, br, gb, true, 42, 0), *b = make_order(n, br, gb, true, 42, 0);
    int64_t *other_seed = make_order(n, br, gb, true, 43, 0), *other_epoch = make_order(n, br, gb, true, 42, 1);
    int64_t *plain = make_order(n, br, gb, false, 42, 0);
    LEAP_TEST_ASSERT(is_permutation64(a, n) && is_permutation64(other_epoch, n), "case %zu: a permutation", k);
    LEAP_TEST_ASSERT(!memcmp(a, b, sizeof(int64_t) * (size_t)n), "case %zu: same seed, same order", k);
    if (n > 10) {
      LEAP_TEST_ASSERT(memcmp(a, other_seed, sizeof(int64_t) * (size_t)n), "case %zu: another seed, another order", k);
      LEAP_TEST_ASSERT(memcmp(a, other_epoch, sizeof(int64_t) * (size_t)n), "case %zu: another epoch, another order",
                       k);
    }
    LEAP_TEST_ASSERT(chunk_aware(a, n, br, gb), "case %zu: groups of whole blocks", k);
    bool identity = true;
    for (int64_t i = 0; i < n; i++) identity &= plain[i] == i;
    LEAP_TEST_ASSERT(identity, "case %zu: unshuffled is 0..n-1", k);
    free(a);
    free(b);
    free(other_seed);
    free(other_epoch);
    free(plain);
  }
  /* Pinned: the first positions of (n 1000, blocks of 16, groups of 4, seed 42, epoch 0), and draws. Python's
   * reimplementation (tools/bench_w6_h5py.py --self-test) checks the same numbers. */
  static const int64_t pinned[8] = {428, 893, 892, 888, 884, 740, 425, 737};
  int64_t *a = make_order(1000, 16, 4, true, 42, 0);
  bool same = true;
  for (int i = 0; i < 8; i++) same &= a[i] == pinned[i];
  LEAP_TEST_ASSERT(same, "pinned order: got %lld %lld %lld %lld %lld %lld %lld %lld", (long long)a[0], (long long)a[1],
                   (long long)a[2], (long long)a[3], (long long)a[4], (long long)a[5], (long long)a[6],
                   (long long)a[7]);
  free(a);
  LEAP_TEST_ASSERT(leap__order_draw(42, 1, 5) == 6263075227364423622ull, "pinned draw: got %llu",
                   (unsigned long long)leap__order_draw(42, 1, 5));
}

static void test_windows_and_ranges(void) {
  for (int64_t k = 0; k < 10000; k++) {
    int64_t s = leap__window_start(k, 100, 9, true, 5, 3);
    if (!LEAP_TEST_ASSERT(s >= 0 && s + 10 <= 100, "window %lld starts at %lld", (long long)k, (long long)s)) break;
  }
  LEAP_TEST_ASSERT(leap__window_start(3, 100, 9, false, 5, 3) == 27 &&
                       leap__window_start(10, 100, 9, false, 5, 3) == 90 &&
                       leap__window_start(11, 100, 9, false, 5, 3) == 90,
                   "unshuffled windows are k * window, clamped to the last full window");
  static const int worlds[4] = {1, 2, 3, 8};
  for (int w = 0; w < 4; w++)
    for (int64_t n = 0; n < 40; n++) {
      int64_t expect_lo = 0, lo, hi;
      for (int r = 0; r < worlds[w]; r++) {
        leap__rank_range(n, r, worlds[w], &lo, &hi);
        LEAP_TEST_ASSERT(lo == expect_lo && hi >= lo && hi - lo <= n / worlds[w] + 1, "rank ranges tile [0, n)");
        expect_lo = hi;
      }
      LEAP_TEST_ASSERT(expect_lo == n, "rank ranges cover [0, n)");
    }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* through the loader (ids.h5: 1000 samples in chunks of 16) */

static leap_loader_config ids_config(bool streamed, uint64_t seed) {
  static const char *datasets[2] = {"id", "img"};
  leap_loader_config c = fix_config(FIX_IDS, "", 2, datasets);
  c.fields[0].dtype = LEAP_I32;
  c.fields[1].dtype = LEAP_U8;
  c.batch = 24;
  c.seed = seed;
  c.shuffle_buffer = 64;
  c.resident_bytes = streamed ? 0 : c.resident_bytes;
  return c;
}

static leap_loader *open_or_fail(const leap_loader_config *c, const char *what) {
  leap_loader *L = NULL;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_loader_open(&L, c, &err) == LEAP_OK, "%s: %s", what, err.message);
  return L;
}

/* Reads epochs of ids (and checks every image against its id). Returns the count, -1 on failure. */
static int64_t read_checked(leap_loader *L, int epochs, int32_t *ids, const char *what) {
  int64_t count = 0, wrong = 0;
  leap_error err = {0};
  for (int64_t b = 0; b < leap_loader_batches_per_epoch(L) * epochs; b++) {
    leap_batch batch;
    if (!LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &err) == LEAP_OK, "%s: %s", what, err.message)) return -1;
    LEAP_TEST_ASSERT(batch.epoch == b / leap_loader_batches_per_epoch(L) &&
                         batch.index_in_epoch == b % leap_loader_batches_per_epoch(L),
                     "%s: batch numbering", what);
    for (int64_t j = 0; j < batch.n; j++) {
      int32_t id = ((const int32_t *)batch.field[0])[j];
      const uint8_t *img = (const uint8_t *)batch.field[1] + j * FIX_IDS_PIXELS;
      for (int p = 0; p < FIX_IDS_PIXELS; p++) wrong += img[p] != fix_ids_value(id, p);
      ids[count++] = id;
    }
  }
  LEAP_TEST_ASSERT(wrong == 0, "%s: %lld pixels do not match their sample", what, (long long)wrong);
  return count;
}

static void test_shards(void) {
  static const int worlds[4] = {1, 2, 3, 8};
  int32_t *all = malloc(sizeof(int32_t) * 3 * FIX_IDS_N), *ids = malloc(sizeof(int32_t) * 3 * FIX_IDS_N);
  for (int w = 0; w < 4; w++)
    for (int streamed = 0; streamed < 2; streamed++) {
      char what[96];
      snprintf(what, sizeof what, "world %d (%s)", worlds[w], streamed ? "streamed" : "resident");
      int64_t filled[3] = {0, 0, 0};
      for (int r = 0; r < worlds[w]; r++) {
        leap_loader_config c = ids_config(streamed, 11);
        c.rank = r;
        c.world = worlds[w];
        c.threads = 1 + r % 3;
        leap_loader *L = open_or_fail(&c, what);
        if (!L) continue;
        int64_t per = leap_loader_samples_per_epoch(L);
        LEAP_TEST_ASSERT(leap_loader_batches_per_epoch(L) == (per + c.batch - 1) / c.batch, "%s: batches", what);
        int64_t got = read_checked(L, 3, ids, what);
        for (int e = 0; e < 3 && got == 3 * per; e++) {
          memcpy(all + e * FIX_IDS_N + filled[e], ids + e * per, sizeof(int32_t) * (size_t)per);
          filled[e] += per;
        }
        leap_loader_close(L);
      }
      for (int e = 0; e < 3; e++)
        LEAP_TEST_ASSERT(filled[e] == FIX_IDS_N && fix_is_permutation(all + e * FIX_IDS_N, FIX_IDS_N, 0),
                         "%s, epoch %d: the ranks' shards are disjoint and cover every sample once", what, e);
      LEAP_TEST_ASSERT(memcmp(all, all + FIX_IDS_N, sizeof(int32_t) * FIX_IDS_N), "%s: epochs differ", what);
    }
  free(all);
  free(ids);
}

/* Reads `epochs` epochs of ids with a config; NULL on failure. */
static int32_t *epochs_of(const leap_loader_config *c, int epochs, const char *what, int64_t *count) {
  leap_loader *L = open_or_fail(c, what);
  if (!L) return NULL;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)(epochs * leap_loader_samples_per_epoch(L)));
  *count = read_checked(L, epochs, ids, what);
  leap_loader_close(L);
  return ids;
}

static void test_determinism(void) {
  int64_t n_ref = 0, n = 0;
  leap_loader_config c = ids_config(true, 99);
  c.threads = 1;
  int32_t *ref = epochs_of(&c, 3, "reference", &n_ref);
  static const struct {
    bool streamed;
    int threads, prefetch;
    int64_t cache;
  } variants[] = {{true, 3, 1, -1}, {true, 2, 4, 0}, {false, 2, 2, -1}, {false, 1, 1, 0}};
  for (int v = 0; v < 4 && ref; v++) {
    leap_loader_config cv = ids_config(variants[v].streamed, 99);
    cv.threads = variants[v].threads;
    cv.prefetch = variants[v].prefetch;
    if (variants[v].cache >= 0) cv.cache_bytes = variants[v].cache;
    int32_t *ids = epochs_of(&cv, 3, "variant", &n);
    LEAP_TEST_ASSERT(ids && n == n_ref && !memcmp(ids, ref, sizeof(int32_t) * (size_t)n),
                     "variant %d (streamed %d, %d threads, cache %lld): the same batches as the reference", v,
                     variants[v].streamed, variants[v].threads, (long long)variants[v].cache);
    free(ids);
  }
  for (int e = 0; e < 3 && n_ref == 3 * FIX_IDS_N; e++)
    LEAP_TEST_ASSERT(fix_is_permutation(ref + e * FIX_IDS_N, FIX_IDS_N, 0), "epoch %d: every sample exactly once", e);
  leap_loader_config other = ids_config(true, 100);
  int32_t *ids = epochs_of(&other, 1, "other seed", &n);
  LEAP_TEST_ASSERT(ids && ref && memcmp(ids, ref, sizeof(int32_t) * FIX_IDS_N), "another seed, another order");
  free(ids);
  free(ref);
}

static void test_seek(void) {
  for (int streamed = 0; streamed < 2; streamed++) {
    leap_loader_config c = ids_config(streamed, 5);
    int64_t n = 0;
    int32_t *ref = epochs_of(&c, 2, "seek reference", &n);
    leap_loader *L = open_or_fail(&c, "seek");
    if (!L || !ref) return;
    int64_t batches = leap_loader_batches_per_epoch(L);
    leap_error err = {0};
    leap_batch batch;
    static const int64_t targets[][2] = {{1, 3}, {0, 0}, {1, 0}, {0, 41}, {0, 7}};
    for (int t = 0; t < 5; t++) {
      int64_t e = targets[t][0], i = targets[t][1];
      for (int skip = 0; skip < t % 3; skip++) leap_loader_next(L, &batch, &err); /* leave batches in the queue */
      LEAP_TEST_ASSERT(leap_loader_seek(L, e, i, &err) == LEAP_OK, "seek: %s", err.message);
      for (int64_t k = i; k < i + 3 && k < batches; k++) {
        if (!LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &err) == LEAP_OK, "after seek: %s", err.message)) break;
        const int32_t *want = ref + e * FIX_IDS_N + k * c.batch;
        LEAP_TEST_ASSERT(batch.epoch == e && batch.index_in_epoch == k &&
                             !memcmp(batch.field[0], want, sizeof(int32_t) * (size_t)batch.n),
                         "seek to (%lld, %lld), batch %lld: the same samples as without seeking", (long long)e,
                         (long long)i, (long long)k);
      }
    }
    LEAP_TEST_ASSERT(leap_loader_seek(L, 0, batches, &err) == LEAP_ERR_VALUE, "seek past the epoch is an error");
    leap_loader_close(L);
    free(ref);
  }
}

static void test_fraction_and_drop_last(void) {
  leap_loader_config c = ids_config(true, 3);
  c.fraction = 0.5;
  leap_loader *L = open_or_fail(&c, "fraction");
  if (L) {
    LEAP_TEST_ASSERT(leap_loader_samples_per_epoch(L) == 500 && leap_loader_total_samples(L) == FIX_IDS_N,
                     "fraction 0.5: 500 of 1000 samples");
    int32_t ids[1000];
    int64_t n = read_checked(L, 2, ids, "fraction");
    LEAP_TEST_ASSERT(n == 1000 && fix_is_permutation(ids, 500, 0) && fix_is_permutation(ids + 500, 500, 0),
                     "fraction 0.5: samples 0..499, each once per epoch");
    leap_loader_close(L);
  }
  c = ids_config(false, 3);
  c.drop_last = true;
  c.world = 3;
  c.rank = 2;
  L = open_or_fail(&c, "drop_last");
  if (L) {
    int64_t per = leap_loader_samples_per_epoch(L);
    LEAP_TEST_ASSERT(per == 334 && leap_loader_batches_per_epoch(L) == per / c.batch, "drop_last: whole batches only");
    leap_error err = {0};
    leap_batch batch;
    for (int64_t b = 0; b < 2 * leap_loader_batches_per_epoch(L); b++) {
      if (leap_loader_next(L, &batch, &err) || !LEAP_TEST_ASSERT(batch.n == c.batch, "drop_last: full batches")) break;
    }
    leap_loader_close(L);
  }
}

static void test_tokens(void) {
  static const char *datasets[3] = {"u16", "u8", "i64"};
  for (int shuffle = 0; shuffle < 2; shuffle++)
    for (int world = 1; world <= 3; world += 2) {
      leap_loader_config c = fix_config(FIX_TOKENS, "", 3, datasets);
      leap_dtype dtypes[3] = {LEAP_I32, LEAP_U8, LEAP_F32};
      for (int i = 0; i < 3; i++) {
        c.fields[i].kind = LEAP_FIELD_TOKENS;
        c.fields[i].window = 16;
        c.fields[i].dtype = dtypes[i];
      }
      c.shuffle = shuffle;
      c.batch = 5;
      c.world = world;
      c.rank = world - 1;
      c.token_windows_per_epoch = shuffle ? 100 : 0;
      leap_loader *L = open_or_fail(&c, "tokens");
      if (!L) continue;
      int64_t windows = shuffle ? 100 : FIX_TOKENS_N / 16, lo, hi, wrong = 0, n = 0;
      leap__rank_range(windows, c.rank, world, &lo, &hi);
      LEAP_TEST_ASSERT(leap_loader_samples_per_epoch(L) == hi - lo, "tokens: windows per rank");
      leap_error err = {0};
      leap_batch batch;
      for (int64_t b = 0; b < leap_loader_batches_per_epoch(L); b++) {
        if (!LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &err) == LEAP_OK, "tokens: %s", err.message)) break;
        LEAP_TEST_ASSERT(batch.ndim[0] == 2 && batch.shape[0][1] == 17 && batch.dtype[1] == LEAP_U8, "tokens: shape");
        for (int64_t j = 0; j < batch.n; j++, n++) {
          const int32_t *w = (const int32_t *)batch.field[0] + j * 17;
          int64_t start = w[0] / 37;
          wrong += start < 0 || start + 17 > FIX_TOKENS_N || (!shuffle && start != (lo + n) * 16 && lo + n < 62);
          for (int t = 0; t < 17; t++) {
            int64_t i = start + t;
            wrong += w[t] != i * 37 || ((const uint8_t *)batch.field[1])[j * 17 + t] != (i * 13) % 256 ||
                     ((const float *)batch.field[2])[j * 17 + t] != (float)(i * 37);
          }
        }
      }
      LEAP_TEST_ASSERT(wrong == 0 && n == hi - lo, "tokens (shuffle %d, world %d): %lld windows wrong or out of range",
                       shuffle, world, (long long)wrong);
      leap_loader_close(L);
    }
}

int main(void) {
  test_order_functions();
  test_windows_and_ranges();
  test_shards();
  test_determinism();
  test_seek();
  test_fraction_and_drop_last();
  test_tokens();
  return leap_test_finish();
}

#endif
