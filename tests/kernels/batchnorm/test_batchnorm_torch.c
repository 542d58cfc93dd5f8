/* Batch normalisation against PyTorch's F.batch_norm on NHWC tensors permuted by tools/make_fixtures.py
 * (tests/fixtures/batchnorm.safetensors): training mode (output, saved mean and invstd, gradients, and the running
 * statistics updated with momentum 0.1 from the unbiased variance), including 1x1 maps with M = 3 rows, and
 * evaluation mode (running statistics as constants). Tolerances: |got - want| <= 1e-6 + 1e-5 |want|, except
 * 1e-5 + 1e-5 |want| for dgamma and dbeta (fp32 sums over up to 60 rows of terms that mostly cancel: 2.3e-6 off
 * in train_a), against float64 references. The backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/batchnorm/batchnorm.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define PARAM_GRAD_ATOL 1e-5 /* dgamma, dbeta: sums over M = N*H*W rows of O(1) terms */

typedef struct bn_data {
  int64_t M, C;
  float momentum, eps;
  float *x, *gamma, *beta, *rmean, *rvar, *dout;
} bn_data;

static void run_train(const leap_fixture *fx, const char *c, const bn_data *d, float *ws) {
  int64_t M = d->M, C = d->C;
  float *out = leap_fixture_poisoned(M * C), *mean = leap_fixture_poisoned(C), *invstd = leap_fixture_poisoned(C);
  float *dx = leap_fixture_zeros(M * C), *dgamma = leap_fixture_zeros(C), *dbeta = leap_fixture_zeros(C);
  leap_batchnorm_forward_train_cpu(out, mean, invstd, d->rmean, d->rvar, d->x, d->gamma, d->beta, M, C, d->momentum,
                                   d->eps, ws);
  leap_fixture_check(fx, c, "out", out, M * C, ATOL, RTOL);
  leap_fixture_check(fx, c, "mean", mean, C, ATOL, RTOL);
  leap_fixture_check(fx, c, "invstd", invstd, C, ATOL, RTOL);
  leap_fixture_check(fx, c, "running_mean_out", d->rmean, C, ATOL, RTOL);
  leap_fixture_check(fx, c, "running_var_out", d->rvar, C, ATOL, RTOL);
  for (int pass = 1; pass <= 2; pass++) {
    leap_batchnorm_backward_train_cpu(dx, dgamma, dbeta, d->dout, d->x, d->gamma, mean, invstd, M, C, ws);
    leap_fixture_check_times(fx, c, "dx", dx, M * C, (float)pass, ATOL, RTOL);
    leap_fixture_check_times(fx, c, "dgamma", dgamma, C, (float)pass, PARAM_GRAD_ATOL, RTOL);
    leap_fixture_check_times(fx, c, "dbeta", dbeta, C, (float)pass, PARAM_GRAD_ATOL, RTOL);
  }
  free(out), free(mean), free(invstd), free(dx), free(dgamma), free(dbeta);
}

static void run_eval(const leap_fixture *fx, const char *c, const bn_data *d, float *ws) {
  int64_t M = d->M, C = d->C;
  float *out = leap_fixture_poisoned(M * C);
  float *dx = leap_fixture_zeros(M * C), *dgamma = leap_fixture_zeros(C), *dbeta = leap_fixture_zeros(C);
  leap_batchnorm_forward_eval_cpu(out, d->x, d->gamma, d->beta, d->rmean, d->rvar, M, C, d->eps, ws);
  leap_fixture_check(fx, c, "out", out, M * C, ATOL, RTOL);
  for (int pass = 1; pass <= 2; pass++) {
    leap_batchnorm_backward_eval_cpu(dx, dgamma, dbeta, d->dout, d->x, d->gamma, d->rmean, d->rvar, M, C, d->eps, ws);
    leap_fixture_check_times(fx, c, "dx", dx, M * C, (float)pass, ATOL, RTOL);
    leap_fixture_check_times(fx, c, "dgamma", dgamma, C, (float)pass, PARAM_GRAD_ATOL, RTOL);
    leap_fixture_check_times(fx, c, "dbeta", dbeta, C, (float)pass, PARAM_GRAD_ATOL, RTOL);
  }
  free(out), free(dx), free(dgamma), free(dbeta);
}

static void run_case(const leap_fixture *fx, const char *c) {
  bn_data d = {.C = leap_fixture_int(fx, c, "C"), .momentum = leap_fixture_float(fx, c, "momentum"),
               .eps = leap_fixture_float(fx, c, "eps")};
  d.M = leap_fixture_int(fx, c, "N") * leap_fixture_int(fx, c, "H") * leap_fixture_int(fx, c, "W");
  d.x = leap_fixture_f32(fx, c, "x", d.M * d.C), d.dout = leap_fixture_f32(fx, c, "dout", d.M * d.C);
  d.gamma = leap_fixture_f32(fx, c, "gamma", d.C), d.beta = leap_fixture_f32(fx, c, "beta", d.C);
  d.rmean = leap_fixture_f32(fx, c, "running_mean_in", d.C), d.rvar = leap_fixture_f32(fx, c, "running_var_in", d.C);
  float *ws = malloc((leap_batchnorm_workspace_floats(d.M, d.C) + 1) * sizeof(float));
  if (d.x && d.dout && d.gamma && d.beta && d.rmean && d.rvar)
    (leap_fixture_int(fx, c, "training") ? run_train : run_eval)(fx, c, &d, ws);
  free(d.x), free(d.dout), free(d.gamma), free(d.beta), free(d.rmean), free(d.rvar), free(ws);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "batchnorm")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
