/* Every bad input the loader can meet gives one line naming the file and the dataset, with the right status: a
 * missing file, a file that is not HDF5, a missing group or dataset, fields whose first dimensions differ,
 * unsupported types (compound, fixed and variable strings), a scalar, a token window longer than the stream, values
 * that do not fit the delivered dtype (checked at open for a resident field, at the batch for a streamed one), a
 * corrupt gzip chunk, and config errors. A loader that failed to open leaves nothing behind (the ASan build checks
 * for leaks). */
#include <stdio.h>
#include <unistd.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5
int main(void) { return LEAP_TEST_SKIP_CODE; }
#else

#include <hdf5.h>

#include "tests/data/loader_fixtures.h"

typedef struct error_case {
  const char *what, *path, *group;
  const char *datasets[2];
  leap_dtype dtype;
  int64_t window; /* > 0: token fields */
  bool nchw, normalize;
  leap_status want;
  const char *culprit; /* the dataset the message must name (with its group) */
  const char *mention; /* and something else it must say, e.g. the value at fault */
} error_case;

static const error_case k_cases[] = {
    {"missing file",
     FIX_DIR "missing.h5",
     "",
     {"image"},
     LEAP_F32,
     0,
     false,
     false,
     LEAP_ERR_IO,
     "image",
     "No such file"},
    {"not HDF5",
     "tools/make_h5_fixtures.py",
     "",
     {"image"},
     LEAP_F32,
     0,
     false,
     false,
     LEAP_ERR_FORMAT,
     "image",
     "not an HDF5"},
    {"missing group",
     FIX_LAYOUTS,
     "nope",
     {"image"},
     LEAP_F32,
     0,
     false,
     false,
     LEAP_ERR_FORMAT,
     "nope/image",
     "group 'nope'"},
    {"missing dataset",
     FIX_LAYOUTS,
     "train",
     {"nope"},
     LEAP_F32,
     0,
     false,
     false,
     LEAP_ERR_FORMAT,
     "train/nope",
     "no dataset"},
    {"missing second dataset",
     FIX_LAYOUTS,
     "/train/",
     {"image", "nope"},
     LEAP_F32,
     0,
     false,
     false,
     LEAP_ERR_FORMAT,
     "'train/nope'",
     "no dataset"},
    {"a group as a dataset",
     FIX_LAYOUTS,
     "",
     {"train"},
     LEAP_F32,
     0,
     false,
     false,
     LEAP_ERR_FORMAT,
     "'train'",
     "no dataset"},
    {"first dims differ", FIX_ERRORS, "", {"n10", "n11"}, LEAP_F32, 0, false, false, LEAP_ERR_SHAPE, "'n10'", "'n11'"},
    {"compound", FIX_ERRORS, "", {"compound"}, LEAP_F32, 0, false, false, LEAP_ERR_DTYPE, "compound", "(compound)"},
    {"fixed string", FIX_ERRORS, "", {"string"}, LEAP_F32, 0, false, false, LEAP_ERR_DTYPE, "'string'", "(string)"},
    {"variable string", FIX_ERRORS, "", {"vstring"}, LEAP_I32, 0, false, false, LEAP_ERR_DTYPE, "vstring", "(string)"},
    {"scalar", FIX_ERRORS, "", {"scalar"}, LEAP_F32, 0, false, false, LEAP_ERR_SHAPE, "'scalar'", "is a scalar"},
    {"window too long", FIX_TOKENS, "", {"short"}, LEAP_I32, 8, false, false, LEAP_ERR_SHAPE, "short", "has 5"},
    {"2-D token stream",
     FIX_LAYOUTS,
     "train",
     {"pose"},
     LEAP_I32,
     2,
     false,
     false,
     LEAP_ERR_SHAPE,
     "train/pose",
     "1-D"},
    {"i64 too big for i32",
     FIX_ERRORS,
     "",
     {"big"},
     LEAP_I32,
     0,
     false,
     false,
     LEAP_ERR_VALUE,
     "big",
     "sample 4 holds 3000000000"},
    {"negative for u8", FIX_ERRORS, "", {"neg"}, LEAP_U8, 0, false, false, LEAP_ERR_VALUE, "neg", "sample 6 holds -1"},
    {"fraction for i32",
     FIX_ERRORS,
     "",
     {"frac"},
     LEAP_I32,
     0,
     false,
     false,
     LEAP_ERR_VALUE,
     "frac",
     "sample 3 holds 2.5"},
    {"f64 too big for f32", FIX_ERRORS, "", {"huge"}, LEAP_F32, 0, false, false, LEAP_ERR_VALUE, "huge", "1e+300"},
    {"NCHW of a 1-D dataset", FIX_ERRORS, "", {"n10"}, LEAP_F32, 0, true, false, LEAP_ERR_SHAPE, "n10", "NCHW"},
    {"normalising floats",
     FIX_LAYOUTS,
     "train",
     {"pose"},
     LEAP_F32,
     0,
     false,
     true,
     LEAP_ERR_DTYPE,
     "train/pose",
     "u8"},
};

