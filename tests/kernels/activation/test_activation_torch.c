/* GELU (tanh approximation) and ReLU against PyTorch's F.gelu(x, approximate='tanh') and F.relu
 * (tests/fixtures/activation.safetensors, made by tools/make_fixtures.py, over [-6, 6], random values and +-9,
 * +-20). Tolerances: |got - want| <= 1e-6 + 1e-5 |want|, against float64 references. The backward runs twice to
 * check that it accumulates. */
#include <stdlib.h>
#include <string.h>

#include "kernels/activation/activation.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  bool gelu = strcmp(c, "gelu") == 0;
  if (!LEAP_TEST_ASSERT(gelu || strcmp(c, "relu") == 0, "unknown case '%s'", c)) return;
  int64_t n = leap_fixture_int(fx, c, "n");
  float *x = leap_fixture_f32(fx, c, "x", n), *dout = leap_fixture_f32(fx, c, "dout", n);
  float *out = leap_fixture_poisoned(n), *dx = leap_fixture_zeros(n);
  if (x && dout) {
    (gelu ? leap_gelu_forward_cpu : leap_relu_forward_cpu)(out, x, n);
    leap_fixture_check(fx, c, "out", out, n, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      (gelu ? leap_gelu_backward_cpu : leap_relu_backward_cpu)(dx, dout, x, n);
      leap_fixture_check_times(fx, c, "dx", dx, n, (float)pass, ATOL, RTOL);
    }
  }
  free(x), free(dout), free(out), free(dx);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "activation")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
