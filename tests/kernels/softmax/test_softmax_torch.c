/* leap_softmax_{forward,backward}_cpu against torch.softmax over the last dimension, including rows of 1000
 * logits spread over +-100 (tests/fixtures/softmax.safetensors, made by tools/make_fixtures.py). Tolerances:
 * |got - want| <= 1e-6 + 1e-5 |want|, against float64 references. The backward runs twice to check that it
 * accumulates. */
#include <stdlib.h>

#include "kernels/softmax/softmax.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t N = leap_fixture_int(fx, c, "N"), C = leap_fixture_int(fx, c, "C");
  float *x = leap_fixture_f32(fx, c, "x", N * C), *dout = leap_fixture_f32(fx, c, "dout", N * C);
  float *out = leap_fixture_poisoned(N * C), *dx = leap_fixture_zeros(N * C);
  if (x && dout) {
    leap_softmax_forward_cpu(out, x, N, C);
    leap_fixture_check(fx, c, "out", out, N * C, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_softmax_backward_cpu(dx, dout, out, N, C);
      leap_fixture_check_times(fx, c, "dx", dx, N * C, (float)pass, ATOL, RTOL);
    }
  }
  free(x), free(dout), free(out), free(dx);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "softmax")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
