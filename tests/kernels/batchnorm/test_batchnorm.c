/* batchnorm CPU kernels: training and evaluation forward against a double-precision reference (outputs, saved
 * statistics, running-statistics update with the unbiased variance), both backwards against reference gradients
 * (accumulating into existing values), finite-difference gradient checks of dinp, dgamma and dbeta, NULL
 * gradients, and bit-identical results on 1 and 2 threads. Row counts cover one partial block, several blocks with
 * a partial last one, an exact multiple of the block, and the minimum of two rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

typedef struct bn_case {
  const char *name;
  int64_t N, H, W, C;
  int affine; /* 0: gamma and beta are NULL */
} bn_case;

static const bn_case CASES[] = {
    {"one partial block", 2, 3, 5, 3, 1},
    {"odd rows 7x9", 4, 7, 9, 5, 1},
    {"exact blocks C17", 3, 8, 8, 17, 1},
    {"two rows", 1, 1, 2, 4, 1},
    {"no affine", 2, 5, 7, 6, 0},
    {"larger", 8, 16, 16, 64, 1},
};

static const float MOMENTUM = 0.1f, EPS = 1e-5f;

typedef struct bn_data {
  int64_t M, C;
  float *inp, *gamma, *beta, *out, *wout, *mean, *invstd, *rmean, *rvar, *ws;
  int train; /* 1: the training-mode functions run, 0: the evaluation-mode ones */
} bn_data;

/* Mean and biased variance of each channel, in double. */
static void ref_stats(double *mean, double *var, const float *x, int64_t M, int64_t C) {
  for (int64_t c = 0; c < C; c++) {
    double s = 0.0, q = 0.0;
    for (int64_t r = 0; r < M; r++) s += x[r * C + c];
    mean[c] = s / M;
    for (int64_t r = 0; r < M; r++) q += (x[r * C + c] - mean[c]) * (x[r * C + c] - mean[c]);
    var[c] = q / M;
  }
}

static float *to_float(const double *x, int64_t n) {
  float *y = malloc(sizeof(float) * n);
  for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
  return y;
}

static double gamma_of(const bn_data *d, int64_t c) { return d->gamma ? d->gamma[c] : 1.0; }
static double beta_of(const bn_data *d, int64_t c) { return d->beta ? d->beta[c] : 0.0; }

static void forward(bn_data *d) {
  if (d->train)
    leap_batchnorm_forward_train_cpu(d->out, d->mean, d->invstd, d->rmean, d->rvar, d->inp, d->gamma, d->beta, d->M,
                                     d->C, MOMENTUM, EPS, d->ws);
  else
    leap_batchnorm_forward_eval_cpu(d->out, d->inp, d->gamma, d->beta, d->rmean, d->rvar, d->M, d->C, EPS, d->ws);
}

static void backward(bn_data *d, float *dinp, float *dgamma, float *dbeta) {
  if (d->train)
    leap_batchnorm_backward_train_cpu(dinp, dgamma, dbeta, d->wout, d->inp, d->gamma, d->mean, d->invstd, d->M, d->C,
                                      d->ws);
  else
    leap_batchnorm_backward_eval_cpu(dinp, dgamma, dbeta, d->wout, d->inp, d->gamma, d->rmean, d->rvar, d->M, d->C,
                                     EPS, d->ws);
}

static double bn_loss(void *user) {
  bn_data *d = user;
  forward(d);
  return leap_test_dot(d->out, d->wout, d->M * d->C);
}

