/* Pooling CPU kernels: max, average and global average pool, forward against naive references (values and
 * argmax), backward against references (accumulating into existing gradients), finite-difference gradient checks,
 * and bit-identical results on 1 and 2 threads. Windows cover 1x1 to 5x5, strides 1-3, padding 0-2, overlapping
 * windows, windows cut by padding, odd sizes whose last row and column the floor mode drops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/pool/pool.h"
#include "tests/common/leap_test.h"

typedef struct pool_case {
  const char *name;
  int64_t N, H, W, C, kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case CASES[] = {
    {"2x2 stride 2", 2, 8, 6, 3, 2, 2, 2, 2, 0, 0},
    {"2x2 stride 2 odd 7x9", 2, 7, 9, 4, 2, 2, 2, 2, 0, 0},
    {"3x3 stride 2 pad 1", 2, 7, 9, 5, 3, 3, 2, 2, 1, 1},
    {"3x3 stride 1 pad 1", 2, 5, 6, 4, 3, 3, 1, 1, 1, 1},
    {"3x2 stride (2,1) pad (1,1)", 1, 7, 5, 17, 3, 2, 2, 1, 1, 1},
    {"1x1", 2, 3, 5, 3, 1, 1, 1, 1, 0, 0},
    {"5x5 stride 3 pad 2", 2, 11, 13, 3, 5, 5, 3, 3, 2, 2},
    {"2x2 stride 1 many channels", 3, 6, 5, 70, 2, 2, 1, 1, 0, 0},
};

typedef struct pool_data {
  leap_pool_shape s;
  int64_t n_inp, n_out;
  float *inp, *out, *wout;
  int32_t *argmax;
  int mode; /* 0 max, 1 average, 2 global average */
} pool_data;

/* Distinct values (a shuffled even grid in [-1, 1)), so that max pool's argmax is unique and stays put under the
 * finite-difference step. */
static void fill_distinct(float *x, int64_t n, uint64_t seed) {
  int32_t *r = malloc(sizeof(int32_t) * (n > 0 ? n : 1));
  leap_test_fill_int(r, n, 0, 1 << 30, seed);
  for (int64_t i = 0; i < n; i++) x[i] = -1.0f + 2.0f * (float)i / (float)n;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = r[i] % (i + 1);
    float t = x[i];
    x[i] = x[j], x[j] = t;
  }
  free(r);
}

/* Naive max pool in the documented window order (first maximum wins). */
static void ref_maxpool(float *out, int32_t *argmax, const float *inp, const leap_pool_shape *s) {
  for (int64_t n = 0; n < s->N; n++)
    for (int64_t p = 0; p < s->P; p++)
      for (int64_t q = 0; q < s->Q; q++)
        for (int64_t c = 0; c < s->C; c++) {
          float best = -INFINITY;
          int32_t at = -1;
          for (int64_t i = 0; i < s->kh; i++)
            for (int64_t j = 0; j < s->kw; j++) {
              int64_t h = p * s->stride_h - s->pad_h + i, w = q * s->stride_w - s->pad_w + j;
              if (h < 0 || h >= s->H || w < 0 || w >= s->W) continue;
              float v = inp[((n * s->H + h) * s->W + w) * s->C + c];
              if (at < 0 || v > best) best = v, at = (int32_t)(h * s->W + w);
            }
          int64_t o = ((n * s->P + p) * s->Q + q) * s->C + c;
          out[o] = best, argmax[o] = at;
        }
}

/* Naive average pool; with dout given, instead adds its gradient to dinp. Sums in double. */
static void ref_avgpool(double *out, double *dinp, const float *dout, const float *inp, const leap_pool_shape *s) {
  for (int64_t n = 0; n < s->N; n++)
    for (int64_t p = 0; p < s->P; p++)
      for (int64_t q = 0; q < s->Q; q++)
        for (int64_t c = 0; c < s->C; c++) {
          double sum = 0.0;
          int count = 0;
          for (int pass = 0; pass < 2; pass++)
            for (int64_t i = 0; i < s->kh; i++)
              for (int64_t j = 0; j < s->kw; j++) {
                int64_t h = p * s->stride_h - s->pad_h + i, w = q * s->stride_w - s->pad_w + j;
                if (h < 0 || h >= s->H || w < 0 || w >= s->W) continue;
                int64_t x = ((n * s->H + h) * s->W + w) * s->C + c;
                int64_t o = ((n * s->P + p) * s->Q + q) * s->C + c;
                if (pass == 0) sum += inp[x], count++;
                else if (dout) dinp[x] += (double)dout[o] / count;
                else out[o] = sum / count;
              }
        }
}

static void forward(pool_data *d) {
  if (d->mode == 0) leap_maxpool_forward_cpu(d->out, d->argmax, d->inp, &d->s);
  else if (d->mode == 1) leap_avgpool_forward_cpu(d->out, d->inp, &d->s);
  else leap_global_avgpool_forward_cpu(d->out, d->inp, d->s.N, d->s.H * d->s.W, d->s.C);
}

static void backward(pool_data *d, float *dinp) {
  if (d->mode == 0) leap_maxpool_backward_cpu(dinp, d->wout, d->argmax, &d->s);
  else if (d->mode == 1) leap_avgpool_backward_cpu(dinp, d->wout, &d->s);
  else leap_global_avgpool_backward_cpu(dinp, d->wout, d->s.N, d->s.H * d->s.W, d->s.C);
}

static double pool_loss(void *user) {
  pool_data *d = user;
  forward(d);
  return leap_test_dot(d->out, d->wout, d->n_out);
}

