/* Tests of leap_mse_forward_cuda and leap_mse_backward_cuda against the CPU kernels, in f32 and bf16 (inputs rounded
 * to bf16 on the host, the CPU run on the same values), sizes from 1 element to several reduction chunks; the loss
 * NaN-poisoned, gradients accumulated onto random priors of the gradient's own size (either gradient NULL too),
 * dloss read from device memory, two runs bit-identical.
 *
 * Tolerances: the loss (an fp32 result from the same inputs) within RTOL_F32 (1e-4) relative; gradients within
 * RTOL_F32 (f32) or RTOL_BF16 (bf16) relative plus atol 1e-6 (f32) or 1e-3 (bf16) times the gradient scale 2/n. */
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

#include "kernels/mse/mse.h"

#include "tests/common/leap_test_cuda_dense.h"

static const int64_t sizes[] = {1, 7, 1000, 8193, 70001, (1 << 20) + 3};

static void test_case(int si, leap_dtype t, bool both, cudaStream_t st) {
  leap_cuda_stream s = (leap_cuda_stream)st;
  int64_t n = sizes[si];
  const float dloss = 1.3f;
  float scale = 2.0f * dloss / (float)n;
  float *p = hbuf(n), *y = hbuf(n), *pp = hbuf(n), *py = hbuf(n);
  leap_test_fill_normal(p, n, 1.0f, 70 + (uint64_t)si);
  leap_test_fill_normal(y, n, 1.0f, 80 + (uint64_t)si);
  leap_test_fill_uniform(pp, n, -scale, scale, 90 + (uint64_t)si);
  leap_test_fill_uniform(py, n, -scale, scale, 95 + (uint64_t)si);
  if (t == LEAP_BF16) round_bf16(p, n), round_bf16(y, n), round_bf16(pp, n), round_bf16(py, n);
  float want_loss, *ws = hbuf((int64_t)leap_mse_forward_workspace_floats(n)), *wp = hcopy(pp, n), *wy = hcopy(py, n);
  leap_mse_forward_cpu(&want_loss, ws, p, y, n);
  leap_mse_backward_cpu(wp, both ? wy : NULL, &dloss, p, y, n);

  float loss[2], *gp[2], *gy[2];
  for (int run = 0; run < 2; run++) {
    void *dp = dnew(p, n, t), *dy = dnew(y, n, t), *dl = dalloc(1, LEAP_F32), *dd = dnew(&dloss, 1, LEAP_F32);
    void *g1 = dnew(pp, n, t), *g2 = dnew(py, n, t);
    void *dws = dalloc((int64_t)leap_mse_forward_workspace_floats_cuda(n), LEAP_F32);
    leap_mse_forward_cuda((float *)dl, (float *)dws, dp, dy, n, t, s);
    leap_mse_backward_cuda(g1, both ? g2 : NULL, (const float *)dd, dp, dy, n, t, s);
    gp[run] = hbuf(n), gy[run] = hbuf(n);
    dget(&loss[run], dl, 1, LEAP_F32);
    dget(gp[run], g1, n, t);
    dget(gy[run], g2, n, t);
    void *bufs[] = {dp, dy, dl, dd, g1, g2, dws};
    for (int i = 0; i < 7; i++) CK(cudaFree(bufs[i]));
  }
  char what[128];
  snprintf(what, sizeof what, "mse loss n=%lld %s", (long long)n, dt_name(t));
  leap_test_allclose(what, &loss[0], &want_loss, 1, 0.0, RTOL_F32);
  same_bits(what, &loss[0], &loss[1], 1);
  double atol = (t == LEAP_BF16 ? 1e-3 : 1e-6) * scale;
  snprintf(what, sizeof what, "mse dpred n=%lld %s%s", (long long)n, dt_name(t), both ? "" : " (dtarget NULL)");
  leap_test_allclose(what, gp[0], wp, n, atol, rtol_of(t));
  same_bits(what, gp[0], gp[1], n);
  snprintf(what, sizeof what, "mse dtarget n=%lld %s%s", (long long)n, dt_name(t), both ? "" : " (NULL: untouched)");
  leap_test_allclose(what, gy[0], wy, n, atol, rtol_of(t));
  same_bits(what, gy[0], gy[1], n);
  for (int run = 0; run < 2; run++) free(gp[run]), free(gy[run]);
  free(p), free(y), free(pp), free(py), free(ws), free(wp), free(wy);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int si = 0; si < (int)(sizeof sizes / sizeof sizes[0]); si++) {
    test_case(si, LEAP_F32, true, st);
    test_case(si, LEAP_BF16, true, st);
    test_case(si, LEAP_F32, false, st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
