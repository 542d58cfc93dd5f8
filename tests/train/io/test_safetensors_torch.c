/* The safetensors reader and writer: a round trip through leap's writer, a file written by Python
 * (tests/fixtures/io_python.safetensors, from tools/make_fixtures.py), a table of malformed files that must fail
 * with a message naming the file and tensor, and the writer's atomicity (no temporary file left behind, an
 * existing file untouched by a failed write). */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/common/leap_test.h"
#include "train/io/safetensors.h"

#define PY_FIXTURE "tests/fixtures/io_python.safetensors"

static char g_dir[64];

static void path_in_dir(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", g_dir, name); }

/* Names of the entries in g_dir, other than . and .., joined with spaces. */
static int list_dir(char *buf, size_t size) {
  DIR *d = opendir(g_dir);
  int n = 0;
  buf[0] = '\0';
  for (struct dirent *e; d && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, "%s%s", n ? " " : "", e->d_name);
    n++;
  }
  if (d) closedir(d);
  return n;
}

static void remove_dir_contents(const char *dir) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      remove_dir_contents(path);
      rmdir(path);
    } else {
      unlink(path);
    }
  }
  if (d) closedir(d);
}

/* Writes a hand-made file: the 8-byte length (header_len, or strlen(header) when negative), the header, and
 * data_len bytes of data (a counting pattern). */
static void write_raw(const char *path, const char *header, long long header_len, size_t data_len) {
  FILE *f = fopen(path, "wb");
  uint64_t n = header_len < 0 ? strlen(header) : (uint64_t)header_len;
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
  fwrite(len, 1, 8, f);
  fwrite(header, 1, strlen(header), f);
  for (size_t i = 0; i < data_len; i++) fputc((int)(i & 0xff), f);
  fclose(f);
}

/* ------------------------------------------------------------------------------------------------------------ */

static void test_round_trip(void) {
  char path[128], listing[512];
  path_in_dir(path, sizeof path, "round.safetensors");
  float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  int32_t ids[5] = {7, -1, 2147483647, -2147483647 - 1, 0};
  uint8_t img[2 * 2 * 3] = {0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 128, 64};
  uint16_t bf16[3] = {0x3f80, 0xc020, 0x7f80}; /* 1.0, -2.5, +inf */
  int64_t big[2] = {3, -4};
  float scalar = 42.0f;
  leap_st_entry tensors[] = {
      {"layer.weight", LEAP_ST_F32, 2, {2, 3}, w},  {"ids", LEAP_ST_I32, 1, {5}, ids},
      {"img", LEAP_ST_U8, 3, {2, 2, 3}, img},       {"half", LEAP_ST_BF16, 1, {3}, bf16},
      {"big", LEAP_ST_I64, 2, {1, 2}, big},         {"empty", LEAP_ST_F64, 2, {0, 4}, NULL},
      {"scalar", LEAP_ST_F32, 0, {0}, &scalar},     {"null", LEAP_ST_F32, 1, {1}, &scalar},
  };
  leap_st_meta meta[] = {{"format", "pt"}, {"step", "12"}, {"flag", "true"}, {"quote", "say \"hi\"\n\\ \xc3\xa9"}};
  leap_error err;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(path, tensors, 8, meta, 4, &err) == LEAP_OK, "write: %s", err.message);
  LEAP_TEST_ASSERT(list_dir(listing, sizeof listing) == 1, "directory holds '%s'", listing);

  leap_st_reader *r = NULL;
  LEAP_TEST_ASSERT(leap_st_open(&r, path, &err) == LEAP_OK, "open: %s", err.message);
  if (!r) return;
  LEAP_TEST_ASSERT(leap_st_count(r) == 8, "count %lld", (long long)leap_st_count(r));
  const char *sorted[] = {"big", "empty", "half", "ids", "img", "layer.weight", "null", "scalar"};
  for (int i = 0; i < 8 && i < leap_st_count(r); i++)
    LEAP_TEST_ASSERT(strcmp(leap_st_tensor_at(r, i)->name, sorted[i]) == 0, "tensor %d is '%s'", i,
                     leap_st_tensor_at(r, i)->name);
  const leap_st_tensor_info *t = leap_st_find(r, "img");
  LEAP_TEST_ASSERT(t && t->dtype == LEAP_ST_U8 && t->ndim == 3 && t->shape[2] == 3 && t->numel == 12, "img info");
  t = leap_st_find(r, "scalar");
  LEAP_TEST_ASSERT(t && t->ndim == 0 && t->numel == 1, "scalar info");
  LEAP_TEST_ASSERT(leap_st_find(r, "nope") == NULL, "missing tensor found");

  float wr[6], hr[3], sr;
  int32_t ir[5], br[2];
  uint8_t imgr[12];
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "layer.weight", wr, 6, &err) == LEAP_OK, "%s", err.message);
  LEAP_TEST_ASSERT(memcmp(wr, w, sizeof w) == 0, "f32 values differ");
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "ids", ir, 5, &err) == LEAP_OK && memcmp(ir, ids, sizeof ids) == 0, "ids");
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "big", br, 2, &err) == LEAP_OK && br[0] == 3 && br[1] == -4, "i64 to i32");
  LEAP_TEST_ASSERT(leap_st_read_raw(r, "img", LEAP_ST_U8, imgr, 12, &err) == LEAP_OK && !memcmp(imgr, img, 12), "u8");
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "half", hr, 3, &err) == LEAP_OK && hr[0] == 1.0f && hr[1] == -2.5f &&
                       isinf(hr[2]) && hr[2] > 0,
                   "bf16 read as %g %g %g", hr[0], hr[1], hr[2]);
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "scalar", &sr, 1, &err) == LEAP_OK && sr == 42.0f, "scalar");
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "empty", NULL, 0, &err) == LEAP_OK, "empty: %s", err.message);

  LEAP_TEST_ASSERT(leap_st_metadata_count(r) == 4, "metadata count %lld", (long long)leap_st_metadata_count(r));
  for (int i = 0; i < 4; i++) {
    const char *v = leap_st_metadata(r, meta[i].key);
    LEAP_TEST_ASSERT(v && strcmp(v, meta[i].value) == 0, "metadata '%s' = '%s'", meta[i].key, v ? v : "(none)");
  }
  LEAP_TEST_ASSERT(leap_st_metadata(r, "absent") == NULL, "absent metadata found");
  leap_st_close(r);
}

