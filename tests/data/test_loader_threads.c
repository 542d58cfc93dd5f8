/* The prefetch thread and the worker pool under stress, for ThreadSanitizer (docs/data.md says how to run it): many
 * loaders with 1 to 4 threads and queues of 1 to 3 batches, closed at once, after one batch, in the middle of an
 * epoch while the producer is busy, after a seek; several loaders at once on the same file (as train and val
 * loaders are); a slow consumer, so that the producer waits on a full queue. Every batch is checked against its
 * sample ids, so that a race that corrupts data fails here too. */
#include <stdio.h>
#include <time.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5
int main(void) { return LEAP_TEST_SKIP_CODE; }
#else

#include "tests/data/loader_fixtures.h"

static leap_loader_config stress_config(int threads, int prefetch, bool streamed, int64_t cache) {
  static const char *datasets[3] = {"id", "img", "x"};
  leap_loader_config c = fix_config(FIX_IDS, "", 3, datasets);
  c.fields[0].dtype = LEAP_I32;
  c.fields[1].normalize = true;
  c.batch = 17;
  c.seed = 1;
  c.threads = threads;
  c.prefetch = prefetch;
  c.shuffle_buffer = 48;
  c.resident_bytes = streamed ? 0 : c.resident_bytes;
  c.cache_bytes = cache;
  return c;
}

/* Reads n batches and checks them: the image (normalised with mean 0, std 1: x / 255) and x against the id. */
static bool read_batches(leap_loader *L, int64_t n, bool slow) {
  leap_error err = {0};
  int64_t wrong = 0;
  for (int64_t b = 0; b < n; b++) {
    leap_batch batch;
    if (!LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &err) == LEAP_OK, "next: %s", err.message)) return false;
    for (int64_t j = 0; j < batch.n; j++) {
      int32_t id = ((const int32_t *)batch.field[0])[j];
      const float *img = (const float *)batch.field[1] + j * FIX_IDS_PIXELS;
      wrong += ((const float *)batch.field[2])[j] != (float)id;
      for (int p = 0; p < FIX_IDS_PIXELS; p++) wrong += fabsf(img[p] - (float)fix_ids_value(id, p) / 255.0f) > 1e-6f;
    }
    if (slow) nanosleep(&(struct timespec){0, 200000}, NULL);
  }
  return LEAP_TEST_ASSERT(wrong == 0, "%lld values do not match their sample", (long long)wrong);
}

static void test_open_close_cycles(void) {
  for (int threads = 1; threads <= 4; threads++)
    for (int prefetch = 1; prefetch <= 3; prefetch++)
      for (int mode = 0; mode < 4; mode++) {
        leap_loader_config c = stress_config(threads, prefetch, mode & 1, mode & 2 ? 0 : (int64_t)1 << 30);
        leap_loader *L = NULL;
        leap_error err = {0};
        if (!LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "open: %s", err.message)) continue;
        int64_t batches = leap_loader_batches_per_epoch(L);
        /* Close at once, after one batch, mid-epoch, or after two and a half epochs with a seek. */
        int64_t reads[4] = {0, 1, batches / 2, 2 * batches + batches / 2};
        read_batches(L, reads[(threads + prefetch + mode) % 4], false);
        if ((threads + mode) % 2) {
          LEAP_TEST_ASSERT(leap_loader_seek(L, 1, batches / 3, &err) == LEAP_OK, "seek: %s", err.message);
          read_batches(L, batches, prefetch == 2);
        }
        leap_loader_close(L);
      }
}

static void test_concurrent_loaders(void) {
  leap_loader *loaders[3] = {NULL, NULL, NULL};
  leap_error err = {0};
  for (int i = 0; i < 3; i++) {
    leap_loader_config c = stress_config(2 + i % 2, 2, i != 1, (int64_t)1 << 30);
    c.seed = (uint64_t)i;
    LEAP_TEST_ASSERT(leap_loader_open(&loaders[i], &c, &err) == LEAP_OK, "open %d: %s", i, err.message);
  }
  for (int round = 0; round < 40; round++)
    for (int i = 0; i < 3; i++)
      if (loaders[i]) read_batches(loaders[i], 1 + (round + i) % 3, round % 7 == 0);
  for (int i = 0; i < 3; i++) leap_loader_close(loaders[i]);
}

int main(void) {
  test_open_close_cycles();
  test_concurrent_loaders();
  return leap_test_finish();
}

#endif
