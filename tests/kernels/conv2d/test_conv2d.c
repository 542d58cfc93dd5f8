/* conv2d CPU kernel: forward and backward against a naive double-precision reference, finite-difference gradient
 * checks of dinp, dweight and dbias, accumulation into existing gradients, NULL gradients, and bit-identical
 * results on 1 and 2 threads. The table covers 1x1 (direct and strided), 3x3, 5x5, 7x7, rectangular kernels,
 * strides 1-3, padding 0-3 (including padding wider than the kernel), C = 3, odd sizes, and shapes large enough to
 * use several chunks, several images per backward-data item and bands of output lines. Both forward algorithms
 * are covered: register tiles (C <= 4 or K <= 32, including K not a multiple of the vector width) and im2col +
 * sgemm (the rest). The "winograd" cases (and "banded 3x3") take the Winograd F(2x2,3x3) path of 3x3 stride-1
 * layers with 8 or more input channels, in all three passes: odd sizes (partial 2x2 tiles), C and K not multiples
 * of the vector width (every register-tile width and row tails), padding 0, 1 and 2 and unequal padding, N = 1,
 * images smaller than one tile, and enough tiles for several chunks and for all of backward-filter's groups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
#include "tests/common/leap_test.h"

typedef struct conv_case {
  const char *name;
  int64_t N, H, W, C, K, R, S, sh, sw, ph, pw;
} conv_case;

static const conv_case CASES[] = {
    {"1x1 direct", 2, 5, 7, 3, 5, 1, 1, 1, 1, 0, 0},
    {"1x1 stride 2", 2, 7, 9, 4, 5, 1, 1, 2, 2, 0, 0},
    {"1x1 pad 1", 1, 3, 4, 2, 3, 1, 1, 1, 1, 1, 1},
    {"3x3 pad 1 C3", 2, 7, 9, 3, 5, 3, 3, 1, 1, 1, 1},
    {"3x3 stride 2", 3, 7, 9, 6, 5, 3, 3, 2, 2, 1, 1},
    {"3x3 pad 0", 1, 6, 5, 5, 2, 3, 3, 1, 1, 0, 0},
    {"3x3 pad 2 (beyond kernel)", 1, 4, 5, 2, 3, 3, 3, 1, 1, 2, 2},
    {"5x5 pad 2", 2, 9, 7, 4, 3, 5, 5, 1, 1, 2, 2},
    {"7x7 stride 2 pad 3", 2, 11, 13, 3, 4, 7, 7, 2, 2, 3, 3},
    {"3x5 stride (2,1) pad (0,2)", 2, 8, 7, 3, 5, 3, 5, 2, 1, 0, 2},
    {"2x2 stride 3", 2, 8, 8, 3, 4, 2, 2, 3, 3, 0, 0},
    {"many small images", 17, 5, 5, 4, 3, 3, 3, 1, 1, 1, 1},
    {"small C wide, K tail", 2, 6, 29, 3, 20, 3, 3, 1, 1, 1, 1},
    {"small C 5x5 stride 2", 2, 9, 40, 2, 5, 5, 5, 2, 2, 2, 2},
    {"small C K37 pad 0", 1, 5, 30, 4, 37, 3, 3, 1, 1, 0, 0},
    {"im2col forward 3x3", 2, 7, 9, 6, 40, 3, 3, 1, 1, 1, 1},
    {"im2col forward 7x7 stride 2", 2, 11, 13, 5, 33, 7, 7, 2, 2, 3, 3},
    {"banded 3x3", 2, 40, 38, 64, 36, 3, 3, 1, 1, 1, 1},
    {"banded 5x5 stride 2", 2, 45, 41, 48, 33, 5, 5, 2, 2, 2, 2},
    {"winograd odd sizes pad 1", 2, 9, 11, 19, 21, 3, 3, 1, 1, 1, 1},
    {"winograd pad 0 N=1", 1, 10, 7, 37, 50, 3, 3, 1, 1, 0, 0},
    {"winograd pad (2,1) K70", 1, 6, 5, 16, 70, 3, 3, 1, 1, 2, 1},
    {"winograd pad (0,1) C8", 2, 5, 8, 8, 13, 3, 3, 1, 1, 0, 1},
    {"winograd several chunks", 3, 23, 21, 12, 9, 3, 3, 1, 1, 1, 1},
    {"winograd 8 groups", 4, 30, 29, 16, 16, 3, 3, 1, 1, 1, 1},
    {"winograd 1x2 image", 1, 1, 2, 16, 17, 3, 3, 1, 1, 1, 1},
};

typedef struct conv_data {
  leap_conv2d_shape s;
  int64_t n_inp, n_w, n_out;
  float *inp, *weight, *bias, *out, *wout, *ws;
} conv_data;

static void data_init(conv_data *d, const conv_case *c, uint64_t seed) {
  leap_conv2d_shape_init(&d->s, c->N, c->H, c->W, c->C, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw);
  d->n_inp = c->N * c->H * c->W * c->C;
  d->n_w = c->K * c->R * c->S * c->C;
  d->n_out = c->N * d->s.P * d->s.Q * c->K;
  d->inp = malloc(sizeof(float) * d->n_inp);
  d->weight = malloc(sizeof(float) * d->n_w);
  d->bias = malloc(sizeof(float) * c->K);
  d->out = malloc(sizeof(float) * d->n_out);
  d->wout = malloc(sizeof(float) * d->n_out);
  int threads = leap_kernels_threads() > 2 ? leap_kernels_threads() : 2;
  d->ws = malloc(sizeof(float) * leap_conv2d_workspace_floats(&d->s, threads));
  leap_test_fill_uniform(d->inp, d->n_inp, -1.0f, 1.0f, seed);
  leap_test_fill_uniform(d->weight, d->n_w, -0.5f, 0.5f, seed + 1);
  leap_test_fill_uniform(d->bias, c->K, -1.0f, 1.0f, seed + 2);
  leap_test_fill_uniform(d->wout, d->n_out, -1.0f, 1.0f, seed + 3);
}

static void data_free(conv_data *d) {
  free(d->inp), free(d->weight), free(d->bias), free(d->out), free(d->wout), free(d->ws);
}

/* Input element (n,h,w,c) when (h,w) lies inside the image, else -1 (padding). */
static int64_t inp_index(const leap_conv2d_shape *s, int64_t n, int64_t h, int64_t w, int64_t c) {
  if (h < 0 || h >= s->H || w < 0 || w >= s->W) return -1;
  return ((n * s->H + h) * s->W + w) * s->C + c;
}

