/* leap_linear_{forward,backward}_cpu against PyTorch's F.linear (tests/fixtures/linear.safetensors, made by
 * tools/make_fixtures.py). Tolerances: |got - want| <= 1e-6 + 1e-5 |want| for out, 1e-5 + 1e-5 |want| for the
 * gradients (dweight and dbias sum over up to 33 rows of O(1) terms that mostly cancel, which costs fp32 ~1e-6
 * absolute), against float64 references. The backward runs twice into the same buffers to check that it
 * accumulates. */
#include <stdlib.h>

#include "kernels/linear/linear.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define GRAD_ATOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t N = leap_fixture_int(fx, c, "N"), IN = leap_fixture_int(fx, c, "IN"), OUT = leap_fixture_int(fx, c, "OUT");
  bool has_bias = leap_fixture_int(fx, c, "bias") != 0;
  float *x = leap_fixture_f32(fx, c, "x", N * IN), *w = leap_fixture_f32(fx, c, "w", OUT * IN);
  float *b = has_bias ? leap_fixture_f32(fx, c, "b", OUT) : NULL, *dout = leap_fixture_f32(fx, c, "dout", N * OUT);
  float *out = leap_fixture_poisoned(N * OUT), *dx = leap_fixture_zeros(N * IN), *dw = leap_fixture_zeros(OUT * IN);
  float *db = has_bias ? leap_fixture_zeros(OUT) : NULL;
  float *ws = malloc((leap_linear_backward_workspace_floats(N, OUT) + 1) * sizeof(float));
  if (x && w && dout && (b || !has_bias)) {
    leap_linear_forward_cpu(out, x, w, b, N, IN, OUT);
    leap_fixture_check(fx, c, "out", out, N * OUT, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_linear_backward_cpu(dx, dw, db, ws, dout, x, w, N, IN, OUT);
      leap_fixture_check_times(fx, c, "dx", dx, N * IN, (float)pass, GRAD_ATOL, RTOL);
      leap_fixture_check_times(fx, c, "dw", dw, OUT * IN, (float)pass, GRAD_ATOL, RTOL);
      if (has_bias) leap_fixture_check_times(fx, c, "db", db, OUT, (float)pass, GRAD_ATOL, RTOL);
    }
  }
  free(x), free(w), free(b), free(dout), free(out), free(dx), free(dw), free(db), free(ws);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "linear")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
