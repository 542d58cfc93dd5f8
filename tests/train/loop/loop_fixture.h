/* A tiny synthetic task for the training-loop tests, written with the HDF5 C API: groups train (512 samples), val
 * and test (128 each) holding
 *   x     (N,8) f32, standard normal;
 *   h     (N,3) f32 = A1 x + b1, an intermediate label;
 *   y     (N,3) f32 = A2 h + b2 = A x + b, the final target (a linear regression);
 *   y_nan (N,3) f32, y with one NaN in one training sample (val and test: y itself);
 *   y_allnan (N,3) f32, NaN everywhere in the training group (val and test: y);
 *   image (N,6,5,3) u8, random pixels, chunked and gzip-compressed;
 *   label (N) i32 in {0,1,2}: how many of x0, x1 are positive (a classification target);
 *   tok_a (N,4), tok_b (N,3) i32 token ids in [0,5), and tok_cls (N) = (tok_a[0] + tok_b[0]) mod 5 (two inputs);
 * and a YAML config over it, written to /tmp. Header-only (static functions) so that each test program includes
 * it. */
#ifndef LEAP_TESTS_TRAIN_LOOP_LOOP_FIXTURE_H
#define LEAP_TESTS_TRAIN_LOOP_LOOP_FIXTURE_H

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/leap_test.h"

#define FIX_N_TRAIN 512
#define FIX_N_EVAL 128
#define FIX_X 8
#define FIX_H 3
#define FIX_IMG_H 6
#define FIX_IMG_W 5
#define FIX_IMG_C 3
#define FIX_NAN_SAMPLE 100
#define FIX_TOK_A 4
#define FIX_TOK_B 3
#define FIX_VOCAB 5

static bool fix_write(hid_t group, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data,
                      bool chunked) {
  hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunked) {
    hsize_t chunk[4];
    memcpy(chunk, dims, sizeof(hsize_t) * (size_t)rank);
    chunk[0] = 16;
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_deflate(dcpl, 4);
  }
  hid_t ds = H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  bool ok = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  return ok;
}

/* The fixed linear maps: A1 (3,8), b1 (3), A2 (3,3), b2 (3). */
static void fix_maps(float *a1, float *b1, float *a2, float *b2) {
  leap_test_fill_uniform(a1, FIX_H * FIX_X, -0.5f, 0.5f, 901);
  leap_test_fill_uniform(b1, FIX_H, -0.5f, 0.5f, 902);
  leap_test_fill_uniform(a2, FIX_H * FIX_H, -1.0f, 1.0f, 903);
  leap_test_fill_uniform(b2, FIX_H, -0.5f, 0.5f, 904);
}

static void fix_affine(float *out, const float *a, const float *b, const float *in, int64_t n, int rows, int cols) {
  for (int64_t i = 0; i < n; i++)
    for (int r = 0; r < rows; r++) {
      double s = b[r];
      for (int c = 0; c < cols; c++) s += (double)a[r * cols + c] * in[i * cols + c];
      out[i * rows + r] = (float)s;
    }
}