/* The naive convolution, straight from the definition, in double. */
static void ref_forward(double *out, const float *inp, const float *weight, const float *bias,
                        const leap_conv2d_shape *s) {
  for (int64_t n = 0; n < s->N; n++)
    for (int64_t p = 0; p < s->P; p++)
      for (int64_t q = 0; q < s->Q; q++)
        for (int64_t k = 0; k < s->K; k++) {
          double acc = bias ? bias[k] : 0.0;
          for (int64_t r = 0; r < s->R; r++)
            for (int64_t t = 0; t < s->S; t++)
              for (int64_t c = 0; c < s->C; c++) {
                int64_t i = inp_index(s, n, p * s->stride_h - s->pad_h + r, q * s->stride_w - s->pad_w + t, c);
                if (i >= 0) acc += (double)inp[i] * weight[((k * s->R + r) * s->S + t) * s->C + c];
              }
          out[((n * s->P + p) * s->Q + q) * s->K + k] = acc;
        }
}

/* The naive gradients, in double: each output gradient term is sent back along the forward's products. */
static void ref_backward(double *dinp, double *dweight, double *dbias, const float *dout, const float *inp,
                         const float *weight, const leap_conv2d_shape *s) {
  for (int64_t n = 0; n < s->N; n++)
    for (int64_t p = 0; p < s->P; p++)
      for (int64_t q = 0; q < s->Q; q++)
        for (int64_t k = 0; k < s->K; k++) {
          double g = dout[((n * s->P + p) * s->Q + q) * s->K + k];
          dbias[k] += g;
          for (int64_t r = 0; r < s->R; r++)
            for (int64_t t = 0; t < s->S; t++)
              for (int64_t c = 0; c < s->C; c++) {
                int64_t i = inp_index(s, n, p * s->stride_h - s->pad_h + r, q * s->stride_w - s->pad_w + t, c);
                int64_t j = ((k * s->R + r) * s->S + t) * s->C + c;
                if (i < 0) continue;
                dinp[i] += g * weight[j];
                dweight[j] += g * inp[i];
              }
        }
}

