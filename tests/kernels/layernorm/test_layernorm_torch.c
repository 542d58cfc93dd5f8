/* leap_layernorm_{forward,backward}_cpu against PyTorch's F.layer_norm, including the saved mean and rstd
 * (tests/fixtures/layernorm.safetensors, made by tools/make_fixtures.py), on rows shifted off zero (mean 5 and -2)
 * as well as centred ones. Tolerances: |got - want| <= 1e-6 + 1e-5 |want|, against float64 references. The
 * backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/layernorm/layernorm.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t N = leap_fixture_int(fx, c, "N"), C = leap_fixture_int(fx, c, "C");
  float eps = leap_fixture_float(fx, c, "eps");
  float *x = leap_fixture_f32(fx, c, "x", N * C), *w = leap_fixture_f32(fx, c, "w", C);
  float *b = leap_fixture_f32(fx, c, "b", C), *dout = leap_fixture_f32(fx, c, "dout", N * C);
  float *out = leap_fixture_poisoned(N * C), *mean = leap_fixture_poisoned(N), *rstd = leap_fixture_poisoned(N);
  float *dx = leap_fixture_zeros(N * C), *dw = leap_fixture_zeros(C), *db = leap_fixture_zeros(C);
  float *ws = malloc((leap_layernorm_backward_workspace_floats(N, C) + 1) * sizeof(float));
  if (x && w && b && dout) {
    leap_layernorm_forward_cpu(out, mean, rstd, x, w, b, N, C, eps);
    leap_fixture_check(fx, c, "out", out, N * C, ATOL, RTOL);
    leap_fixture_check(fx, c, "mean", mean, N, ATOL, RTOL);
    leap_fixture_check(fx, c, "rstd", rstd, N, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_layernorm_backward_cpu(dx, dw, db, ws, dout, x, w, mean, rstd, N, C);
      leap_fixture_check_times(fx, c, "dx", dx, N * C, (float)pass, ATOL, RTOL);
      leap_fixture_check_times(fx, c, "dw", dw, C, (float)pass, ATOL, RTOL);
      leap_fixture_check_times(fx, c, "db", db, C, (float)pass, ATOL, RTOL);
    }
  }
  free(x), free(w), free(b), free(dout), free(out), free(mean), free(rstd), free(dx), free(dw), free(db), free(ws);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "layernorm")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
