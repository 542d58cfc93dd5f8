/* Tests of leap_softmax_forward_cuda and leap_softmax_backward_cuda against the CPU kernels, in f32 and bf16
 * (inputs rounded to bf16 on the host, the CPU run on the same values), rows from 1 to 4097 long (shorter and
 * longer than a block), in place and not; outputs NaN-poisoned, dinp accumulated onto a random prior, two runs
 * bit-identical.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 1e-6 (probabilities lie in [0, 1]); bf16 within
 * RTOL_BF16 (1e-2) plus atol 1e-3. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/dtype.h"
#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_CUDA
int main(void) {
  puts("skipped: built without CUDA");
  return LEAP_TEST_SKIP_CODE;
}
#else
#include <cuda_runtime.h>

#include "kernels/softmax/softmax.h"

#include "tests/common/leap_test_cuda_dense.h"

static const int64_t cases[][2] = {{1, 1}, {3, 5}, {17, 33}, {65, 1000}, {2, 4097}, {300, 10}, {40, 257}};

static void test_case(int ci, leap_dtype t, cudaStream_t st) {
  leap_cuda_stream s = (leap_cuda_stream)st;
  int64_t N = cases[ci][0], C = cases[ci][1], n = N * C;
  float *x = hbuf(n), *dout = hbuf(n), *prior = hbuf(n);
  leap_test_fill_normal(x, n, 3.0f, 10 + (uint64_t)ci);
  leap_test_fill_normal(dout, n, 1.0f, 20 + (uint64_t)ci);
  leap_test_fill_uniform(prior, n, -1.0f, 1.0f, 30 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(x, n), round_bf16(dout, n), round_bf16(prior, n);
  float *want = hbuf(n), *y = hbuf(n), *want_d = hcopy(prior, n);
  leap_test_poison(want, n);
  leap_softmax_forward_cpu(want, x, N, C);
  /* The backward pass takes the forward's output; the GPU's bf16 output is rounded, so both use that rounding. */
  memcpy(y, want, (size_t)n * sizeof(float));
  if (t == LEAP_BF16) round_bf16(y, n);
  leap_softmax_backward_cpu(want_d, dout, y, N, C);

  float *got[2][3];
  for (int run = 0; run < 2; run++) {
    void *dx = dnew(x, n, t), *out = dalloc(n, t), *ip = dnew(x, n, t), *dy = dnew(y, n, t), *dd = dnew(dout, n, t);
    void *g = dnew(prior, n, t);
    leap_softmax_forward_cuda(out, dx, N, C, t, s);
    leap_softmax_forward_cuda(ip, ip, N, C, t, s);
    leap_softmax_backward_cuda(g, dd, dy, N, C, t, s);
    void *src[3] = {out, ip, g};
    for (int i = 0; i < 3; i++) got[run][i] = hbuf(n), dget(got[run][i], src[i], n, t);
    void *bufs[] = {dx, out, ip, dy, dd, g};
    for (int i = 0; i < 6; i++) CK(cudaFree(bufs[i]));
  }
  const char *names[3] = {"forward", "forward in place", "backward"};
  float *w[3] = {want, want, want_d};
  for (int i = 0; i < 3; i++) {
    char what[128];
    snprintf(what, sizeof what, "softmax %s case %d %s", names[i], ci, dt_name(t));
    leap_test_allclose(what, got[0][i], w[i], n, t == LEAP_BF16 ? 1e-3 : 1e-6, rtol_of(t));
    same_bits(what, got[0][i], got[1][i], n);
  }
  for (int run = 0; run < 2; run++)
    for (int i = 0; i < 3; i++) free(got[run][i]);
  free(x), free(dout), free(prior), free(want), free(y), free(want_d);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
    test_case(ci, LEAP_F32, st);
    test_case(ci, LEAP_BF16, st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