static float *to_float(const double *x, int64_t n) {
  float *y = malloc(sizeof(float) * (n > 0 ? n : 1));
  for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
  return y;
}

static void check_forward(conv_data *d, const char *name) {
  char what[160];
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    double *want = calloc(d->n_out, sizeof(double));
    ref_forward(want, d->inp, d->weight, with_bias ? d->bias : NULL, &d->s);
    float *wantf = to_float(want, d->n_out);
    leap_test_poison(d->out, d->n_out);
    leap_conv2d_forward_cpu(d->out, d->inp, d->weight, with_bias ? d->bias : NULL, &d->s, d->ws);
    snprintf(what, sizeof what, "%s: forward %s bias", name, with_bias ? "with" : "without");
    leap_test_allclose(what, d->out, wantf, d->n_out, 1e-4, 1e-4);
    free(want), free(wantf);
  }
}

/* Backward into buffers that already hold values, so that accumulation (not overwrite) is checked too. */
static void check_backward_reference(conv_data *d, const char *name) {
  const int64_t K = d->s.K;
  float *dinp = malloc(sizeof(float) * d->n_inp), *dw = malloc(sizeof(float) * d->n_w), *db = malloc(sizeof(float) * K);
  double *rdinp = calloc(d->n_inp, sizeof(double)), *rdw = calloc(d->n_w, sizeof(double));
  double *rdb = calloc(K, sizeof(double));
  leap_test_fill_uniform(dinp, d->n_inp, -1.0f, 1.0f, 11);
  leap_test_fill_uniform(dw, d->n_w, -1.0f, 1.0f, 12);
  leap_test_fill_uniform(db, K, -1.0f, 1.0f, 13);
  for (int64_t i = 0; i < d->n_inp; i++) rdinp[i] = dinp[i];
  for (int64_t i = 0; i < d->n_w; i++) rdw[i] = dw[i];
  for (int64_t i = 0; i < K; i++) rdb[i] = db[i];
  ref_backward(rdinp, rdw, rdb, d->wout, d->inp, d->weight, &d->s);
  leap_conv2d_backward_cpu(dinp, dw, db, d->wout, d->inp, d->weight, &d->s, d->ws);
  float *w1 = to_float(rdinp, d->n_inp), *w2 = to_float(rdw, d->n_w), *w3 = to_float(rdb, K);
  char what[160];
  snprintf(what, sizeof what, "%s: dinp accumulated vs reference", name);
  leap_test_allclose(what, dinp, w1, d->n_inp, 1e-4, 1e-4);
  snprintf(what, sizeof what, "%s: dweight accumulated vs reference", name);
  leap_test_allclose(what, dw, w2, d->n_w, 1e-3, 1e-4);
  snprintf(what, sizeof what, "%s: dbias accumulated vs reference", name);
  leap_test_allclose(what, db, w3, K, 1e-3, 1e-4);
  free(dinp), free(dw), free(db), free(rdinp), free(rdw), free(rdb), free(w1), free(w2), free(w3);
}

static double conv_loss(void *user) {
  conv_data *d = user;
  leap_conv2d_forward_cpu(d->out, d->inp, d->weight, d->bias, &d->s, d->ws);
  return leap_test_dot(d->out, d->wout, d->n_out);
}

/* Finite differences of loss = sum(out * wout) against backward with dout = wout. The convolution is linear in
 * each argument, so central differences are exact up to fp32 rounding of the forward: eps 1e-2, rtol 1e-2. */
