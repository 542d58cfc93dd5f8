/* The loader reads back exactly what h5py wrote (tests/fixtures/h5, from tools/make_h5_fixtures.py): every integer
 * and float dtype (f16, big-endian, an enum included) converted to f32, i32 and u8 with the range check, images
 * chunked with gzip, with shuffle+gzip, split across chunks, unfiltered and contiguous, NCHW converted to NHWC, u8
 * normalised, from the root and from groups; each read resident (whole at open) and streamed (chunk by chunk), on 1
 * and 3 threads, in order and shuffled (each delivered sample is checked against its own index). Also which path
 * each streamed layout takes (raw chunks decoded by leap, pread of contiguous data, or H5Dread), so that the values
 * above cover all three. */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5
int main(void) { return LEAP_TEST_SKIP_CODE; }
#else

#include "data/hdf5/loader_internal.h"
#include "tests/data/loader_fixtures.h"

static const float k_mean[3] = {0.5f, 0.4f, 0.3f}, k_std[3] = {0.25f, 0.2f, 0.3f};

/* Whether a stored value v must be delivered as dtype t (else the loader must report it). */
static bool fits(double v, leap_dtype t) {
  if (t == LEAP_F32) return !isfinite(v) || fabs(v) <= FLT_MAX;
  double lo = t == LEAP_I32 ? -2147483648.0 : 0.0, hi = t == LEAP_I32 ? 2147483647.0 : 255.0;
  return v >= lo && v <= hi && v == floor(v);
}

static double delivered(const void *data, leap_dtype t, int64_t k) {
  if (t == LEAP_F32) return ((const float *)data)[k];
  if (t == LEAP_I32) return ((const int32_t *)data)[k];
  return ((const uint8_t *)data)[k];
}

/* What the loader must deliver for a stored value (f32 rounds once, to nearest). */
static double want_as(double v, leap_dtype t) { return t == LEAP_F32 ? (double)(float)v : v; }

/* ------------------------------------------------------------------------------------------------------------ */
/* dtypes.h5 */

static void check_dtype_case(const char *name, leap_dtype target, bool streamed, int threads) {
  const char *datasets[1] = {name};
  leap_loader_config c = fix_config(FIX_DTYPES, "/", 1, datasets);
  c.fields[0].dtype = target;
  c.shuffle = false;
  c.batch = FIX_DTYPES_N;
  c.threads = threads;
  c.resident_bytes = streamed ? 0 : c.resident_bytes;
  int64_t bad = -1;
  for (int64_t b = 0; b < FIX_DTYPES_N * FIX_DTYPES_ROW && bad < 0; b++)
    if (!fits(fix_dtype_value(name, b), target)) bad = b / FIX_DTYPES_ROW;
  char what[128], sample[32];
  snprintf(what, sizeof what, "%s as %s (%s, %d threads)", name, leap_dtype_name(target),
           streamed ? "streamed" : "resident", threads);
  snprintf(sample, sizeof sample, "sample %lld ", (long long)bad);
  leap_loader *L = NULL;
  leap_error err = {0};
  leap_status st = leap_loader_open(&L, &c, &err);
  leap_batch batch;
  if (!st) st = leap_loader_next(L, &batch, &err);
  if (bad >= 0) {
    LEAP_TEST_ASSERT(st == LEAP_ERR_VALUE && strstr(err.message, name) && strstr(err.message, FIX_DTYPES) &&
                         strstr(err.message, sample),
                     "%s: want a range error at %s, got %s: %s", what, sample, leap_status_name(st), err.message);
    LEAP_TEST_ASSERT(streamed || L == NULL, "%s: a resident field is checked at open", what);
  } else if (LEAP_TEST_ASSERT(st == LEAP_OK, "%s: %s", what, err.message)) {
    int64_t wrong = 0, first_wrong = -1;
    for (int64_t k = 0; k < FIX_DTYPES_N * FIX_DTYPES_ROW; k++) {
      bool ok = delivered(batch.field[0], target, k) == want_as(fix_dtype_value(name, k), target);
      if (!ok && first_wrong < 0) first_wrong = k;
      wrong += !ok;
    }
    LEAP_TEST_ASSERT(wrong == 0, "%s: %lld values differ, first at %lld: got %.9g want %.9g", what, (long long)wrong,
                     (long long)first_wrong, first_wrong < 0 ? 0.0 : delivered(batch.field[0], target, first_wrong),
                     first_wrong < 0 ? 0.0 : want_as(fix_dtype_value(name, first_wrong), target));
    LEAP_TEST_ASSERT(batch.n == FIX_DTYPES_N && batch.ndim[0] == 2 && batch.shape[0][1] == FIX_DTYPES_ROW &&
                         batch.dtype[0] == target,
                     "%s: batch shape", what);
  }
  leap_loader_close(L);
}

