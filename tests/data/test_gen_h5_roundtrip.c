/* The generators' files read back with the HDF5 C API: groups, shapes, types, chunking, the gzip filter, the
 * attributes (generator, version, seed, parameters, vocabularies), and exactly the values the in-memory generators
 * give. Also the writer itself: the parallel whole-chunk path and HDF5's own path agree, nothing is left behind by
 * a failed or abandoned write, an old file survives until the new one is complete, and a file is byte-identical
 * when written twice. Built only with HDF5; otherwise it reports a skip. */
#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5

int main(void) { return LEAP_TEST_SKIP_CODE; }

#else

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/gen_robot.h"
#include "data/gen_speech.h"
#include "data/gen_vqa.h"
#include "data/hdf5/gen_write.h"
#include "data/hdf5/h5_write.h"

static char g_dir[64];

static const char *in_dir(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "%s/%s", g_dir, name);
  return buf;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- Reading helpers ------------------------------------------------------------------------------------------- */

/* A string attribute as a malloc'd copy ("" if absent or not a string). */
static char *read_string_attr(hid_t file, const char *object, const char *name) {
  char *copy = calloc(1, 1);
  hid_t a = H5Aopen_by_name(file, object, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) return copy;
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  char *value = NULL;
  if (H5Aread(a, type, &value) >= 0 && value) {
    free(copy);
    copy = strdup(value);
    H5free_memory(value);
  }
  H5Tclose(type);
  H5Aclose(a);
  return copy;
}

static bool string_attr_is(hid_t file, const char *object, const char *name, const char *want) {
  char *got = read_string_attr(file, object, name);
  bool same = !strcmp(got, want);
  if (!same) printf("  attribute %s@%s is '%s', want '%s'\n", object, name, got, want);
  free(got);
  return same;
}

static int64_t read_int_attr(hid_t file, const char *object, const char *name) {
  int64_t v = -1;
  hid_t a = H5Aopen_by_name(file, object, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0) v = -1;
    H5Aclose(a);
  }
  return v;
}

/* Checks a dataset's shape, element type, chunk shape (chunk_rows by the rest; a dataset shorter than that has one
 * chunk of its own length) and gzip level. */
static void check_layout(hid_t file, const char *name, int rank, const int64_t *dims, H5T_class_t cls, size_t size,
                         int64_t chunk_rows, unsigned gzip) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (!LEAP_TEST_ASSERT(d >= 0, "dataset %s missing", name)) return;
  hid_t space = H5Dget_space(d), type = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
  hsize_t got[8] = {0}, chunk[8] = {0};
  int r = H5Sget_simple_extent_dims(space, got, NULL);
  bool shape_ok = r == rank;
  for (int k = 0; k < rank && shape_ok; k++) shape_ok = got[k] == (hsize_t)dims[k];
  LEAP_TEST_ASSERT(shape_ok, "%s has the wrong shape (rank %d, first dim %llu)", name, r, (unsigned long long)got[0]);
  LEAP_TEST_ASSERT(H5Tget_class(type) == cls && H5Tget_size(type) == size, "%s has the wrong type", name);
  LEAP_TEST_ASSERT(H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 8, chunk) == rank, "%s is not chunked",
                   name);
  bool chunk_ok = chunk[0] == (hsize_t)(chunk_rows < dims[0] ? chunk_rows : dims[0]);
  for (int k = 1; k < rank; k++) chunk_ok = chunk_ok && chunk[k] == (hsize_t)dims[k];
  LEAP_TEST_ASSERT(chunk_ok, "%s chunks are (%llu, ...), want (%lld, whole rows)", name, (unsigned long long)chunk[0],
                   (long long)chunk_rows);
  unsigned flags, cd[4] = {0}, filter_config;
  size_t n_cd = 4;
  int n_filters = H5Pget_nfilters(dcpl);
  H5Z_filter_t f = n_filters == 1 ? H5Pget_filter2(dcpl, 0, &flags, &n_cd, cd, 0, NULL, &filter_config) : -1;
  LEAP_TEST_ASSERT(n_filters == 1 && f == H5Z_FILTER_DEFLATE && cd[0] == gzip, "%s: %d filters, want gzip(%u)", name,
                   n_filters, gzip);
  char *description = read_string_attr(file, name, "description");
  LEAP_TEST_ASSERT(description[0] != '\0', "%s has no description", name);
  free(description);
  H5Pclose(dcpl), H5Tclose(type), H5Sclose(space), H5Dclose(d);
}

