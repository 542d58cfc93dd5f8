/* groupnorm CPU kernel: forward (outputs, saved mean and rstd) and backward (accumulating into existing gradients)
 * against a double-precision reference, finite-difference gradient checks of dinp, dgamma and dbeta, NULL
 * gradients, and bit-identical results on 1 and 2 threads. Cases cover G = 1 (layer-norm-like), G = C
 * (instance-norm-like), odd sizes, row counts below, at and above one reduction block, and no affine transform. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/groupnorm/groupnorm.h"
#include "tests/common/leap_test.h"

typedef struct gn_case {
  const char *name;
  int64_t N, H, W, C, G;
  int affine; /* 0: gamma and beta are NULL */
} gn_case;

static const gn_case CASES[] = {
    {"3 groups of 2", 2, 3, 5, 6, 3, 1},
    {"two blocks 7x11", 3, 7, 11, 8, 2, 1},
    {"instance norm, exact block", 2, 8, 8, 12, 12, 1},
    {"one group, 3 blocks", 1, 10, 13, 4, 1, 1},
    {"no affine", 4, 5, 5, 32, 8, 0},
    {"larger", 2, 16, 16, 64, 32, 1},
};

static const float EPS = 1e-5f;

typedef struct gn_data {
  int64_t N, HW, C, G;
  float *inp, *gamma, *beta, *out, *wout, *mean, *rstd, *ws;
} gn_data;

static double gamma_of(const gn_data *d, int64_t c) { return d->gamma ? d->gamma[c] : 1.0; }
static double beta_of(const gn_data *d, int64_t c) { return d->beta ? d->beta[c] : 0.0; }

static float *to_float(const double *x, int64_t n) {
  float *y = malloc(sizeof(float) * n);
  for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
  return y;
}

/* Mean and rstd of group g of image n, in double. */
static void ref_group_stats(const gn_data *d, int64_t n, int64_t g, double *mean, double *rstd) {
  const int64_t cg = d->C / d->G;
  double s = 0.0, q = 0.0, count = (double)(d->HW * cg);
  for (int64_t r = 0; r < d->HW; r++)
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) s += d->inp[(n * d->HW + r) * d->C + c];
  *mean = s / count;
  for (int64_t r = 0; r < d->HW; r++)
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
      double v = d->inp[(n * d->HW + r) * d->C + c] - *mean;
      q += v * v;
    }
  *rstd = 1.0 / sqrt(q / count + EPS);
}

/* The reference forward into out, mean, rstd and, with res non-NULL, the reference gradients added onto
 * res = {dinp, dgamma, dbeta} for dout = wout. */
static void reference(const gn_data *d, double *out, double *mean, double *rstd, double *res[3]) {
  const int64_t cg = d->C / d->G, C = d->C;
  const double count = (double)(d->HW * cg);
  for (int64_t n = 0; n < d->N; n++)
    for (int64_t g = 0; g < d->G; g++) {
      double mu, rs, A = 0.0, B = 0.0;
      ref_group_stats(d, n, g, &mu, &rs);
      mean[n * d->G + g] = mu, rstd[n * d->G + g] = rs;
      for (int pass = 0; pass < 2; pass++)
        for (int64_t r = 0; r < d->HW; r++)
          for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
            int64_t i = (n * d->HW + r) * C + c;
            double xhat = (d->inp[i] - mu) * rs, dy = d->wout[i], dxhat = dy * gamma_of(d, c);
            if (pass == 0) {
              out[i] = xhat * gamma_of(d, c) + beta_of(d, c);
              A += dxhat, B += dxhat * xhat;
              if (res) res[1][c] += dy * xhat, res[2][c] += dy;
            } else if (res) {
              res[0][i] += rs * (dxhat - A / count - xhat * B / count);
            }
          }
    }
}

static void forward(gn_data *d) {
  leap_groupnorm_forward_cpu(d->out, d->mean, d->rstd, d->inp, d->gamma, d->beta, d->N, d->HW, d->C, d->G, EPS, d->ws);
}

static void backward(gn_data *d, float *dinp, float *dgamma, float *dbeta) {
  leap_groupnorm_backward_cpu(dinp, dgamma, dbeta, d->wout, d->inp, d->gamma, d->mean, d->rstd, d->N, d->HW, d->C,
                              d->G, d->ws);
}

static double gn_loss(void *user) {
  gn_data *d = user;
  forward(d);
  return leap_test_dot(d->out, d->wout, d->N * d->HW * d->C);
}