static void test_dtypes(void) {
  static const char *names[] = {"u8",  "i8",  "u16", "i16",     "u32",    "i32",    "u64", "i64",
                                "f16", "f32", "f64", "f64_int", "be_i32", "be_f64", "bool"};
  static const leap_dtype targets[] = {LEAP_F32, LEAP_I32, LEAP_U8};
  for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
    for (int t = 0; t < 3; t++)
      for (int streamed = 0; streamed < 2; streamed++)
        check_dtype_case(names[n], targets[t], streamed, 1 + 2 * streamed);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* layouts.h5 */

typedef struct layout_case {
  const char *dataset;
  leap_dtype dtype;
  bool normalize, nchw;
  bool train_only; /* val and test hold only index, image, pose, label */
} layout_case;

static const layout_case k_layouts[] = {
    {"image", LEAP_U8, false, false, false},       {"image", LEAP_F32, false, false, false},
    {"image", LEAP_F32, true, false, false},       {"image_shuf", LEAP_U8, false, false, true},
    {"image_nchw", LEAP_U8, false, true, true},    {"image_nchw", LEAP_F32, true, true, true},
    {"image_split", LEAP_U8, false, false, true},  {"image_plain", LEAP_I32, false, false, true},
    {"image_contig", LEAP_F32, true, false, true}, {"pose", LEAP_F32, false, false, false},
    {"label", LEAP_I32, false, false, false},      {"label", LEAP_U8, false, false, false},
    {"f16", LEAP_F32, false, false, true},         {"u16", LEAP_I32, false, false, true},
    {"i64", LEAP_I32, false, false, true},         {"i64", LEAP_F32, false, false, true},
    {"be_f32", LEAP_F32, false, false, true},      {"index", LEAP_F32, false, false, false},
};

/* Element k (delivered layout) of sample i of a layouts.h5 dataset, as stored. */
static double layout_value(const char *name, int64_t i, int64_t k) {
  if (!strncmp(name, "image", 5)) {
    int64_t c = k % FIX_IMG_C, x = k / FIX_IMG_C % FIX_IMG_W, y = k / (FIX_IMG_C * FIX_IMG_W);
    return fix_image_value(i, y, x, c);
  }
  if (!strcmp(name, "pose")) return (double)i * 0.5 + (double)k * 0.125 - 3.0;
  if (!strcmp(name, "label")) return (double)(i % 7);
  if (!strcmp(name, "f16")) return (double)(i * 4 + k - 100) * 0.25;
  if (!strcmp(name, "u16")) return (double)((i * 2 + k) * 600 + 7);
  if (!strcmp(name, "i64")) return (double)((i * 3 + k) * 100003 - 7000000);
  if (!strcmp(name, "be_f32")) return (double)(i * 2 + k) * 0.5;
  return (double)i; /* index */
}

static int64_t check_sample(const layout_case *lc, const void *data, int64_t row_elems, int64_t j, int64_t i) {
  int64_t wrong = 0;
  for (int64_t k = 0; k < row_elems; k++) {
    double v = layout_value(lc->dataset, i, k), got = delivered(data, lc->dtype, j * row_elems + k);
    if (lc->normalize) {
      int c = (int)(k % FIX_IMG_C);
      double want = (v / 255.0 - k_mean[c]) / k_std[c];
      wrong += fabs(got - want) > 1e-5 * (1.0 + fabs(want));
    } else {
      wrong += got != want_as(v, lc->dtype);
    }
  }
  return wrong;
}

static void check_layout_case(const layout_case *lc, const char *group, int64_t n, bool streamed, bool shuffle,
                              int threads) {
  const char *datasets[2] = {"index", lc->dataset};
  leap_loader_config c = fix_config(FIX_LAYOUTS, group, 2, datasets);
  c.fields[0].dtype = LEAP_I32;
  c.fields[1].dtype = lc->dtype;
  c.fields[1].normalize = lc->normalize;
  c.fields[1].nchw = lc->nchw;
  memcpy(c.fields[1].mean, k_mean, sizeof k_mean);
  memcpy(c.fields[1].std, k_std, sizeof k_std);
  c.batch = 8;
  c.shuffle = shuffle;
  c.seed = 7;
  c.threads = threads;
  c.shuffle_buffer = 16;
  c.resident_bytes = streamed ? 0 : c.resident_bytes;
  char what[160];
  snprintf(what, sizeof what, "%s/%s as %s%s%s (%s, %s, %d threads)", group, lc->dataset, leap_dtype_name(lc->dtype),
           lc->normalize ? " normalised" : "", lc->nchw ? " from NCHW" : "", streamed ? "streamed" : "resident",
           shuffle ? "shuffled" : "in order", threads);
  leap_loader *L = NULL;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "%s: %s", what, err.message)) return;
  int64_t row_elems = !strncmp(lc->dataset, "image", 5) ? FIX_IMG_H * FIX_IMG_W * FIX_IMG_C
                      : !strcmp(lc->dataset, "label") || !strcmp(lc->dataset, "index") ? 1
                      : !strcmp(lc->dataset, "pose") || !strcmp(lc->dataset, "i64")    ? 3
                      : !strcmp(lc->dataset, "f16")                                    ? 4
                                                                                       : 2;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)(2 * n));
  int64_t count = 0, wrong = 0;
  bool shapes = true;
  for (int64_t b = 0; b < 2 * leap_loader_batches_per_epoch(L); b++) {
    leap_batch batch;
    if (!LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &err) == LEAP_OK, "%s: %s", what, err.message)) break;
    shapes &= leap_shape_numel(batch.ndim[1] - 1, batch.shape[1] + 1) == row_elems && batch.shape[1][0] == batch.n;
    if (!strncmp(lc->dataset, "image", 5))
      shapes &= batch.ndim[1] == 4 && batch.shape[1][1] == FIX_IMG_H && batch.shape[1][3] == FIX_IMG_C;
    for (int64_t j = 0; j < batch.n; j++) {
      int32_t id = ((const int32_t *)batch.field[0])[j];
      ids[count++] = id;
      wrong += check_sample(lc, batch.field[1], row_elems, j, id);
    }
  }
  LEAP_TEST_ASSERT(count == 2 * n && fix_is_permutation(ids, n, 0) && fix_is_permutation(ids + n, n, 0),
                   "%s: each of %lld samples once per epoch", what, (long long)n);
  LEAP_TEST_ASSERT(wrong == 0 && shapes, "%s: %lld values differ%s", what, (long long)wrong,
                   shapes ? "" : ", bad shape");
  if (!shuffle)
    for (int64_t i = 0; i < count; i++)
      if (!LEAP_TEST_ASSERT(ids[i] == i % n, "%s: unshuffled order", what)) break;
  free(ids);
  leap_loader_close(L);
}

