/* leap_groupnorm_{forward,backward}_cpu against PyTorch's F.group_norm on NHWC tensors permuted by
 * tools/make_fixtures.py (tests/fixtures/groupnorm.safetensors): 3 groups of 4, instance norm (G = C), one group,
 * and 4 groups of 8 channels, with the saved mean and rstd (N,G). Tolerances: |got - want| <= 1e-6 + 1e-5 |want|,
 * except 1e-5 + 1e-5 |want| for dgamma and dbeta (fp32 sums over N*HW rows), against float64 references. The
 * backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/groupnorm/groupnorm.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define PARAM_GRAD_ATOL 1e-5 /* dgamma, dbeta: sums over N*HW rows of O(1) terms */

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t N = leap_fixture_int(fx, c, "N"), HW = leap_fixture_int(fx, c, "H") * leap_fixture_int(fx, c, "W");
  int64_t C = leap_fixture_int(fx, c, "C"), G = leap_fixture_int(fx, c, "G");
  float eps = leap_fixture_float(fx, c, "eps");
  int64_t n = N * HW * C;
  float *x = leap_fixture_f32(fx, c, "x", n), *dout = leap_fixture_f32(fx, c, "dout", n);
  float *gamma = leap_fixture_f32(fx, c, "gamma", C), *beta = leap_fixture_f32(fx, c, "beta", C);
  float *out = leap_fixture_poisoned(n), *mean = leap_fixture_poisoned(N * G), *rstd = leap_fixture_poisoned(N * G);
  float *dx = leap_fixture_zeros(n), *dgamma = leap_fixture_zeros(C), *dbeta = leap_fixture_zeros(C);
  float *ws = malloc((leap_groupnorm_workspace_floats(N, HW, C) + 1) * sizeof(float));
  if (x && dout && gamma && beta) {
    leap_groupnorm_forward_cpu(out, mean, rstd, x, gamma, beta, N, HW, C, G, eps, ws);
    leap_fixture_check(fx, c, "out", out, n, ATOL, RTOL);
    leap_fixture_check(fx, c, "mean", mean, N * G, ATOL, RTOL);
    leap_fixture_check(fx, c, "rstd", rstd, N * G, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_groupnorm_backward_cpu(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, N, HW, C, G, ws);
      leap_fixture_check_times(fx, c, "dx", dx, n, (float)pass, ATOL, RTOL);
      leap_fixture_check_times(fx, c, "dgamma", dgamma, C, (float)pass, PARAM_GRAD_ATOL, RTOL);
      leap_fixture_check_times(fx, c, "dbeta", dbeta, C, (float)pass, PARAM_GRAD_ATOL, RTOL);
    }
  }
  free(x), free(dout), free(gamma), free(beta), free(out), free(mean), free(rstd), free(dx), free(dgamma),
      free(dbeta), free(ws);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "groupnorm")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
