/* What the loader tests share: the formulas of tools/make_h5_fixtures.py (keep the two in step), and helpers that
 * open a loader and read epochs. Everything is static: each test is one program. */
#ifndef LEAP_TESTS_DATA_LOADER_FIXTURES_H
#define LEAP_TESTS_DATA_LOADER_FIXTURES_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/hdf5/loader.h"
#include "tests/common/leap_test.h"

#define FIX_DIR "tests/fixtures/h5/"
#define FIX_DTYPES FIX_DIR "dtypes.h5"
#define FIX_LAYOUTS FIX_DIR "layouts.h5"
#define FIX_TOKENS FIX_DIR "tokens.h5"
#define FIX_IDS FIX_DIR "ids.h5"
#define FIX_ERRORS FIX_DIR "errors.h5"

/* dtypes.h5: (37, 5), base b = i * 5 + j. */
#define FIX_DTYPES_N 37
#define FIX_DTYPES_ROW 5

static inline double fix_dtype_value(const char *name, int64_t b) {
  if (!strcmp(name, "u8")) return (double)((b * 7) % 256);
  if (!strcmp(name, "i8")) return (double)((b * 7) % 256 - 128);
  if (!strcmp(name, "u16")) return (double)((b * 331) % 65536);
  if (!strcmp(name, "i16")) return (double)((b * 331) % 65536 - 32768);
  if (!strcmp(name, "u32") || !strcmp(name, "u64")) return (double)(b * 100003);
  if (!strcmp(name, "i32") || !strcmp(name, "i64") || !strcmp(name, "be_i32")) return (double)(b * 100003 - 9000000);
  if (!strcmp(name, "f16")) return (double)(b - 90) * 0.25;
  if (!strcmp(name, "f32")) return (double)(float)((double)(b - 90) * 0.1);
  if (!strcmp(name, "f64") || !strcmp(name, "be_f64")) return (double)(b - 90) * 0.1;
  if (!strcmp(name, "f64_int")) return (double)(b - 90);
  if (!strcmp(name, "bool")) return b % 3 == 0 ? 1.0 : 0.0;
  return NAN;
}

/* layouts.h5: images (n, 6, 5, 3) u8. */
#define FIX_IMG_H 6
#define FIX_IMG_W 5
#define FIX_IMG_C 3
static inline int fix_image_value(int64_t i, int64_t y, int64_t x, int64_t c) {
  return (int)((i * 31 + y * 7 + x * 3 + c * 11) % 256);
}

/* ids.h5: 1000 samples; img (4, 4, 3) with element p of sample i = (i + 17 p) % 256. */
#define FIX_IDS_N 1000
#define FIX_IDS_PIXELS 48
static inline int fix_ids_value(int64_t i, int64_t p) { return (int)((i + p * 17) % 256); }

/* tokens.h5: 1000 tokens: u16 and i64 hold (i * 37) % 50000 (= 37 i), u8 holds (i * 13) % 256. */
#define FIX_TOKENS_N 1000

/* A config over one file and group with the given datasets (all f32, per-sample); tests adjust the rest. */
static inline leap_loader_config fix_config(const char *path, const char *group, int n_fields,
                                            const char *const *datasets) {
  leap_loader_config c = leap_loader_config_default();
  c.path = path;
  c.group = group;
  c.n_fields = n_fields;
  for (int i = 0; i < n_fields; i++) c.fields[i].dataset = datasets[i];
  return c;
}

/* Reads `epochs` whole epochs of field `field` (i32 ids, one per sample) into ids (epochs x samples per epoch);
 * returns the count read, or -1 on an error (err set). */
static inline int64_t fix_read_ids(leap_loader *loader, int field, int epochs, int32_t *ids, leap_error *err) {
  int64_t count = 0, batches = leap_loader_batches_per_epoch(loader);
  for (int64_t b = 0; b < batches * epochs; b++) {
    leap_batch batch;
    if (leap_loader_next(loader, &batch, err)) return -1;
    memcpy(ids + count, batch.field[field], (size_t)batch.n * sizeof(int32_t));
    count += batch.n;
  }
  return count;
}

/* Whether ids (n) holds each of first..first+n-1 exactly once. */
static inline bool fix_is_permutation(const int32_t *ids, int64_t n, int64_t first) {
  char *seen = calloc((size_t)n, 1);
  bool ok = seen != NULL;
  for (int64_t i = 0; ok && i < n; i++) {
    int64_t k = (int64_t)ids[i] - first;
    ok = k >= 0 && k < n && !seen[k];
    if (ok) seen[k] = 1;
  }
  free(seen);
  return ok;
}

#endif