static bool read_all(hid_t file, const char *name, hid_t mtype, void *out) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  bool ok = d >= 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
  if (d >= 0) H5Dclose(d);
  return ok;
}

/* ---- The robot file -------------------------------------------------------------------------------------------- */

static void check_robot_split(hid_t file, leap_split split, int64_t n, uint64_t seed) {
  char name[64];
  const char *g = leap_split_name(split);
  LEAP_TEST_ASSERT(string_attr_is(file, g, "split", g) && read_int_attr(file, g, "n") == n, "group %s attributes", g);
  int64_t idims[4] = {n, 64, 64, 3}, ldims[2] = {n, 4};
  snprintf(name, sizeof name, "%s/image", g);
  check_layout(file, name, 4, idims, H5T_INTEGER, 1, LEAP_GEN_CHUNK_ROWS, LEAP_GEN_GZIP_LEVEL);
  uint8_t *got = malloc((size_t)n * LEAP_ROBOT_IMAGE_BYTES), *want = malloc((size_t)n * LEAP_ROBOT_IMAGE_BYTES);
  float *gp = malloc(sizeof(float) * 8 * n), *wp = malloc(sizeof(float) * 8 * n);
  leap_robot_generate(want, wp, wp + 4 * n, seed, split, 0, n);
  LEAP_TEST_ASSERT(read_all(file, name, H5T_NATIVE_UINT8, got) &&
                       !memcmp(got, want, (size_t)n * LEAP_ROBOT_IMAGE_BYTES),
                   "%s differs from the generator", name);
  snprintf(name, sizeof name, "%s/pose", g);
  check_layout(file, name, 2, ldims, H5T_FLOAT, 4, LEAP_GEN_CHUNK_ROWS, LEAP_GEN_GZIP_LEVEL);
  LEAP_TEST_ASSERT(read_all(file, name, H5T_NATIVE_FLOAT, gp) && !memcmp(gp, wp, sizeof(float) * 4 * n), "%s values",
                   name);
  snprintf(name, sizeof name, "%s/joints", g);
  check_layout(file, name, 2, ldims, H5T_FLOAT, 4, LEAP_GEN_CHUNK_ROWS, LEAP_GEN_GZIP_LEVEL);
  LEAP_TEST_ASSERT(read_all(file, name, H5T_NATIVE_FLOAT, gp + 4 * n) &&
                       !memcmp(gp + 4 * n, wp + 4 * n, sizeof(float) * 4 * n),
                   "%s values", name);
  free(got), free(want), free(gp), free(wp);
}

static void check_robot(void) {
  char path[128], tmp[140];
  in_dir(path, sizeof path, "robot.h5");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  /* 130 = two whole chunks and a short edge chunk; 64 = one chunk exactly; 7 = one short chunk. */
  leap_gen_options o = {"robot", path, 130, 7, 64, 42};
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_gen_write(&o, &err) == LEAP_OK, "writing robot: %s", err.message)) return;
  LEAP_TEST_ASSERT(exists(path) && !exists(tmp), "the file is not (only) at its final path");
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (!LEAP_TEST_ASSERT(file >= 0, "cannot open %s", path)) return;
  LEAP_TEST_ASSERT(string_attr_is(file, "/", "generator", "robot"), "generator attribute");
  LEAP_TEST_ASSERT(read_int_attr(file, "/", "generator_version") == LEAP_ROBOT_VERSION, "generator_version attribute");
  LEAP_TEST_ASSERT(read_int_attr(file, "/", "seed") == 42 && read_int_attr(file, "/", "n_train") == 130 &&
                       read_int_attr(file, "/", "n_val") == 7 && read_int_attr(file, "/", "n_test") == 64,
                   "seed and sizes attributes");
  char *params = read_string_attr(file, "/", "parameters");
  LEAP_TEST_ASSERT(strstr(params, "\"links\": [30, 26]") && strstr(params, "\"arm_base\": [32, 66]"),
                   "parameters attribute: %s", params);
  free(params);
  check_robot_split(file, LEAP_SPLIT_TRAIN, 130, 42);
  check_robot_split(file, LEAP_SPLIT_VAL, 7, 42);
  check_robot_split(file, LEAP_SPLIT_TEST, 64, 42);
  H5Fclose(file);
}