static void check_train_forward(bn_data *d, const char *name) {
  const int64_t M = d->M, C = d->C;
  double *mean = malloc(sizeof(double) * C), *var = malloc(sizeof(double) * C), *out = malloc(sizeof(double) * M * C);
  double *rm = malloc(sizeof(double) * C), *rv = malloc(sizeof(double) * C), *inv = malloc(sizeof(double) * C);
  ref_stats(mean, var, d->inp, M, C);
  for (int64_t c = 0; c < C; c++) {
    inv[c] = 1.0 / sqrt(var[c] + EPS);
    rm[c] = (1.0 - MOMENTUM) * d->rmean[c] + MOMENTUM * mean[c];
    rv[c] = (1.0 - MOMENTUM) * d->rvar[c] + MOMENTUM * var[c] * M / (M - 1);
  }
  for (int64_t r = 0; r < M; r++)
    for (int64_t c = 0; c < C; c++)
      out[r * C + c] = (d->inp[r * C + c] - mean[c]) * inv[c] * gamma_of(d, c) + beta_of(d, c);
  leap_test_poison(d->out, M * C), leap_test_poison(d->mean, C), leap_test_poison(d->invstd, C);
  d->train = 1;
  forward(d);
  float *f[5] = {to_float(out, M * C), to_float(mean, C), to_float(inv, C), to_float(rm, C), to_float(rv, C)};
  const float *got[5] = {d->out, d->mean, d->invstd, d->rmean, d->rvar};
  static const char *names[5] = {"out", "mean", "invstd", "running_mean", "running_var"};
  for (int i = 0; i < 5; i++) {
    char what[160];
    snprintf(what, sizeof what, "%s: train forward %s", name, names[i]);
    leap_test_allclose(what, got[i], f[i], i == 0 ? M * C : C, 1e-5, 1e-4);
    free(f[i]);
  }
  free(mean), free(var), free(out), free(rm), free(rv), free(inv);
}

static void check_eval_forward(bn_data *d, const char *name) {
  const int64_t M = d->M, C = d->C;
  double *out = malloc(sizeof(double) * M * C);
  for (int64_t r = 0; r < M; r++)
    for (int64_t c = 0; c < C; c++)
      out[r * C + c] = (d->inp[r * C + c] - d->rmean[c]) / sqrt((double)d->rvar[c] + EPS) * gamma_of(d, c) +
                       beta_of(d, c);
  leap_test_poison(d->out, M * C);
  d->train = 0;
  forward(d);
  float *want = to_float(out, M * C);
  char what[160];
  snprintf(what, sizeof what, "%s: eval forward", name);
  leap_test_allclose(what, d->out, want, M * C, 1e-5, 1e-4);
  free(out), free(want);
}

/* Reference gradients in double, added onto g (dinp, dgamma, dbeta): through the batch statistics in training
 * mode, with the running statistics as constants in evaluation mode. */
static void ref_backward(bn_data *d, double *g[3]) {
  const int64_t M = d->M, C = d->C;
  double *mean = malloc(sizeof(double) * C), *var = malloc(sizeof(double) * C);
  ref_stats(mean, var, d->inp, M, C);
  for (int64_t c = 0; c < C; c++) {
    double mu = d->train ? mean[c] : d->rmean[c], v = d->train ? var[c] : d->rvar[c];
    double inv = 1.0 / sqrt(v + EPS), sdy = 0.0, sdyx = 0.0;
    for (int64_t r = 0; r < M; r++) {
      double dy = d->wout[r * C + c], xhat = (d->inp[r * C + c] - mu) * inv;
      sdy += dy, sdyx += dy * xhat;
    }
    g[1][c] += sdyx, g[2][c] += sdy;
    for (int64_t r = 0; r < M; r++) {
      double dy = d->wout[r * C + c], xhat = (d->inp[r * C + c] - mu) * inv;
      double dx = d->train ? (dy - sdy / M - xhat * sdyx / M) : dy;
      g[0][r * C + c] += gamma_of(d, c) * inv * dx;
    }
  }
  free(mean), free(var);
}

static void check_backward(bn_data *d, const char *name) {
  static const char *names[3] = {"dinp", "dgamma", "dbeta"};
  const char *mode = d->train ? "train" : "eval";
  const int64_t n[3] = {d->M * d->C, d->C, d->C};
  float *g[3], *zero[3], *one[3];
  double *ref[3];
  char what[160];
  for (int i = 0; i < 3; i++) {
    g[i] = malloc(sizeof(float) * n[i]), ref[i] = malloc(sizeof(double) * n[i]);
    zero[i] = calloc(n[i], sizeof(float)), one[i] = calloc(n[i], sizeof(float));
    leap_test_fill_uniform(g[i], n[i], -1.0f, 1.0f, 30 + i);
    for (int64_t j = 0; j < n[i]; j++) ref[i][j] = g[i][j];
  }
  forward(d); /* the training backward needs this input's saved statistics */
  ref_backward(d, ref);
  backward(d, g[0], g[1], g[2]);
  backward(d, zero[0], zero[1], zero[2]);
  for (int i = 0; i < 3; i++) {
    float *want = to_float(ref[i], n[i]);
    snprintf(what, sizeof what, "%s: %s backward %s accumulated vs reference", name, mode, names[i]);
    leap_test_allclose(what, g[i], want, n[i], 1e-4, 1e-4);
    free(want);
    backward(d, i == 0 ? one[0] : NULL, i == 1 ? one[1] : NULL, i == 2 ? one[2] : NULL);
    LEAP_TEST_ASSERT(memcmp(one[i], zero[i], sizeof(float) * n[i]) == 0, "%s: %s %s alone differs", name, mode,
                     names[i]);
  }
  /* Smooth in every argument; eps 1e-2 keeps the fp32 rounding of the forward well under rtol 1e-2. */
  float *x[3] = {d->inp, d->gamma, d->beta};
  for (int i = 0; i < 3; i++) {
    if (!x[i]) continue;
    snprintf(what, sizeof what, "%s: %s %s", name, mode, names[i]);
    leap_test_gradcheck(what, bn_loss, d, x[i], zero[i], n[i], 1e-2, 1e-3, 1e-2, 60);
  }
  for (int i = 0; i < 3; i++) free(g[i]), free(ref[i]), free(zero[i]), free(one[i]);
}