/* The writer must reject bad input before creating anything, and a failed write must leave an existing file as it
 * was, with no temporary file beside it. */
static void test_writer_failures(void) {
  char path[128], listing[512];
  path_in_dir(path, sizeof path, "keep.safetensors");
  float a = 1.0f, b = 2.0f;
  leap_st_entry one = {"x", LEAP_ST_F32, 1, {1}, &a};
  leap_error err;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(path, &one, 1, NULL, 0, &err) == LEAP_OK, "write: %s", err.message);

  leap_st_entry dup[2] = {{"x", LEAP_ST_F32, 1, {1}, &b}, {"x", LEAP_ST_F32, 1, {1}, &b}};
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(path, dup, 2, NULL, 0, &err) == LEAP_ERR_VALUE &&
                       strstr(err.message, "'x' is given twice"),
                   "duplicate names: %s", err.message);
  leap_st_entry reserved = {"__metadata__", LEAP_ST_F32, 1, {1}, &b};
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(path, &reserved, 1, NULL, 0, &err) == LEAP_ERR_VALUE, "reserved name accepted");
  leap_st_entry negative = {"y", LEAP_ST_F32, 1, {-1}, &b};
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(path, &negative, 1, NULL, 0, &err) == LEAP_ERR_SHAPE, "negative shape accepted");

  /* A directory in the way of the final name makes the rename fail after the data was written. */
  char blocked[128];
  path_in_dir(blocked, sizeof blocked, "blocked.safetensors");
  mkdir(blocked, 0755);
  char inner[160];
  snprintf(inner, sizeof inner, "%s/occupant", blocked);
  FILE *f = fopen(inner, "w");
  if (f) fclose(f);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(blocked, &one, 1, NULL, 0, &err) == LEAP_ERR_IO && strstr(err.message, blocked),
                   "rename over a directory: %s", err.message);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write("/nonexistent-dir/x.safetensors", &one, 1, NULL, 0, &err) == LEAP_ERR_IO &&
                       strstr(err.message, "/nonexistent-dir/x.safetensors"),
                   "missing directory: %s", err.message);
  int n = list_dir(listing, sizeof listing);
  LEAP_TEST_ASSERT(n == 2, "directory holds '%s' (a temporary file left behind?)", listing);

  leap_st_reader *r = NULL;
  float got = 0;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_open(&r, path, &err) == LEAP_OK && leap_st_read_f32(r, "x", &got, 1, &err) == LEAP_OK &&
                       got == 1.0f,
                   "the first file changed: %s", err.message);
  leap_st_close(r);
  /* Overwriting replaces the contents. */
  LEAP_TEST_ASSERT(leap_st_write(path, &(leap_st_entry){"x", LEAP_ST_F32, 1, {1}, &b}, 1, NULL, 0, &err) == LEAP_OK,
                   "overwrite: %s", err.message);
  r = NULL;
  LEAP_TEST_ASSERT(leap_st_open(&r, path, &err) == LEAP_OK && leap_st_read_f32(r, "x", &got, 1, &err) == LEAP_OK &&
                       got == 2.0f,
                   "overwrite not visible: %s", err.message);
  leap_st_close(r);
  LEAP_TEST_ASSERT(list_dir(listing, sizeof listing) == 2, "directory holds '%s'", listing);
  unlink(path);
}