/* The reference output and the reference gradient added onto dinp0, for the current mode. */
static void reference(pool_data *d, float *out, float *dinp, const float *dinp0) {
  const leap_pool_shape *s = &d->s;
  double *o = calloc(d->n_out, sizeof(double)), *g = calloc(d->n_inp, sizeof(double));
  for (int64_t i = 0; i < d->n_inp; i++) g[i] = dinp0[i];
  if (d->mode == 0) {
    int32_t *am = malloc(sizeof(int32_t) * d->n_out);
    ref_maxpool(out, am, d->inp, s);
    for (int64_t i = 0; i < d->n_out; i++) {
      int64_t n = i / (s->P * s->Q * s->C), c = i % s->C;
      g[(n * s->H * s->W + am[i]) * s->C + c] += d->wout[i];
    }
    LEAP_TEST_ASSERT(memcmp(am, d->argmax, sizeof(int32_t) * d->n_out) == 0, "maxpool argmax differs from reference");
    free(am);
  } else {
    leap_pool_shape gs; /* the global pool is an average pool with one window covering the image */
    leap_pool_shape_init(&gs, s->N, s->H, s->W, s->C, s->H, s->W, 1, 1, 0, 0);
    const leap_pool_shape *rs = d->mode == 1 ? s : &gs;
    ref_avgpool(o, NULL, NULL, d->inp, rs);
    ref_avgpool(NULL, g, d->wout, d->inp, rs);
    for (int64_t i = 0; i < d->n_out; i++) out[i] = (float)o[i];
  }
  for (int64_t i = 0; i < d->n_inp; i++) dinp[i] = (float)g[i];
  free(o), free(g);
}

static void check_mode(pool_data *d, const char *name) {
  static const char *modes[3] = {"maxpool", "avgpool", "global avgpool"};
  char what[160];
  float *want = malloc(sizeof(float) * d->n_out), *dinp = malloc(sizeof(float) * d->n_inp);
  float *dinp0 = malloc(sizeof(float) * d->n_inp), *want_dinp = malloc(sizeof(float) * d->n_inp);
  leap_test_poison(d->out, d->n_out);
  for (int64_t i = 0; i < d->n_out; i++) d->argmax[i] = -7;
  forward(d);
  leap_test_fill_uniform(dinp0, d->n_inp, -1.0f, 1.0f, 5);
  reference(d, want, want_dinp, dinp0);
  snprintf(what, sizeof what, "%s %s: forward", modes[d->mode], name);
  leap_test_allclose(what, d->out, want, d->n_out, 1e-6, 1e-5);
  memcpy(dinp, dinp0, sizeof(float) * d->n_inp);
  backward(d, dinp);
  snprintf(what, sizeof what, "%s %s: backward accumulated vs reference", modes[d->mode], name);
  leap_test_allclose(what, dinp, want_dinp, d->n_inp, 1e-6, 1e-5);
  /* Pooling is piecewise linear, so central differences are exact up to fp32 rounding. Max pool's inputs are
   * spaced 2/n apart and its eps stays under half of that, so no maximum moves; its outputs are copies of inputs,
   * so a small eps loses nothing. The averages are linear everywhere and take eps 1e-2 against the rounding of
   * their divided outputs. */
  memset(dinp, 0, sizeof(float) * d->n_inp);
  backward(d, dinp);
  snprintf(what, sizeof what, "%s %s: dinp", modes[d->mode], name);
  double eps = d->mode == 0 ? 0.4 / (double)d->n_inp : 1e-2;
  leap_test_gradcheck(what, pool_loss, d, d->inp, dinp, d->n_inp, eps, 1e-3, 1e-2, 80);
  free(want), free(dinp), free(dinp0), free(want_dinp);
}

#ifdef LEAP_WITH_OPENMP
static void check_threads(pool_data *d, const char *name) {
  float *out1 = malloc(sizeof(float) * d->n_out), *g1 = calloc(d->n_inp, sizeof(float));
  float *g2 = calloc(d->n_inp, sizeof(float));
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  forward(d);
  memcpy(out1, d->out, sizeof(float) * d->n_out);
  backward(d, g1);
  omp_set_num_threads(2);
  forward(d);
  backward(d, g2);
  omp_set_num_threads(saved);
  LEAP_TEST_ASSERT(memcmp(out1, d->out, sizeof(float) * d->n_out) == 0 &&
                       memcmp(g1, g2, sizeof(float) * d->n_inp) == 0,
                   "mode %d %s: results differ on 1 and 2 threads", d->mode, name);
  free(out1), free(g1), free(g2);
}
#endif

int main(void) {
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    const pool_case *c = &CASES[i];
    for (int mode = 0; mode < 3; mode++) {
      pool_data d = {.mode = mode};
      leap_pool_shape_init(&d.s, c->N, c->H, c->W, c->C, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw);
      d.n_inp = c->N * c->H * c->W * c->C;
      d.n_out = mode == 2 ? c->N * c->C : c->N * d.s.P * d.s.Q * c->C;
      d.inp = malloc(sizeof(float) * d.n_inp);
      d.out = malloc(sizeof(float) * d.n_out);
      d.wout = malloc(sizeof(float) * d.n_out);
      d.argmax = malloc(sizeof(int32_t) * d.n_out);
      fill_distinct(d.inp, d.n_inp, 40 + i);
      leap_test_fill_uniform(d.wout, d.n_out, -1.0f, 1.0f, 60 + i);
      check_mode(&d, c->name);
#ifdef LEAP_WITH_OPENMP
      check_threads(&d, c->name);
#endif
      free(d.inp), free(d.out), free(d.wout), free(d.argmax);
    }
  }
  return leap_test_finish();
}