static void check_gradients(conv_data *d, const char *name) {
  const int64_t K = d->s.K;
  float *dinp = calloc(d->n_inp, sizeof(float)), *dw = calloc(d->n_w, sizeof(float)), *db = calloc(K, sizeof(float));
  leap_conv2d_backward_cpu(dinp, dw, db, d->wout, d->inp, d->weight, &d->s, d->ws);
  char what[160];
  snprintf(what, sizeof what, "%s: dinp", name);
  leap_test_gradcheck(what, conv_loss, d, d->inp, dinp, d->n_inp, 1e-2, 1e-3, 1e-2, 60);
  snprintf(what, sizeof what, "%s: dweight", name);
  leap_test_gradcheck(what, conv_loss, d, d->weight, dw, d->n_w, 1e-2, 1e-3, 1e-2, 60);
  snprintf(what, sizeof what, "%s: dbias", name);
  leap_test_gradcheck(what, conv_loss, d, d->bias, db, K, 1e-2, 1e-3, 1e-2, 60);
  free(dinp), free(dw), free(db);
}

/* Asking for one gradient at a time gives the same bits as asking for all three. */
static void check_null_gradients(conv_data *d, const char *name) {
  const int64_t K = d->s.K, n[3] = {d->n_inp, d->n_w, K};
  float *all[3], *one[3];
  for (int i = 0; i < 3; i++) all[i] = calloc(n[i], sizeof(float)), one[i] = calloc(n[i], sizeof(float));
  leap_conv2d_backward_cpu(all[0], all[1], all[2], d->wout, d->inp, d->weight, &d->s, d->ws);
  leap_conv2d_backward_cpu(one[0], NULL, NULL, d->wout, d->inp, d->weight, &d->s, d->ws);
  leap_conv2d_backward_cpu(NULL, one[1], NULL, d->wout, d->inp, d->weight, &d->s, d->ws);
  leap_conv2d_backward_cpu(NULL, NULL, one[2], d->wout, d->inp, d->weight, &d->s, d->ws);
  for (int i = 0; i < 3; i++) {
    LEAP_TEST_ASSERT(memcmp(all[i], one[i], sizeof(float) * n[i]) == 0, "%s: gradient %d alone differs", name, i);
    free(all[i]), free(one[i]);
  }
}

#ifdef LEAP_WITH_OPENMP
/* Forward and all gradients on `threads` threads, into fresh buffers. */
static void run_all(conv_data *d, int threads, float *out, float *dinp, float *dw, float *db) {
  omp_set_num_threads(threads);
  leap_conv2d_forward_cpu(out, d->inp, d->weight, d->bias, &d->s, d->ws);
  memset(dinp, 0, sizeof(float) * d->n_inp), memset(dw, 0, sizeof(float) * d->n_w);
  memset(db, 0, sizeof(float) * d->s.K);
  leap_conv2d_backward_cpu(dinp, dw, db, d->wout, d->inp, d->weight, &d->s, d->ws);
}

static void check_threads(conv_data *d, const char *name) {
  const int64_t n[4] = {d->n_out, d->n_inp, d->n_w, d->s.K};
  float *a[4], *b[4];
  for (int i = 0; i < 4; i++) a[i] = malloc(sizeof(float) * n[i]), b[i] = malloc(sizeof(float) * n[i]);
  int saved = omp_get_max_threads();
  run_all(d, 1, a[0], a[1], a[2], a[3]);
  run_all(d, 2, b[0], b[1], b[2], b[3]);
  omp_set_num_threads(saved);
  static const char *names[4] = {"out", "dinp", "dweight", "dbias"};
  for (int i = 0; i < 4; i++) {
    LEAP_TEST_ASSERT(memcmp(a[i], b[i], sizeof(float) * n[i]) == 0, "%s: %s differs on 1 and 2 threads", name,
                     names[i]);
    free(a[i]), free(b[i]);
  }
}
#endif

int main(void) {
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    const conv_case *c = &CASES[i];
    conv_data d;
    data_init(&d, c, 100 + i);
    LEAP_TEST_ASSERT(d.s.P == (c->H + 2 * c->ph - c->R) / c->sh + 1 && d.s.Q == (c->W + 2 * c->pw - c->S) / c->sw + 1,
                     "%s: output size %lldx%lld", c->name, (long long)d.s.P, (long long)d.s.Q);
    check_forward(&d, c->name);
    check_backward_reference(&d, c->name);
    check_gradients(&d, c->name);
    check_null_gradients(&d, c->name);
#ifdef LEAP_WITH_OPENMP
    check_threads(&d, c->name);
#endif
    data_free(&d);
  }
  return leap_test_finish();
}