static void check_case(const error_case *ec, bool streamed) {
  int n_fields = ec->datasets[1] ? 2 : 1;
  leap_loader_config c = fix_config(ec->path, ec->group, n_fields, ec->datasets);
  for (int i = 0; i < n_fields; i++) {
    c.fields[i].dtype = ec->dtype;
    c.fields[i].kind = ec->window > 0 ? LEAP_FIELD_TOKENS : LEAP_FIELD_SAMPLES;
    c.fields[i].window = ec->window;
    c.fields[i].nchw = ec->nchw;
    c.fields[i].normalize = ec->normalize;
  }
  c.batch = 4;
  c.shuffle = false;
  c.resident_bytes = streamed ? 0 : c.resident_bytes;
  leap_loader *L = NULL;
  leap_error err = {0};
  leap_status st = leap_loader_open(&L, &c, &err);
  /* A streamed field's values are checked as its batches are made. */
  for (int b = 0; !st && b < 3; b++) {
    leap_batch batch;
    st = leap_loader_next(L, &batch, &err);
  }
  LEAP_TEST_ASSERT(st == ec->want && strstr(err.message, ec->path) && strstr(err.message, ec->culprit) &&
                       strstr(err.message, ec->mention) && !strchr(err.message, '\n'),
                   "%s (%s): want %s naming '%s', '%s' and '%s'; got %s: %s", ec->what,
                   streamed ? "streamed" : "resident", leap_status_name(ec->want), ec->path, ec->culprit, ec->mention,
                   leap_status_name(st), err.message);
  if (st && L) {
    /* The error stays: the next call reports it again. */
    leap_error again = {0};
    leap_batch batch;
    LEAP_TEST_ASSERT(leap_loader_next(L, &batch, &again) == st && !strcmp(again.message, err.message),
                     "%s: the error repeats", ec->what);
  }
  LEAP_TEST_ASSERT(ec->want != LEAP_ERR_VALUE || streamed || !L, "%s: a resident field is checked at open", ec->what);
  leap_loader_close(L);
}

static void check_config_error(const char *what, leap_loader_config c, const char *mention) {
  leap_loader *L = NULL;
  leap_error err = {0};
  leap_status st = leap_loader_open(&L, &c, &err);
  LEAP_TEST_ASSERT(st == LEAP_ERR_CONFIG && !L && strstr(err.message, mention), "%s: got %s: %s", what,
                   leap_status_name(st), err.message);
}