static void test_layouts(void) {
  static const struct {
    const char *group;
    int64_t n;
  } groups[] = {{"train", 50}, {"/val/", 13}, {"test", 11}};
  for (size_t g = 0; g < 3; g++)
    for (size_t k = 0; k < sizeof k_layouts / sizeof k_layouts[0]; k++) {
      if (g > 0 && k_layouts[k].train_only) continue;
      for (int mode = 0; mode < 4; mode++)
        check_layout_case(&k_layouts[k], groups[g].group, groups[g].n, mode & 1, mode & 2,
                          mode == 3 ? 3 : 1 + mode % 2);
    }
}

/* The path each streamed dataset of train/ takes, read beside `index`. */
static void test_paths(void) {
  static const struct {
    const char *dataset;
    bool raw, contiguous;
  } cases[] = {
      {"image", true, false},       {"image_shuf", true, false},  {"image_nchw", true, false},
      {"image_plain", true, false}, {"image_contig", true, true}, {"image_split", false, false},
      {"be_f32", false, false},     {"f16", true, false},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const char *datasets[2] = {"index", cases[k].dataset};
    leap_loader_config c = fix_config(FIX_LAYOUTS, "train", 2, datasets);
    c.fields[1].nchw = !strcmp(cases[k].dataset, "image_nchw");
    c.resident_bytes = 0;
    leap_loader *L = NULL;
    leap_error err = {0};
    if (!LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "%s: %s", cases[k].dataset, err.message)) continue;
    const leap__field *f = &L->fields[1];
    LEAP_TEST_ASSERT(!f->resident && f->raw == cases[k].raw && f->contiguous == cases[k].contiguous,
                     "%s: streamed %d, raw %d (want %d), contiguous %d (want %d)", cases[k].dataset, !f->resident,
                     f->raw, cases[k].raw, f->contiguous, cases[k].contiguous);
    leap_loader_close(L);
  }
}