/* ---- The text tasks' vocabularies and values ------------------------------------------------------------------- */

/* Line i of a newline-joined attribute must be name(i), for every i < n and no more. */
static bool lines_are(hid_t file, const char *attr, const char *(*name)(int), int n) {
  char *s = read_string_attr(file, "/", attr), *save = NULL;
  int i = 0;
  bool ok = true;
  for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++)
    ok = ok && i < n && !strcmp(line, name(i));
  free(s);
  return ok && i == n;
}

static void check_vqa(void) {
  char path[128];
  in_dir(path, sizeof path, "vqa.h5");
  leap_gen_options o = {"vqa", path, 70, 3, 3, 5};
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_gen_write(&o, &err) == LEAP_OK, "writing vqa: %s", err.message)) return;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  LEAP_TEST_ASSERT(lines_are(file, "vocab", leap_vqa_word, leap_vqa_vocab_size()), "vqa vocab attribute");
  LEAP_TEST_ASSERT(read_int_attr(file, "/", "vocab_size") == leap_vqa_vocab_size(), "vqa vocab_size attribute");
  int64_t qdims[2] = {70, LEAP_VQA_QUESTION_LEN}, ldims[1] = {70};
  check_layout(file, "train/question", 2, qdims, H5T_INTEGER, 4, LEAP_GEN_CHUNK_ROWS, LEAP_GEN_GZIP_LEVEL);
  check_layout(file, "train/answer_len", 1, ldims, H5T_INTEGER, 4, LEAP_GEN_CHUNK_ROWS, LEAP_GEN_GZIP_LEVEL);
  int32_t got[70 * LEAP_VQA_SCENE_LEN], want[70 * LEAP_VQA_SCENE_LEN];
  leap_vqa_generate(NULL, NULL, NULL, NULL, NULL, want, NULL, 5, LEAP_SPLIT_TRAIN, 0, 70);
  LEAP_TEST_ASSERT(read_all(file, "train/scene", H5T_NATIVE_INT32, got) && !memcmp(got, want, sizeof got),
                   "train/scene differs from the generator");
  H5Fclose(file);
}

static void check_speech(void) {
  char path[128];
  in_dir(path, sizeof path, "speech.h5");
  leap_gen_options o = {"speech", path, 10, 2, 2, 6};
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_gen_write(&o, &err) == LEAP_OK, "writing speech: %s", err.message)) return;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  LEAP_TEST_ASSERT(lines_are(file, "src_vocab", leap_speech_src_word, LEAP_SPEECH_TEXT_VOCAB) &&
                       lines_are(file, "tgt_vocab", leap_speech_tgt_word, LEAP_SPEECH_TEXT_VOCAB) &&
                       lines_are(file, "unit_vocab", leap_speech_unit_name, LEAP_SPEECH_UNIT_VOCAB),
                   "speech vocabulary attributes");
  char *lexicon = read_string_attr(file, "/", "tgt_lexicon");
  LEAP_TEST_ASSERT(!strncmp(lexicon, "faro f a r o\nfevaru f e v a r u\n", 32), "tgt_lexicon starts '%.32s'", lexicon);
  free(lexicon);
  float patterns[LEAP_SPEECH_UNIT_VOCAB * LEAP_SPEECH_BANDS], want[LEAP_SPEECH_BANDS];
  hid_t a = H5Aopen_by_name(file, "/", "unit_patterns", H5P_DEFAULT, H5P_DEFAULT);
  LEAP_TEST_ASSERT(a >= 0 && H5Aread(a, H5T_NATIVE_FLOAT, patterns) >= 0, "unit_patterns attribute");
  if (a >= 0) H5Aclose(a);
  leap_speech_unit_pattern(want, 9);
  LEAP_TEST_ASSERT(!memcmp(patterns + 9 * LEAP_SPEECH_BANDS, want, sizeof want), "unit_patterns row 9");
  int64_t fdims[3] = {10, LEAP_SPEECH_MAX_FRAMES, LEAP_SPEECH_BANDS};
  check_layout(file, "train/src_frames", 3, fdims, H5T_FLOAT, 4, LEAP_GEN_CHUNK_ROWS, LEAP_GEN_GZIP_LEVEL);
  static float got[10 * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS],
      frames[10 * LEAP_SPEECH_MAX_FRAMES * LEAP_SPEECH_BANDS];
  leap_speech_fields f = {.src_frames = frames};
  leap_speech_generate(&f, 6, LEAP_SPLIT_TRAIN, 0, 10);
  LEAP_TEST_ASSERT(read_all(file, "train/src_frames", H5T_NATIVE_FLOAT, got) && !memcmp(got, frames, sizeof got),
                   "train/src_frames differs from the generator");
  H5Fclose(file);
}