static bool fix_write_group(hid_t file, const char *name, int64_t n, uint64_t seed, bool inject_nan) {
  float a1[FIX_H * FIX_X], b1[FIX_H], a2[FIX_H * FIX_H], b2[FIX_H];
  fix_maps(a1, b1, a2, b2);
  float *x = malloc(sizeof(float) * (size_t)(n * FIX_X)), *h = malloc(sizeof(float) * (size_t)(n * FIX_H));
  float *y = malloc(sizeof(float) * (size_t)(n * FIX_H)), *yn = malloc(sizeof(float) * (size_t)(n * FIX_H));
  float *ya = malloc(sizeof(float) * (size_t)(n * FIX_H));
  int64_t n_img = n * FIX_IMG_H * FIX_IMG_W * FIX_IMG_C;
  uint8_t *img = malloc((size_t)n_img);
  int32_t *label = malloc(sizeof(int32_t) * (size_t)n), *cls = malloc(sizeof(int32_t) * (size_t)n);
  int32_t *ta = malloc(sizeof(int32_t) * (size_t)(n * FIX_TOK_A));
  int32_t *tb = malloc(sizeof(int32_t) * (size_t)(n * FIX_TOK_B));
  leap_test_fill_int(ta, n * FIX_TOK_A, 0, FIX_VOCAB, seed + 100);
  leap_test_fill_int(tb, n * FIX_TOK_B, 0, FIX_VOCAB, seed + 200);
  for (int64_t i = 0; i < n; i++) cls[i] = (ta[i * FIX_TOK_A] + tb[i * FIX_TOK_B]) % FIX_VOCAB;
  leap_test_fill_normal(x, n * FIX_X, 1.0f, seed);
  fix_affine(h, a1, b1, x, n, FIX_H, FIX_X);
  fix_affine(y, a2, b2, h, n, FIX_H, FIX_H);
  memcpy(yn, y, sizeof(float) * (size_t)(n * FIX_H));
  memcpy(ya, y, sizeof(float) * (size_t)(n * FIX_H));
  if (inject_nan) {
    yn[FIX_NAN_SAMPLE * FIX_H + 1] = NAN;
    for (int64_t i = 0; i < n * FIX_H; i++) ya[i] = NAN;
  }
  for (int64_t i = 0; i < n_img; i++) img[i] = (uint8_t)((i * 2654435761u + seed) >> 7);
  for (int64_t i = 0; i < n; i++) label[i] = (x[i * FIX_X] > 0) + (x[i * FIX_X + 1] > 0);
  hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dx[2] = {(hsize_t)n, FIX_X}, dh[2] = {(hsize_t)n, FIX_H}, dl[1] = {(hsize_t)n};
  hsize_t di[4] = {(hsize_t)n, FIX_IMG_H, FIX_IMG_W, FIX_IMG_C};
  hsize_t da[2] = {(hsize_t)n, FIX_TOK_A}, db[2] = {(hsize_t)n, FIX_TOK_B};
  bool ok = g >= 0 && fix_write(g, "x", H5T_NATIVE_FLOAT, 2, dx, x, false) &&
            fix_write(g, "h", H5T_NATIVE_FLOAT, 2, dh, h, false) &&
            fix_write(g, "y", H5T_NATIVE_FLOAT, 2, dh, y, false) &&
            fix_write(g, "y_nan", H5T_NATIVE_FLOAT, 2, dh, yn, false) &&
            fix_write(g, "y_allnan", H5T_NATIVE_FLOAT, 2, dh, ya, false) &&
            fix_write(g, "image", H5T_NATIVE_UINT8, 4, di, img, true) &&
            fix_write(g, "label", H5T_NATIVE_INT32, 1, dl, label, false) &&
            fix_write(g, "tok_a", H5T_NATIVE_INT32, 2, da, ta, false) &&
            fix_write(g, "tok_b", H5T_NATIVE_INT32, 2, db, tb, false) &&
            fix_write(g, "tok_cls", H5T_NATIVE_INT32, 1, dl, cls, false);
  if (g >= 0) H5Gclose(g);
  free(x), free(h), free(y), free(yn), free(ya), free(img), free(label), free(cls), free(ta), free(tb);
  return ok;
}

static bool fix_write_file(const char *path) {
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  bool ok = file >= 0 && fix_write_group(file, "train", FIX_N_TRAIN, 11, true) &&
            fix_write_group(file, "val", FIX_N_EVAL, 12, false) && fix_write_group(file, "test", FIX_N_EVAL, 13, false);
  if (file >= 0) H5Fclose(file);
  return ok;
}

/* The image field's normalisation in the config. */
static const float g_fix_mean[3] = {0.5f, 0.4f, 0.3f}, g_fix_std[3] = {0.25f, 0.2f, 0.3f};

/* The default stages: "fit", an MLP from x to y. */
#define FIX_STAGES_FIT \
  "  - {name: fit, input: x, output: y, loss: mse, network: {arch: mlp, hidden: [32], activation: relu}}\n"

