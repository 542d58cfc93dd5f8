/* A synthetic batch source for the feeder tests (train/loop/feeder.h), independent of HDF5: batch k (k = 0, 1, ...)
 * has src_rows(k) rows of three fields whose values are a formula of (k, row, element):
 *   field 0: f32 (n, f0_h, f0_w)  k * 1000 + row + element / 8
 *   field 1: i32 (n)              k * 100000 + row
 *   field 2: u8  (n, 7)           (k * 31 + row * 7 + element) mod 256  (7-byte samples: odd offsets)
 * in buffers from an allocator (pinned memory in the GPU test). A batch stays valid until `held` more calls; then
 * its buffers are poisoned (all bits set) before they are reused, so that a feeder that still reads a released batch
 * gets garbage. Batch sizes vary: every fifth batch is 6 rows short and every seventh has 2 rows (fewer than the
 * parts of a split into 3 or more). Header-only (static), included by the feeder tests. */
#ifndef LEAP_TESTS_TRAIN_LOOP_FEEDER_SOURCE_H
#define LEAP_TESTS_TRAIN_LOOP_FEEDER_SOURCE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/hdf5/loader.h"
#include "tests/common/leap_test.h"

#define SRC_FIELDS 3
#define SRC_MAX_HELD 2
#define SRC_U8_WIDTH 7
#define SRC_BATCHES_PER_EPOCH 4

typedef struct src {
  int held;
  int64_t max_rows, f0_h, f0_w;
  int64_t k;       /* batches handed out so far */
  int64_t fail_at; /* the call that fails (and every later one); -1: never */
  void *(*alloc)(size_t bytes, void *ctx);
  void (*release)(void *ptr, void *ctx);
  void *ctx;
  void *buf[SRC_MAX_HELD + 1][SRC_FIELDS];
} src;

static inline void *src_malloc(size_t bytes, void *ctx) { return (void)ctx, malloc(bytes); }
static inline void src_free(void *p, void *ctx) { (void)ctx, free(p); }

static inline int64_t src_rows(const src *s, int64_t k) {
  if (k % 7 == 6) return 2;
  if (k % 5 == 3) return s->max_rows - 6;
  return s->max_rows;
}

static inline size_t src_sample_bytes(const src *s, int field) {
  if (field == 0) return (size_t)(s->f0_h * s->f0_w) * sizeof(float);
  if (field == 1) return sizeof(int32_t);
  return SRC_U8_WIDTH;
}

static inline float src_f0(int64_t k, int64_t r, int64_t e) { return (float)(k * 1000 + r) + (float)e * 0.125f; }
static inline int32_t src_f1(int64_t k, int64_t r) { return (int32_t)(k * 100000 + r); }
static inline uint8_t src_f2(int64_t k, int64_t r, int64_t e) { return (uint8_t)((k * 31 + r * 7 + e) & 255); }

static inline bool src_init(src *s, int held, int64_t max_rows, int64_t f0_h, int64_t f0_w,
                     void *(*alloc)(size_t, void *), void (*release)(void *, void *), void *ctx) {
  memset(s, 0, sizeof *s);
  s->held = held, s->max_rows = max_rows, s->f0_h = f0_h, s->f0_w = f0_w, s->fail_at = -1;
  s->alloc = alloc, s->release = release, s->ctx = ctx;
  for (int b = 0; b <= held; b++)
    for (int i = 0; i < SRC_FIELDS; i++)
      if (!(s->buf[b][i] = alloc((size_t)max_rows * src_sample_bytes(s, i), ctx))) return false;
  return true;
}

static inline void src_destroy(src *s) {
  for (int b = 0; b <= s->held; b++)
    for (int i = 0; i < SRC_FIELDS; i++)
      if (s->buf[b][i]) s->release(s->buf[b][i], s->ctx);
}

/* leap_feeder_next_fn. */
static inline leap_status src_next(void *p, leap_batch *batch, leap_error *err) {
  src *s = p;
  if (s->fail_at >= 0 && s->k >= s->fail_at)
    return leap_error_set(err, LEAP_ERR_IO, "synthetic source: batch %lld cannot be read", (long long)s->k);
  int ring = s->held + 1;
  int64_t k = s->k++, n = src_rows(s, k);
  /* Batch k - held is released by this call: poison it, then fill batch k into the ring slot it takes. */
  if (k - s->held >= 0)
    for (int i = 0; i < SRC_FIELDS; i++)
      memset(s->buf[(k - s->held) % ring][i], 0xFF, (size_t)s->max_rows * src_sample_bytes(s, i));
  void **buf = s->buf[k % ring];
  int64_t e0 = s->f0_h * s->f0_w;
  for (int64_t r = 0; r < n; r++) {
    for (int64_t e = 0; e < e0; e++) ((float *)buf[0])[r * e0 + e] = src_f0(k, r, e);
    ((int32_t *)buf[1])[r] = src_f1(k, r);
    for (int64_t e = 0; e < SRC_U8_WIDTH; e++) ((uint8_t *)buf[2])[r * SRC_U8_WIDTH + e] = src_f2(k, r, e);
  }
  memset(batch, 0, sizeof *batch);
  batch->n = n;
  batch->epoch = k / SRC_BATCHES_PER_EPOCH, batch->index_in_epoch = k % SRC_BATCHES_PER_EPOCH;
  static const leap_dtype types[SRC_FIELDS] = {LEAP_F32, LEAP_I32, LEAP_U8};
  for (int i = 0; i < SRC_FIELDS; i++) {
    batch->field[i] = buf[i];
    batch->dtype[i] = types[i];
    batch->shape[i][0] = n;
  }
  batch->ndim[0] = 3, batch->shape[0][1] = s->f0_h, batch->shape[0][2] = s->f0_w;
  batch->ndim[1] = 1;
  batch->ndim[2] = 2, batch->shape[2][1] = SRC_U8_WIDTH;
  return LEAP_OK;
}

/* Elements of rows [lo, hi) of batch k's field that differ from the formula, data holding those rows. */
static inline int64_t src_wrong(const src *s, int64_t k, int field, int64_t lo, int64_t hi, const void *data) {
  int64_t wrong = 0, e0 = s->f0_h * s->f0_w;
  for (int64_t r = lo; r < hi; r++) {
    int64_t j = r - lo;
    if (field == 0)
      for (int64_t e = 0; e < e0; e++) wrong += ((const float *)data)[j * e0 + e] != src_f0(k, r, e);
    else if (field == 1)
      wrong += ((const int32_t *)data)[j] != src_f1(k, r);
    else
      for (int64_t e = 0; e < SRC_U8_WIDTH; e++)
        wrong += ((const uint8_t *)data)[j * SRC_U8_WIDTH + e] != src_f2(k, r, e);
  }
  return wrong;
}

#endif