/* ---- Text streams ---------------------------------------------------------------------------------------------- */

static void write_bytes(const char *path, const uint8_t *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(bytes, 1, n, f);
  fclose(f);
}

static void check_text(void) {
  enum { A = 200000, B = 1234 };
  static uint8_t bytes[A + B], got[A + B];
  for (int i = 0; i < A + B; i++) bytes[i] = (uint8_t)((i * 7919u) >> 3);
  char a[128], b[128], path[128], missing[128];
  write_bytes(in_dir(a, sizeof a, "a.txt"), bytes, A);
  write_bytes(in_dir(b, sizeof b, "b.txt"), bytes + A, B);
  in_dir(path, sizeof path, "text.h5");
  const char *inputs[2] = {a, b};
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_gen_write_text(path, inputs, 2, 0.25, &err) == LEAP_OK, "text: %s", err.message)) return;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  int64_t n_val = (A + B) / 4, n_train = A + B - n_val;
  LEAP_TEST_ASSERT(read_int_attr(file, "/", "n_train") == n_train && read_int_attr(file, "/", "vocab_size") == 256,
                   "text attributes");
  LEAP_TEST_ASSERT(string_attr_is(file, "/", "generator", "text"), "text generator attribute");
  int64_t tdims[1] = {n_train}, vdims[1] = {n_val};
  check_layout(file, "train/tokens", 1, tdims, H5T_INTEGER, 1, LEAP_GEN_TEXT_CHUNK, LEAP_GEN_GZIP_LEVEL);
  check_layout(file, "val/tokens", 1, vdims, H5T_INTEGER, 1, LEAP_GEN_TEXT_CHUNK, LEAP_GEN_GZIP_LEVEL);
  LEAP_TEST_ASSERT(read_all(file, "train/tokens", H5T_NATIVE_UINT8, got) &&
                       read_all(file, "val/tokens", H5T_NATIVE_UINT8, got + n_train) && !memcmp(got, bytes, sizeof got),
                   "the token streams are not the files' bytes");
  H5Fclose(file);
  const char *bad[2] = {a, in_dir(missing, sizeof missing, "missing.txt")};
  char other[128];
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_gen_write_text(in_dir(other, sizeof other, "bad.h5"), bad, 2, 0.1, &err) == LEAP_ERR_IO &&
                       strstr(err.message, "missing.txt") && !exists(other),
                   "a missing input: '%s'", err.message);
}

/* ---- The writer ------------------------------------------------------------------------------------------------ */