/* A stage reading two token fields, each through its own embedding, joined into one sequence (tok_a's 4 tokens,
 * then tok_b's 3). */
#define FIX_STAGES_JOIN                                                                                   \
  "  - {name: join, input: [tok_a, tok_b], output: tok_cls, loss: cross_entropy,\n"                     \
  "     network: {arch: sequential, inputs: {tok_a: [{embedding: {vocab: 5, channels: 8}}],\n"           \
  "               tok_b: [{embedding: {vocab: 5, channels: 8}}]},\n"                                     \
  "               layers: [flatten, {linear: {units: 64}}, relu, {linear: {units: 0}}]}}\n"

/* Two stages with a token intermediate: `spell` predicts tok_a (4 tokens) from tok_b, `join` reads tok_a and tok_b.
 * Composed, join's tok_a branch embeds spell's scores (softmax @ table) and tok_b feeds both nets. */
#define FIX_STAGES_SPELL                                                                                  \
  "  - {name: spell, input: tok_b, output: tok_a, loss: cross_entropy,\n"                               \
  "     network: {arch: sequential, layers: [{embedding: {vocab: 5, channels: 8}}, position,\n"          \
  "               {queries: {length: 4}}, {transformer: {heads: 2}}, {last: {length: 4}}, {linear: {units: 0}}]}}\n" \
  FIX_STAGES_JOIN

/* An explicit e2e network of two kinds of input: the image through a conv and an adapter (30 tokens), tok_a
 * through an embedding (4 tokens). */
#define FIX_E2E_IMAGE_TOKENS                                                                              \
  "e2e: {network: {arch: sequential, inputs: {image: [{conv: {channels: 4}}, relu, tokens, {linear: {units: 8}}],\n" \
  "      tok_a: [{embedding: {vocab: 5, channels: 8}}]}, layers: [flatten, {linear: {units: 0}}]}}\n"

/* Writes a config over data_path to yaml_path with the given stages (a YAML list's items, e.g. FIX_STAGES_FIT). */
static bool fix_write_config(const char *yaml_path, const char *data_path, const char *stages) {
  /* A config declares at most 8 fields: x, y, label and image always, the others when the stages use them. */
  static const char *const optional[][2] = {{"output: h,", "    h: {}\n"},
                                            {"y_nan", "    y_nan: {}\n"},
                                            {"y_allnan", "    y_allnan: {}\n"},
                                            {"tok_", "    tok_a: {dtype: i32, vocab: 5}\n"
                                                     "    tok_b: {dtype: i32, vocab: 5}\n"
                                                     "    tok_cls: {dtype: i32, vocab: 5}\n"}};
  char extra[512] = "";
  for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
    if (strstr(stages, optional[i][0])) strcat(extra, optional[i][1]);
  FILE *f = fopen(yaml_path, "w");
  if (!f) return false;
  fprintf(f,
          "task: linreg\n"
          "data:\n"
          "  file: %s\n"
          "  groups: {train: train, val: val, test: test}\n"
          "  fields:\n"
          "    x: {}\n"
          "    y: {}\n"
          "    label: {dtype: i32, vocab: 3}\n"
          "    image: {normalize: true, mean: [%g, %g, %g], std: [%g, %g, %g]}\n"
          "%s"
          "stages:\n"
          "%s"
          "train: {steps: 300, batch: 32, micro_batches: 1, lr: 1.0e-2,\n"
          "        optimizer: {name: adamw, weight_decay: 0.0, clip_norm: 0},\n"
          "        schedule: {kind: constant, warmup: 0}, eval_every: 100, eval_samples: 0,\n"
          "        early_stop_patience: 0, log_every: 50, seed: 3, threads: 2}\n"
          "output: {dir: /tmp/leap_test_unused}\n",
          data_path, g_fix_mean[0], g_fix_mean[1], g_fix_mean[2], g_fix_std[0], g_fix_std[1], g_fix_std[2], extra,
          stages);
  return fclose(f) == 0;
}

#endif
