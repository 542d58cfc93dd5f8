/* Max, average and global average pooling against PyTorch's F.max_pool2d (with return_indices, whose h*W + w
 * indices are leap's argmax), F.avg_pool2d(count_include_pad=False) and mean over (H,W), on NHWC tensors permuted
 * by tools/make_fixtures.py (tests/fixtures/pool.safetensors): 3x3 stride 2 pad 1, 2x2 stride 2, 3x3 stride 1 pad
 * 1, and a 3x2 window with strides (1,2). Tolerances: max pool exact (it copies), average pools |got - want| <=
 * 1e-6 + 1e-5 |want|, against float64 references; argmax exact. The backward runs twice to check that it
 * accumulates. */
#include <stdlib.h>
#include <string.h>

#include "kernels/pool/pool.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_window(const leap_fixture *fx, const char *c, bool max) {
  leap_pool_shape s;
  leap_pool_shape_init(&s, leap_fixture_int(fx, c, "N"), leap_fixture_int(fx, c, "H"), leap_fixture_int(fx, c, "W"),
                       leap_fixture_int(fx, c, "C"), leap_fixture_int(fx, c, "kh"), leap_fixture_int(fx, c, "kw"),
                       leap_fixture_int(fx, c, "stride_h"), leap_fixture_int(fx, c, "stride_w"),
                       leap_fixture_int(fx, c, "pad_h"), leap_fixture_int(fx, c, "pad_w"));
  if (!LEAP_TEST_ASSERT(s.P == leap_fixture_int(fx, c, "P") && s.Q == leap_fixture_int(fx, c, "Q"),
                        "pool/%s: output %lldx%lld, PyTorch's is %lldx%lld", c, (long long)s.P, (long long)s.Q,
                        (long long)leap_fixture_int(fx, c, "P"), (long long)leap_fixture_int(fx, c, "Q")))
    return;
  int64_t nx = s.N * s.H * s.W * s.C, no = s.N * s.P * s.Q * s.C;
  double atol = max ? 0.0 : ATOL, rtol = max ? 0.0 : RTOL;
  float *x = leap_fixture_f32(fx, c, "x", nx), *dout = leap_fixture_f32(fx, c, "dout", no);
  int32_t *want_argmax = max ? leap_fixture_i32(fx, c, "argmax", no) : NULL;
  int32_t *argmax = malloc((size_t)no * sizeof(int32_t));
  float *out = leap_fixture_poisoned(no), *dx = leap_fixture_zeros(nx);
  if (x && dout && (want_argmax || !max)) {
    if (max) {
      memset(argmax, 0xff, (size_t)no * sizeof(int32_t));
      leap_maxpool_forward_cpu(out, argmax, x, &s);
      LEAP_TEST_ASSERT(memcmp(argmax, want_argmax, (size_t)no * sizeof(int32_t)) == 0, "pool/%s: argmax differs", c);
    } else {
      leap_avgpool_forward_cpu(out, x, &s);
    }
    leap_fixture_check(fx, c, "out", out, no, atol, rtol);
    for (int pass = 1; pass <= 2; pass++) {
      if (max)
        leap_maxpool_backward_cpu(dx, dout, argmax, &s);
      else
        leap_avgpool_backward_cpu(dx, dout, &s);
      /* Max pool's gradients are sums of a few dout values (overlapping windows), so they get the usual tolerance. */
      leap_fixture_check_times(fx, c, "dx", dx, nx, (float)pass, ATOL, RTOL);
    }
  }
  free(x), free(dout), free(want_argmax), free(argmax), free(out), free(dx);
}

static void run_global(const leap_fixture *fx, const char *c) {
  int64_t N = leap_fixture_int(fx, c, "N"), HW = leap_fixture_int(fx, c, "H") * leap_fixture_int(fx, c, "W");
  int64_t C = leap_fixture_int(fx, c, "C");
  float *x = leap_fixture_f32(fx, c, "x", N * HW * C), *dout = leap_fixture_f32(fx, c, "dout", N * C);
  float *out = leap_fixture_poisoned(N * C), *dx = leap_fixture_zeros(N * HW * C);
  if (x && dout) {
    leap_global_avgpool_forward_cpu(out, x, N, HW, C);
    leap_fixture_check(fx, c, "out", out, N * C, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_global_avgpool_backward_cpu(dx, dout, N, HW, C);
      leap_fixture_check_times(fx, c, "dx", dx, N * HW * C, (float)pass, ATOL, RTOL);
    }
  }
  free(x), free(dout), free(out), free(dx);
}

static void run_case(const leap_fixture *fx, const char *c) {
  if (strncmp(c, "max_", 4) == 0)
    run_window(fx, c, true);
  else if (strncmp(c, "avg_", 4) == 0)
    run_window(fx, c, false);
  else if (LEAP_TEST_ASSERT(strncmp(c, "gap_", 4) == 0, "unknown case '%s'", c))
    run_global(fx, c);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "pool")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