/* latest.h5: the newest file format's chunk indexes, and a chunk never written (read as the fill value, 0). */
static void test_latest_format(void) {
  static const char *names[] = {"fixed", "extensible", "btree2", "holes"};
  for (int k = 0; k < 4; k++)
    for (int streamed = 0; streamed < 2; streamed++) {
      const char *datasets[2] = {"index", names[k]};
      leap_loader_config c = fix_config(FIX_DIR "latest.h5", "", 2, datasets);
      c.fields[0].dtype = LEAP_I32;
      c.fields[1].dtype = LEAP_U8;
      c.batch = 7;
      c.resident_bytes = streamed ? 0 : c.resident_bytes;
      leap_loader *L = NULL;
      leap_error err = {0};
      if (!LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "%s: %s", names[k], err.message)) continue;
      LEAP_TEST_ASSERT(!streamed || L->fields[1].raw, "%s: the raw path when streamed", names[k]);
      int64_t wrong = 0, count = 0;
      for (int64_t b = 0; b < leap_loader_batches_per_epoch(L); b++) {
        leap_batch batch;
        if (!LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &err) == LEAP_OK, "%s: %s", names[k], err.message)) break;
        for (int64_t j = 0; j < batch.n; j++, count++) {
          int32_t id = ((const int32_t *)batch.field[0])[j];
          const uint8_t *img = (const uint8_t *)batch.field[1] + j * FIX_IMG_H * FIX_IMG_W * FIX_IMG_C;
          for (int64_t e = 0; e < FIX_IMG_H * FIX_IMG_W * FIX_IMG_C; e++) {
            bool hole = k == 3 && id >= 48;
            wrong += img[e] != (hole ? 0 : fix_image_value(id, e / (FIX_IMG_W * FIX_IMG_C), e / FIX_IMG_C % FIX_IMG_W,
                                                           e % FIX_IMG_C));
          }
        }
      }
      LEAP_TEST_ASSERT(wrong == 0 && count == 50, "%s (%s): %lld values differ", names[k],
                       streamed ? "streamed" : "resident", (long long)wrong);
      leap_loader_close(L);
    }
}

int main(void) {
  test_latest_format();
  test_paths();
  test_dtypes();
  test_layouts();
  return leap_test_finish();
}

#endif