/* ------------------------------------------------------------------------------------------------------------ */

static void test_python_file(void) {
  leap_st_reader *r = NULL;
  leap_error err;
  leap_error_clear(&err);
  if (!LEAP_TEST_ASSERT(leap_st_open(&r, PY_FIXTURE, &err) == LEAP_OK, "open: %s", err.message)) return;
  float f32[6], want[8], got[8];
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "f32", f32, 6, &err) == LEAP_OK, "%s", err.message);
  for (int i = 0; i < 6; i++) LEAP_TEST_ASSERT(f32[i] == 0.5f * (float)i - 1.0f, "f32[%d] = %g", i, f32[i]);
  static const struct {
    const char *name, *expect;
    int n;
  } conversions[] = {{"f64", "f64_expect", 5}, {"f16", "f16_expect", 7}, {"bf16", "bf16_expect", 6}};
  for (size_t c = 0; c < sizeof conversions / sizeof conversions[0]; c++) {
    int n = conversions[c].n;
    LEAP_TEST_ASSERT(leap_st_read_f32(r, conversions[c].name, got, n, &err) == LEAP_OK, "%s", err.message);
    LEAP_TEST_ASSERT(leap_st_read_f32(r, conversions[c].expect, want, n, &err) == LEAP_OK, "%s", err.message);
    for (int i = 0; i < n; i++)
      LEAP_TEST_ASSERT(memcmp(&got[i], &want[i], sizeof(float)) == 0, "%s[%d] = %.9g, want %.9g",
                       conversions[c].name, i, got[i], want[i]);
  }
  int32_t i64[4], i32[3], i16[2], u8[3];
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "i64", i64, 4, &err) == LEAP_OK && i64[1] == -5 && i64[2] == 2147483647 &&
                       i64[3] == -2147483647 - 1,
                   "i64: %s", err.message);
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "i32", i32, 3, &err) == LEAP_OK && i32[0] == -7 && i32[2] == 7, "i32");
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "i16", i16, 2, &err) == LEAP_OK && i16[0] == -300, "i16");
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "u8", u8, 3, &err) == LEAP_OK && u8[1] == 255 && u8[2] == 17, "u8");
  float s;
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "scalar", &s, 1, &err) == LEAP_OK && s == 42.5f, "scalar");
  const leap_st_tensor_info *e = leap_st_find(r, "empty");
  LEAP_TEST_ASSERT(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->numel == 0, "empty info");
  const char *number = leap_st_metadata(r, "number"), *quote = leap_st_metadata(r, "quote");
  LEAP_TEST_ASSERT(number && strcmp(number, "12") == 0, "metadata number = %s", number ? number : "(none)");
  LEAP_TEST_ASSERT(quote && strcmp(quote, "a \"b\" \\ c") == 0, "metadata quote = %s", quote ? quote : "(none)");
  const char *unicode = leap_st_metadata(r, "unicode"); /* written as \u escapes, one a surrogate pair */
  LEAP_TEST_ASSERT(unicode && strcmp(unicode, "\xc3\xa9\xe2\x88\x91\xf0\x9f\x98\x80") == 0, "metadata unicode = %s",
                   unicode ? unicode : "(none)");

  /* Errors on reads name the file and the tensor. */
  int32_t big[2];
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_read_i32(r, "i64_big", big, 2, &err) == LEAP_ERR_VALUE &&
                       strstr(err.message, PY_FIXTURE ": tensor 'i64_big': element 1 = 1099511627776 is outside"),
                   "int32 range: %s", err.message);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "missing", got, 1, &err) == LEAP_ERR_VALUE &&
                       strcmp(err.message, PY_FIXTURE ": no tensor named 'missing'") == 0,
                   "missing tensor: %s", err.message);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "i32", got, 3, &err) == LEAP_ERR_DTYPE && strstr(err.message, "'i32' is I32"),
                   "dtype: %s", err.message);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_read_f32(r, "f32", got, 5, &err) == LEAP_ERR_SHAPE &&
                       strstr(err.message, "'f32' has shape [2,3] (6 elements), expected 5"),
                   "numel: %s", err.message);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_read_raw(r, "u8", LEAP_ST_I8, u8, 3, &err) == LEAP_ERR_DTYPE, "raw dtype: %s",
                   err.message);
  leap_st_close(r);
}