static void check_case(gn_data *d, const char *name) {
  static const char *names[3] = {"dinp", "dgamma", "dbeta"};
  const int64_t NG = d->N * d->G, n[3] = {d->N * d->HW * d->C, d->C, d->C};
  double *out = malloc(sizeof(double) * n[0]), *mean = malloc(sizeof(double) * NG), *rstd = malloc(sizeof(double) * NG);
  float *g[3], *zero[3], *one[3];
  double *ref[3];
  char what[160];
  for (int i = 0; i < 3; i++) {
    g[i] = malloc(sizeof(float) * n[i]), ref[i] = malloc(sizeof(double) * n[i]);
    zero[i] = calloc(n[i], sizeof(float)), one[i] = calloc(n[i], sizeof(float));
    leap_test_fill_uniform(g[i], n[i], -1.0f, 1.0f, 70 + i);
    for (int64_t j = 0; j < n[i]; j++) ref[i][j] = g[i][j];
  }
  reference(d, out, mean, rstd, ref);
  leap_test_poison(d->out, n[0]), leap_test_poison(d->mean, NG), leap_test_poison(d->rstd, NG);
  forward(d);
  float *f[3] = {to_float(out, n[0]), to_float(mean, NG), to_float(rstd, NG)};
  const float *got[3] = {d->out, d->mean, d->rstd};
  static const char *fnames[3] = {"out", "mean", "rstd"};
  for (int i = 0; i < 3; i++) {
    snprintf(what, sizeof what, "%s: forward %s", name, fnames[i]);
    leap_test_allclose(what, got[i], f[i], i == 0 ? n[0] : NG, 1e-5, 1e-4);
    free(f[i]);
  }
  backward(d, g[0], g[1], g[2]);
  backward(d, zero[0], zero[1], zero[2]);
  for (int i = 0; i < 3; i++) {
    float *want = to_float(ref[i], n[i]);
    snprintf(what, sizeof what, "%s: backward %s accumulated vs reference", name, names[i]);
    leap_test_allclose(what, g[i], want, n[i], 1e-4, 1e-4);
    free(want);
    backward(d, i == 0 ? one[0] : NULL, i == 1 ? one[1] : NULL, i == 2 ? one[2] : NULL);
    LEAP_TEST_ASSERT(memcmp(one[i], zero[i], sizeof(float) * n[i]) == 0, "%s: %s alone differs", name, names[i]);
  }
  /* Smooth in every argument; eps 1e-2 keeps the fp32 rounding of the forward well under rtol 1e-2. */
  float *x[3] = {d->inp, d->gamma, d->beta};
  for (int i = 0; i < 3; i++) {
    if (!x[i]) continue;
    snprintf(what, sizeof what, "%s: %s", name, names[i]);
    leap_test_gradcheck(what, gn_loss, d, x[i], zero[i], n[i], 1e-2, 1e-3, 1e-2, 60);
  }
  for (int i = 0; i < 3; i++) free(g[i]), free(ref[i]), free(zero[i]), free(one[i]);
  free(out), free(mean), free(rstd);
}

#ifdef LEAP_WITH_OPENMP
/* out, mean, rstd and the three gradients on `threads` threads, concatenated into res. */
static void run_all(gn_data *d, int threads, float *res) {
  const int64_t n = d->N * d->HW * d->C, NG = d->N * d->G, C = d->C;
  omp_set_num_threads(threads);
  memset(res, 0, sizeof(float) * (2 * n + 2 * NG + 2 * C));
  forward(d);
  memcpy(res, d->out, sizeof(float) * n);
  memcpy(res + n, d->mean, sizeof(float) * NG), memcpy(res + n + NG, d->rstd, sizeof(float) * NG);
  backward(d, res + n + 2 * NG, res + 2 * n + 2 * NG, res + 2 * n + 2 * NG + C);
}

static void check_threads(gn_data *d, const char *name) {
  size_t n = (size_t)(2 * d->N * d->HW * d->C + 2 * d->N * d->G + 2 * d->C);
  float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
  int saved = omp_get_max_threads();
  run_all(d, 1, a);
  run_all(d, 2, b);
  omp_set_num_threads(saved);
  LEAP_TEST_ASSERT(memcmp(a, b, sizeof(float) * n) == 0, "%s: results differ on 1 and 2 threads", name);
  free(a), free(b);
}
#endif

int main(void) {
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    const gn_case *c = &CASES[i];
    gn_data d = {.N = c->N, .HW = c->H * c->W, .C = c->C, .G = c->G};
    const int64_t n = d.N * d.HW * d.C, NG = d.N * d.G;
    d.inp = malloc(sizeof(float) * n), d.out = malloc(sizeof(float) * n), d.wout = malloc(sizeof(float) * n);
    d.gamma = c->affine ? malloc(sizeof(float) * d.C) : NULL, d.beta = c->affine ? malloc(sizeof(float) * d.C) : NULL;
    d.mean = malloc(sizeof(float) * NG), d.rstd = malloc(sizeof(float) * NG);
    d.ws = malloc(sizeof(float) * leap_groupnorm_workspace_floats(d.N, d.HW, d.C));
    leap_test_fill_uniform(d.inp, n, -1.0f, 3.0f, 80 + i);
    leap_test_fill_uniform(d.wout, n, -1.0f, 1.0f, 81 + i);
    if (c->affine) leap_test_fill_uniform(d.gamma, d.C, 0.5f, 1.5f, 82), leap_test_fill_uniform(d.beta, d.C, -1, 1, 83);
    check_case(&d, c->name);
#ifdef LEAP_WITH_OPENMP
    check_threads(&d, c->name);
#endif
    free(d.inp), free(d.out), free(d.wout), free(d.gamma), free(d.beta), free(d.mean), free(d.rstd), free(d.ws);
  }
  return leap_test_finish();
}
