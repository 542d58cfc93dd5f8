/* leap_conv2d_{forward,backward}_cpu against PyTorch's F.conv2d, with NCHW/KCRS tensors permuted to leap's NHWC
 * input and (K,R,S,C) weight by tools/make_fixtures.py (tests/fixtures/conv2d.safetensors): 3x3 pad 1, stride 2,
 * 5x5 stride 2 pad 2 without bias, 1x1, a 7x7 stride-2 stem on C=3, no padding, and unequal strides and padding.
 * Tolerances: |got - want| <= 1e-6 + 1e-5 |want| for out, 1e-5 + 1e-5 |want| for the gradients (sums over up to
 * a few hundred products), against float64 references. The backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define GRAD_ATOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  leap_conv2d_shape s;
  leap_conv2d_shape_init(&s, leap_fixture_int(fx, c, "N"), leap_fixture_int(fx, c, "H"), leap_fixture_int(fx, c, "W"),
                         leap_fixture_int(fx, c, "C"), leap_fixture_int(fx, c, "K"), leap_fixture_int(fx, c, "R"),
                         leap_fixture_int(fx, c, "S"), leap_fixture_int(fx, c, "stride_h"),
                         leap_fixture_int(fx, c, "stride_w"), leap_fixture_int(fx, c, "pad_h"),
                         leap_fixture_int(fx, c, "pad_w"));
  if (!LEAP_TEST_ASSERT(s.P == leap_fixture_int(fx, c, "P") && s.Q == leap_fixture_int(fx, c, "Q"),
                        "conv2d/%s: output %lldx%lld, PyTorch's is %lldx%lld", c, (long long)s.P, (long long)s.Q,
                        (long long)leap_fixture_int(fx, c, "P"), (long long)leap_fixture_int(fx, c, "Q")))
    return;
  bool has_bias = leap_fixture_int(fx, c, "bias") != 0;
  int64_t nx = s.N * s.H * s.W * s.C, nw = s.K * s.R * s.S * s.C, no = s.N * s.P * s.Q * s.K;
  float *x = leap_fixture_f32(fx, c, "x", nx), *w = leap_fixture_f32(fx, c, "w", nw);
  float *b = has_bias ? leap_fixture_f32(fx, c, "b", s.K) : NULL, *dout = leap_fixture_f32(fx, c, "dout", no);
  float *out = leap_fixture_poisoned(no), *dx = leap_fixture_zeros(nx), *dw = leap_fixture_zeros(nw);
  float *db = has_bias ? leap_fixture_zeros(s.K) : NULL;
  float *ws = malloc((leap_conv2d_workspace_floats(&s, leap_kernels_threads()) + 1) * sizeof(float));
  if (x && w && dout && (b || !has_bias)) {
    leap_conv2d_forward_cpu(out, x, w, b, &s, ws);
    leap_fixture_check(fx, c, "out", out, no, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_conv2d_backward_cpu(dx, dw, db, dout, x, w, &s, ws);
      leap_fixture_check_times(fx, c, "dx", dx, nx, (float)pass, GRAD_ATOL, RTOL);
      leap_fixture_check_times(fx, c, "dw", dw, nw, (float)pass, GRAD_ATOL, RTOL);
      if (has_bias) leap_fixture_check_times(fx, c, "db", db, s.K, (float)pass, GRAD_ATOL, RTOL);
    }
  }
  free(x), free(w), free(b), free(dout), free(out), free(dx), free(dw), free(db), free(ws);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "conv2d")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