/* ------------------------------------------------------------------------------------------------------------ */

#define T_OK "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"

typedef struct bad_case {
  const char *what;
  const char *header;   /* JSON text */
  long long header_len; /* the length field, or -1 for strlen(header) */
  size_t data_len;      /* bytes of data after the header */
  leap_status status;
  const char *message;  /* expected after "<path>: " */
} bad_case;

static const bad_case bad_cases[] = {
    {"valid", "{\"w\":" T_OK "}", -1, 24, LEAP_OK, ""},
    {"size mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", -1, 12, LEAP_ERR_FORMAT,
     "tensor 'w': data_offsets [0, 12) do not match shape [2,3] of F32 (24 bytes)"},
    {"offsets past the end", "{\"w\":" T_OK "}", -1, 20, LEAP_ERR_FORMAT,
     "tensor 'w': data_offsets [0, 24) run past the end of the data section (20 bytes"},
    {"header length too big", "{\"w\":" T_OK "}", 4000, 24, LEAP_ERR_FORMAT, "header length 4000 exceeds the"},
    {"header length cuts the JSON", "{\"w\":" T_OK "}", 10, 24, LEAP_ERR_FORMAT, "header is not valid JSON"},
    {"trailing comma", "{\"w\":" T_OK ",}", -1, 24, LEAP_ERR_FORMAT, "header is not valid JSON: line 1, column"},
    {"not JSON at all", "hello", -1, 0, LEAP_ERR_FORMAT, "header is not valid JSON"},
    {"YAML, not JSON", "{w: 1}", -1, 0, LEAP_ERR_FORMAT, "header is not valid JSON"},
    {"two documents", "{}\n{}", -1, 0, LEAP_ERR_FORMAT, "header is not valid JSON"},
    {"not an object", "[1,2]", -1, 0, LEAP_ERR_FORMAT, "header is not a JSON object"},
    {"duplicate tensor", "{\"w\":" T_OK ",\"w\":" T_OK "}", -1, 24, LEAP_ERR_FORMAT, "header is not valid JSON"},
    {"unknown dtype", "{\"w\":{\"dtype\":\"F33\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", -1, 24, LEAP_ERR_DTYPE,
     "tensor 'w': unknown dtype 'F33'"},
    {"dtype not a string", "{\"w\":{\"dtype\":32,\"shape\":[2,3],\"data_offsets\":[0,24]}}", -1, 24,
     LEAP_ERR_FORMAT, "tensor 'w': \"dtype\" is missing or not a string"},
    {"missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}}", -1, 24, LEAP_ERR_FORMAT,
     "tensor 'w': \"shape\" is missing or not a list"},
    {"negative dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", -1, 24,
     LEAP_ERR_FORMAT, "tensor 'w': shape entry 0 is not a non-negative integer"},
    {"string dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,\"3\"],\"data_offsets\":[0,24]}}", -1, 24,
     LEAP_ERR_FORMAT, "tensor 'w': shape entry 1 is not a non-negative integer"},
    {"fractional dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0,3],\"data_offsets\":[0,24]}}", -1, 24,
     LEAP_ERR_FORMAT, "tensor 'w': shape entry 0"},
    {"too many dims", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", -1, 4,
     LEAP_ERR_FORMAT, "tensor 'w': shape has 9 dimensions"},
    {"three offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24,48]}}", -1, 24,
     LEAP_ERR_FORMAT, "tensor 'w': \"data_offsets\" is missing or not two non-negative integers"},
    {"reversed offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", -1, 8,
     LEAP_ERR_FORMAT, "tensor 'w': data_offsets [8, 4) end before they begin"},
    {"unknown key", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":1}}", -1, 24,
     LEAP_ERR_FORMAT, "tensor 'w': unknown key 'x'"},
    {"entry not an object", "{\"w\":[1]}", -1, 0, LEAP_ERR_FORMAT, "tensor 'w': entry is not a JSON object"},
    {"overlap",
     "{\"a\":" T_OK ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", -1, 24, LEAP_ERR_FORMAT,
     "tensor 'b': data_offsets [16, 24) overlap tensor 'a' [0, 24)"},
    {"hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", -1, 8, LEAP_ERR_FORMAT,
     "data bytes [0, 4) before tensor 'a' belong to no tensor"},
    {"trailing data", "{\"w\":" T_OK "}", -1, 30, LEAP_ERR_FORMAT, "6 bytes after the last tensor's data"},
    {"metadata not strings", "{\"__metadata__\":{\"step\":12},\"w\":" T_OK "}", -1, 24, LEAP_ERR_FORMAT,
     "metadata 'step': value is not a string"},
    {"metadata not an object", "{\"__metadata__\":[],\"w\":" T_OK "}", -1, 24, LEAP_ERR_FORMAT,
     "\"__metadata__\" is not a JSON object"},
};

