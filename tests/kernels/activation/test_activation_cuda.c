/* Tests of the GELU and ReLU CUDA kernels against the CPU ones, in f32 and bf16 (inputs rounded to bf16 on the host,
 * the CPU run on the same values), over inputs spread wide (normal with std 3, plus planted values of +-30 and
 * +-100 where exp saturates, and an exact 0 for ReLU's gradient there), in place and not; outputs NaN-poisoned,
 * dinp accumulated onto a random prior, two runs bit-identical.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 1e-6 (the CPU's exp is a polynomial within 2 ulp, the
 * GPU's expf another); bf16 within RTOL_BF16 (1e-2) plus atol 1e-3. */
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

#include "kernels/activation/activation.h"

#include "tests/common/leap_test_cuda_dense.h"

static const int64_t sizes[] = {1, 7, 1000, 70001};
static const float planted[] = {30.0f, -30.0f, 100.0f, -100.0f, 0.0f};

typedef void (*fwd_cpu)(float *, const float *, int64_t);
typedef void (*bwd_cpu)(float *, const float *, const float *, int64_t);
typedef void (*fwd_gpu)(void *, const void *, int64_t, leap_dtype, leap_cuda_stream);
typedef void (*bwd_gpu)(void *, const void *, const void *, int64_t, leap_dtype, leap_cuda_stream);

typedef struct {
  const char *name;
  fwd_cpu fc;
  bwd_cpu bc;
  fwd_gpu fg;
  bwd_gpu bg;
} act_op;

static const act_op ops[] = {
    {"gelu", leap_gelu_forward_cpu, leap_gelu_backward_cpu, leap_gelu_forward_cuda, leap_gelu_backward_cuda},
    {"relu", leap_relu_forward_cpu, leap_relu_backward_cpu, leap_relu_forward_cuda, leap_relu_backward_cuda},
};

static void test_case(const act_op *op, int64_t n, leap_dtype t, cudaStream_t st) {
  leap_cuda_stream s = (leap_cuda_stream)st;
  float *x = hbuf(n), *dout = hbuf(n), *prior = hbuf(n);
  leap_test_fill_normal(x, n, 3.0f, (uint64_t)n);
  leap_test_fill_normal(dout, n, 1.0f, (uint64_t)n + 1);
  leap_test_fill_uniform(prior, n, -1.0f, 1.0f, (uint64_t)n + 2);
  for (int i = 0; i < 5 && 3 * i < n; i++) x[3 * i] = planted[i];
  if (t == LEAP_BF16) round_bf16(x, n), round_bf16(dout, n), round_bf16(prior, n);
  float *want = hbuf(n), *want_d = hcopy(prior, n);
  leap_test_poison(want, n);
  op->fc(want, x, n);
  op->bc(want_d, dout, x, n);

  float *got[2][3];
  for (int run = 0; run < 2; run++) {
    void *dx = dnew(x, n, t), *out = dalloc(n, t), *ip = dnew(x, n, t), *dd = dnew(dout, n, t), *g = dnew(prior, n, t);
    op->fg(out, dx, n, t, s);
    op->fg(ip, ip, n, t, s);
    op->bg(g, dd, dx, n, t, s);
    void *src[3] = {out, ip, g};
    for (int i = 0; i < 3; i++) got[run][i] = hbuf(n), dget(got[run][i], src[i], n, t);
    void *bufs[] = {dx, out, ip, dd, g};
    for (int i = 0; i < 5; i++) CK(cudaFree(bufs[i]));
  }
  const char *names[3] = {"forward", "forward in place", "backward"};
  float *w[3] = {want, want, want_d};
  for (int i = 0; i < 3; i++) {
    char what[128];
    snprintf(what, sizeof what, "%s %s n=%lld %s", op->name, names[i], (long long)n, dt_name(t));
    leap_test_allclose(what, got[0][i], w[i], n, t == LEAP_BF16 ? 1e-3 : 1e-6, rtol_of(t));
    same_bits(what, got[0][i], got[1][i], n);
  }
  for (int run = 0; run < 2; run++)
    for (int i = 0; i < 3; i++) free(got[run][i]);
  free(x), free(dout), free(prior), free(want), free(want_d);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int o = 0; o < 2; o++)
    for (int i = 0; i < (int)(sizeof sizes / sizeof sizes[0]); i++) {
      test_case(&ops[o], sizes[i], LEAP_F32, st);
      test_case(&ops[o], sizes[i], LEAP_BF16, st);
    }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