/* Rows written in odd pieces (HDF5's own filter path) and in whole chunks (the parallel path) read back the same. */
static void check_writer_paths(void) {
  char path[128];
  in_dir(path, sizeof path, "paths.h5");
  enum { N = 150, W = 5 };
  static int32_t data[N * W], got[N * W];
  for (int i = 0; i < N * W; i++) data[i] = i * 37 - 1000;
  leap_h5w w;
  leap_h5w_dataset odd, whole, plain;
  leap_error err = {0};
  int64_t dims[2] = {N, W};
  bool ok =
      !leap_h5w_create(&w, path, &err) &&
      !leap_h5w_dataset_create(&odd, &w, "odd", LEAP_H5W_I32, 2, dims, 32, 6, &err) &&
      !leap_h5w_dataset_create(&whole, &w, "whole", LEAP_H5W_I32, 2, dims, 32, 6, &err) &&
      !leap_h5w_dataset_create(&plain, &w, "plain", LEAP_H5W_I32, 2, dims, 32, 0, &err) &&
      !leap_h5w_dataset_write(&odd, 0, 3, data, &err) && !leap_h5w_dataset_write(&odd, 3, 100, data + 3 * W, &err) &&
      !leap_h5w_dataset_write(&odd, 103, 47, data + 103 * W, &err) &&
      !leap_h5w_dataset_write(&whole, 0, 64, data, &err) &&
      !leap_h5w_dataset_write(&whole, 64, 86, data + 64 * W, &err) &&
      !leap_h5w_dataset_write(&plain, 0, N, data, &err) && !leap_h5w_dataset_close(&odd, &err) &&
      !leap_h5w_dataset_close(&whole, &err) && !leap_h5w_dataset_close(&plain, &err) && !leap_h5w_commit(&w, &err);
  if (!LEAP_TEST_ASSERT(ok, "writing %s: %s", path, err.message)) return;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  const char *names[3] = {"odd", "whole", "plain"};
  for (int k = 0; k < 3; k++) {
    memset(got, 0, sizeof got);
    LEAP_TEST_ASSERT(read_all(file, names[k], H5T_NATIVE_INT32, got) && !memcmp(got, data, sizeof got), "%s rows",
                     names[k]);
  }
  H5Fclose(file);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_h5w_create(&w, path, &err) == LEAP_OK, "reopen");
  LEAP_TEST_ASSERT(leap_h5w_dataset_create(&odd, &w, "x", LEAP_H5W_U8, 1, dims, 8, 1, &err) == LEAP_OK &&
                       leap_h5w_dataset_write(&odd, 140, 20, data, &err) == LEAP_ERR_VALUE &&
                       strstr(err.message, "'x'"),
                   "writing past the end: '%s'", err.message);
  leap_h5w_dataset_close(&odd, &err);
  leap_h5w_abandon(&w);
}

static bool same_files(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  bool same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    same = ca == cb;
    if (ca == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

/* An abandoned or failed write leaves the old file as it was and no temporary file; a repeat write is identical. */
static void check_crash_safety(void) {
  char path[128], tmp[140], copy[128];
  in_dir(path, sizeof path, "robot.h5");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  in_dir(copy, sizeof copy, "robot_again.h5");
  leap_gen_options o = {"robot", copy, 130, 7, 64, 42};
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_gen_write(&o, &err) == LEAP_OK && same_files(path, copy), "a second write is not identical");
  leap_h5w w;
  LEAP_TEST_ASSERT(leap_h5w_create(&w, path, &err) == LEAP_OK && exists(tmp), "no temporary file while writing");
  leap_h5w_abandon(&w);
  LEAP_TEST_ASSERT(!exists(tmp) && same_files(path, copy), "an abandoned write touched the old file");
  o.path = "/nonexistent-leap-dir/robot.h5";
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_gen_write(&o, &err) == LEAP_ERR_IO && strstr(err.message, "/nonexistent-leap-dir/robot.h5"),
                   "an unwritable path: '%s'", err.message);
  o.task = "robots", o.path = copy;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_gen_write(&o, &err) == LEAP_ERR_VALUE && strstr(err.message, "robots") &&
                       same_files(path, copy),
                   "an unknown task: '%s'", err.message);
}

static void remove_dir(void) {
  const char *names[] = {"robot.h5", "robot_again.h5", "vqa.h5", "speech.h5", "text.h5", "paths.h5", "a.txt", "b.txt"};
  char path[128];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) remove(in_dir(path, sizeof path, names[i]));
  rmdir(g_dir);
}

int main(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  snprintf(g_dir, sizeof g_dir, "/tmp/leap_gen_h5_XXXXXX");
  if (!mkdtemp(g_dir)) return printf("cannot make a temporary folder\n"), 1;
  check_robot();
  check_vqa();
  check_speech();
  check_text();
  check_writer_paths();
  check_crash_safety();
  remove_dir();
  return leap_test_finish();
}

#endif