static void test_bad_files(void) {
  char path[128];
  path_in_dir(path, sizeof path, "bad.safetensors");
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    write_raw(path, c->header, c->header_len, c->data_len);
    leap_st_reader *r = (leap_st_reader *)&r; /* anything but NULL, to see that a failed open sets NULL */
    leap_error err;
    leap_error_clear(&err);
    leap_status status = leap_st_open(&r, path, &err);
    char want[512];
    snprintf(want, sizeof want, "%s: %s", path, c->message);
    LEAP_TEST_ASSERT(status == c->status, "%s: status %s, want %s (%s)", c->what, leap_status_name(status),
                     leap_status_name(c->status), err.message);
    if (c->status != LEAP_OK) {
      LEAP_TEST_ASSERT(r == NULL, "%s: reader not NULL after a failed open", c->what);
      LEAP_TEST_ASSERT(strncmp(err.message, want, strlen(want)) == 0, "%s: message '%s', want '%s...'", c->what,
                       err.message, want);
    }
    if (status == LEAP_OK) leap_st_close(r);
  }
  /* Files too short to hold the length field, and files that do not exist. */
  FILE *f = fopen(path, "wb");
  fwrite("abc", 1, 3, f);
  fclose(f);
  leap_st_reader *r = NULL;
  leap_error err;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_open(&r, path, &err) == LEAP_ERR_FORMAT && strstr(err.message, "file is 3 bytes, too short"),
                   "short file: %s", err.message);
  unlink(path);
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_open(&r, path, &err) == LEAP_ERR_IO && strstr(err.message, "cannot open") &&
                       strstr(err.message, path),
                   "missing file: %s", err.message);
}

/* Every truncation of a valid file fails cleanly (no crash, an error naming the file). */
static void test_truncations(void) {
  char path[128], cut[128];
  path_in_dir(path, sizeof path, "whole.safetensors");
  path_in_dir(cut, sizeof cut, "cut.safetensors");
  float w[10] = {0};
  leap_st_entry tensors[2] = {{"a", LEAP_ST_F32, 1, {4}, w}, {"b", LEAP_ST_F32, 2, {2, 3}, w}};
  leap_error err;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_st_write(path, tensors, 2, NULL, 0, &err) == LEAP_OK, "%s", err.message);
  FILE *f = fopen(path, "rb");
  unsigned char bytes[4096];
  size_t size = fread(bytes, 1, sizeof bytes, f);
  fclose(f);
  int failures = 0;
  for (size_t keep = 0; keep < size; keep++) {
    f = fopen(cut, "wb");
    fwrite(bytes, 1, keep, f);
    fclose(f);
    leap_st_reader *r = NULL;
    leap_error_clear(&err);
    if (leap_st_open(&r, cut, &err) == LEAP_OK || !strstr(err.message, cut)) {
      if (failures++ < 3) LEAP_TEST_ASSERT(false, "truncated to %zu bytes: '%s'", keep, err.message);
      leap_st_close(r);
    }
  }
  LEAP_TEST_ASSERT(failures == 0, "%d truncations were accepted", failures);
  unlink(cut);
  unlink(path);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/leap_st_test_XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip();
  remove_dir_contents(g_dir);
  test_writer_failures();
  remove_dir_contents(g_dir);
  test_python_file();
  test_bad_files();
  test_truncations();
  remove_dir_contents(g_dir);
  rmdir(g_dir);
  return leap_test_finish();
}
