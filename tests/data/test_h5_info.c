/* `leap data info`'s listing (leap_h5_info_print): every group and dataset of the fixtures with shape, dtype,
 * layout and filters; attributes (strings, numbers, arrays, long values cut) of a file made here; errors for a
 * missing file and a file that is not HDF5, naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5
int main(void) { return LEAP_TEST_SKIP_CODE; }
#else

#include <hdf5.h>

#include "data/hdf5/h5_info.h"

/* The listing of path, in a malloc'd string (NULL on an error, err set). */
static char *listing(const char *path, leap_error *err) {
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  leap_status st = leap_h5_info_print(path, out, err);
  fclose(out);
  if (st) {
    free(text);
    return NULL;
  }
  return text;
}

/* Whether the listing has a line that starts with `start` and contains `rest`. */
static bool has_line(const char *text, const char *start, const char *rest) {
  for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    size_t len = strcspn(line, "\n");
    if (strncmp(line, start, strlen(start)) != 0) continue;
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)len, line);
    if (strstr(buf, rest)) return true;
  }
  return false;
}

static void test_fixtures(void) {
  static const struct {
    const char *file, *start, *rest;
  } lines[] = {
      {"layouts.h5", "/train ", "group"},
      {"layouts.h5", "/train/image ", "(50,6,5,3) u8  chunked (8,6,5,3)  gzip(4)"},
      {"layouts.h5", "/train/image_shuf ", "chunked (8,6,5,3)  shuffle gzip(4)"},
      {"layouts.h5", "/train/image_contig ", "(50,6,5,3) u8  contiguous"},
      {"layouts.h5", "/train/image_plain ", "chunked (8,6,5,3)"},
      {"layouts.h5", "/train/label ", "(50,) i64  contiguous"},
      {"layouts.h5", "/train/be_f32 ", "f32 big-endian"},
      {"layouts.h5", "/val/pose ", "(13,3) f64  chunked (7,3)  shuffle gzip(4)"},
      {"layouts.h5", " ", "@made_by = \"tools/make_h5_fixtures.py\""},
      {"dtypes.h5", "/f16 ", "(37,5) f16"},
      {"dtypes.h5", "/bool ", "enum(i8)"},
      {"dtypes.h5", "/u64 ", "u64"},
      {"errors.h5", "/compound ", "compound(2 fields)"},
      {"errors.h5", "/string ", "string(8 bytes)"},
      {"errors.h5", "/vstring ", "string(variable)"},
      {"errors.h5", "/scalar ", "scalar f32"},
  };
  for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/h5/%s", lines[k].file);
    leap_error err = {0};
    char *text = listing(path, &err);
    LEAP_TEST_ASSERT(text && has_line(text, lines[k].start, lines[k].rest), "%s: a line '%s...%s'%s%s", path,
                     lines[k].start, lines[k].rest, text ? "" : ": ", text ? "" : err.message);
    free(text);
  }
}

static bool write_attr(hid_t loc, const char *name, hid_t type, int n, const void *data) {
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
  hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  bool ok = space >= 0 && attr >= 0 && H5Awrite(attr, type, data) >= 0;
  ok &= H5Aclose(attr) >= 0 && H5Sclose(space) >= 0;
  return ok;
}

/* A file with attributes of each kind on the root and on a group. */
static bool make_attr_file(const char *path) {
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t group = file < 0 ? -1 : H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t vstr = H5Tcopy(H5T_C_S1), fstr = H5Tcopy(H5T_C_S1);
  bool ok = group >= 0 && vstr >= 0 && fstr >= 0 && H5Tset_size(vstr, H5T_VARIABLE) >= 0 && H5Tset_size(fstr, 6) >= 0;
  int64_t version = 3, seed = -42;
  double sizes[10] = {0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const char *generator = "robot",
             *vocab = "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 ! ?";
  const char *multi[2] = {"x", "y"};
  ok = ok && write_attr(file, "generator", vstr, 1, &generator) &&
       write_attr(file, "version", H5T_NATIVE_INT64, 1, &version);
  ok = ok && write_attr(file, "sizes", H5T_NATIVE_DOUBLE, 10, sizes) && write_attr(file, "vocab", vstr, 1, &vocab);
  ok = ok && write_attr(group, "seed", H5T_NATIVE_INT64, 1, &seed) && write_attr(group, "names", vstr, 2, multi);
  ok = ok && write_attr(group, "split", fstr, 1, "train");
  ok &= H5Tclose(vstr) >= 0 && H5Tclose(fstr) >= 0 && H5Gclose(group) >= 0 && H5Fclose(file) >= 0;
  return ok;
}

static void test_attributes(void) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/leap_test_h5_info_%d.h5", (int)getpid());
  if (!LEAP_TEST_ASSERT(make_attr_file(path), "making %s", path)) return;
  leap_error err = {0};
  char *text = listing(path, &err);
  LEAP_TEST_ASSERT(text != NULL, "%s", err.message);
  if (text) {
    LEAP_TEST_ASSERT(strstr(text, "@generator = \"robot\"\n") && strstr(text, "@version = 3\n"), "%s", text);
    LEAP_TEST_ASSERT(strstr(text, "@sizes = [0.5, 1, 2, 3, 4, 5, 6, 7, ... (10 values)]"), "numbers cut: %s", text);
    LEAP_TEST_ASSERT(strstr(text, "@vocab = \"a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 \"...\n"),
                     "a long string is cut: %s", text);
    LEAP_TEST_ASSERT(strstr(text, "@seed = -42\n") && strstr(text, "@names = (2 strings)") &&
                         strstr(text, "@split = \"train\"\n"),
                     "group attributes: %s", text);
  }
  free(text);
  unlink(path);
}

static void test_errors(void) {
  leap_error err = {0};
  char *text = listing("tests/fixtures/h5/missing.h5", &err);
  LEAP_TEST_ASSERT(!text && err.status == LEAP_ERR_IO && strstr(err.message, "missing.h5"), "missing file: %s",
                   err.message);
  leap_error_clear(&err);
  text = listing("tools/make_h5_fixtures.py", &err);
  LEAP_TEST_ASSERT(!text && err.status == LEAP_ERR_FORMAT && strstr(err.message, "make_h5_fixtures.py"), "not HDF5: %s",
                   err.message);
}

int main(void) {
  test_fixtures();
  test_attributes();
  test_errors();
  return leap_test_finish();
}

#endif