static void test_config_errors(void) {
  static const char *ids[1] = {"id"};
  leap_loader_config base = fix_config(FIX_IDS, "", 1, ids);
  leap_loader_config c = base;
  c.batch = 0;
  check_config_error("batch 0", c, "batch");
  c = base;
  c.rank = 3;
  c.world = 3;
  check_config_error("rank >= world", c, "rank");
  c = base;
  c.fraction = 0.0;
  check_config_error("fraction 0", c, "fraction");
  c = base;
  c.fields[0].dtype = LEAP_BF16;
  check_config_error("bf16 delivery", c, "id");
  c = base;
  c.drop_last = true;
  c.batch = 600;
  c.world = 2;
  check_config_error("a shard smaller than a batch", c, "fewer than one batch");
  c = base;
  c.fields[0].dataset = NULL;
  check_config_error("no dataset", c, "names no dataset");
}

/* A copy of ids.h5 with garbage in the middle of chunk 3 of `img`: no batch that needs it is delivered (the error
 * comes with the batch being made when the chunk is decoded, which is at or a little before the first that needs
 * it). */
static void test_corrupt_chunk(void) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/leap_test_corrupt_%d.h5", (int)getpid());
  FILE *in = fopen(FIX_IDS, "rb"), *out = fopen(path, "wb");
  char buf[4096];
  for (size_t n; in && out && (n = fread(buf, 1, sizeof buf, in)) > 0;) fwrite(buf, 1, n, out);
  if (in) fclose(in);
  if (out) fclose(out);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), dset = H5Dopen2(file, "img", H5P_DEFAULT);
  hsize_t offset[4] = {48, 0, 0, 0}, size = 0;
  haddr_t addr = HADDR_UNDEF;
  unsigned mask = 0;
  bool found = H5Dget_chunk_info_by_coord(dset, offset, &mask, &addr, &size) >= 0 && size > 16;
  LEAP_TEST_ASSERT(found && H5Dclose(dset) >= 0 && H5Fclose(file) >= 0, "locating chunk 3 of img");
  FILE *f = found ? fopen(path, "r+b") : NULL;
  if (f && fseek(f, (long)(addr + size / 2), SEEK_SET) == 0) fwrite("garbage!garbage!", 1, 16, f);
  if (f) fclose(f);
  static const char *datasets[2] = {"id", "img"};
  leap_loader_config c = fix_config(path, "", 2, datasets);
  c.shuffle = false;
  c.batch = 16;
  c.resident_bytes = 0;
  leap_loader *L = NULL;
  leap_error err = {0};
  leap_status st = leap_loader_open(&L, &c, &err);
  /* Bounded, so that a loader that never reports the error fails the test instead of hanging it. */
  int64_t good = 0, max_batches = 2 * FIX_IDS_N / 16;
  for (leap_batch batch; !st && good < max_batches && (st = leap_loader_next(L, &batch, &err)) == LEAP_OK;) good++;
  LEAP_TEST_ASSERT(st == LEAP_ERR_FORMAT && good >= 1 && good <= 3 && strstr(err.message, path) && strstr(err.message, "'img'") &&
                       strstr(err.message, "chunk 3") && strstr(err.message, "corrupt"),
                   "a corrupt chunk: %lld good batches, then %s: %s", (long long)good, leap_status_name(st),
                   err.message);
  /* The chunk's block must not count as decoded (the field is cached): after a seek it fails again. */
  leap_error again = {0};
  int64_t good_again = 0;
  st = L ? leap_loader_seek(L, 0, 0, &again) : LEAP_ERR_IO;
  for (leap_batch batch; !st && good_again < max_batches && (st = leap_loader_next(L, &batch, &again)) == LEAP_OK;)
    good_again++;
  LEAP_TEST_ASSERT(st == LEAP_ERR_FORMAT && good_again == good && !strcmp(again.message, err.message),
                   "after a seek, the corrupt chunk fails the same way: %lld good batches, %s", (long long)good_again,
                   again.message);
  leap_loader_close(L);
  unlink(path);
}

int main(void) {
  test_corrupt_chunk();
  for (size_t k = 0; k < sizeof k_cases / sizeof k_cases[0]; k++)
    for (int streamed = 0; streamed < 2; streamed++) check_case(&k_cases[k], streamed);
  test_config_errors();
  return leap_test_finish();
}

#endif