#ifdef LEAP_WITH_OPENMP
/* All outputs of the training and evaluation passes on `threads` threads, concatenated into res. */
static void run_all(bn_data *d, int threads, float *res) {
  const int64_t MC = d->M * d->C, C = d->C;
  omp_set_num_threads(threads);
  leap_test_fill_uniform(d->rmean, C, -0.5f, 0.5f, 7), leap_test_fill_uniform(d->rvar, C, 0.5f, 2.0f, 8);
  memset(res, 0, sizeof(float) * (3 * MC + 8 * C));
  d->train = 1;
  forward(d);
  memcpy(res, d->out, sizeof(float) * MC);
  backward(d, res + MC, res + 3 * MC, res + 3 * MC + C);
  memcpy(res + 3 * MC + 2 * C, d->mean, sizeof(float) * C), memcpy(res + 3 * MC + 3 * C, d->invstd, sizeof(float) * C);
  memcpy(res + 3 * MC + 4 * C, d->rmean, sizeof(float) * C), memcpy(res + 3 * MC + 5 * C, d->rvar, sizeof(float) * C);
  d->train = 0;
  forward(d);
  memcpy(res + 2 * MC, d->out, sizeof(float) * MC);
  backward(d, res + 2 * MC, res + 3 * MC + 6 * C, res + 3 * MC + 7 * C);
}

static void check_threads(bn_data *d, const char *name) {
  size_t n = (size_t)(3 * d->M * d->C + 8 * d->C);
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
    const bn_case *c = &CASES[i];
    bn_data d = {.M = c->N * c->H * c->W, .C = c->C};
    const int64_t MC = d.M * d.C, C = d.C;
    d.inp = malloc(sizeof(float) * MC), d.out = malloc(sizeof(float) * MC), d.wout = malloc(sizeof(float) * MC);
    d.gamma = c->affine ? malloc(sizeof(float) * C) : NULL, d.beta = c->affine ? malloc(sizeof(float) * C) : NULL;
    d.mean = malloc(sizeof(float) * C), d.invstd = malloc(sizeof(float) * C);
    d.rmean = malloc(sizeof(float) * C), d.rvar = malloc(sizeof(float) * C);
    d.ws = malloc(sizeof(float) * leap_batchnorm_workspace_floats(d.M, C));
    leap_test_fill_uniform(d.inp, MC, -1.0f, 3.0f, 20 + i);
    leap_test_fill_uniform(d.wout, MC, -1.0f, 1.0f, 21 + i);
    if (c->affine) leap_test_fill_uniform(d.gamma, C, 0.5f, 1.5f, 22 + i), leap_test_fill_uniform(d.beta, C, -1, 1, 23);
    leap_test_fill_uniform(d.rmean, C, -0.5f, 0.5f, 24 + i), leap_test_fill_uniform(d.rvar, C, 0.5f, 2.0f, 25 + i);
    check_train_forward(&d, c->name);
    check_eval_forward(&d, c->name);
    d.train = 1;
    check_backward(&d, c->name);
    d.train = 0;
    check_backward(&d, c->name);
#ifdef LEAP_WITH_OPENMP
    check_threads(&d, c->name);
#endif
    free(d.inp), free(d.out), free(d.wout), free(d.gamma), free(d.beta), free(d.mean), free(d.invstd);
    free(d.rmean), free(d.rvar), free(d.ws);
  }
  return leap_test_finish();
}
