/* Tests of leap_dropout_forward_cuda and leap_dropout_backward_cuda against the CPU kernels: the mask must be the
 * CPU's exactly (same Philox counters), for offsets that are and are not multiples of the 4-value Philox block,
 * offsets beyond 2^32, several seeds and RNG streams, p from 0 (identity) to 1 (everything dropped), in place and
 * not, in f32 and bf16 (inputs rounded on the host, the CPU output rounded to bf16 once). Outputs NaN-poisoned, din
 * accumulated onto a random prior, two runs bit-identical.
 *
 * Tolerances: the forward output and the dropped positions are compared exactly (atol 0, rtol 0); din within
 * RTOL_F32 (f32) or RTOL_BF16 (bf16) relative plus atol 1e-6 (the multiply-add may or may not be fused). */
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

#include "kernels/dropout/dropout.h"

#include "tests/common/leap_test_cuda_dense.h"

typedef struct {
  int64_t n;
  float p;
  uint64_t seed, stream, offset;
} do_case;

static const do_case cases[] = {
    {1, 0.5f, 1, 0, 0},
    {7, 0.1f, 2, 3, 1},
    {1000, 0.5f, 3, 0, 3},
    {4099, 0.9f, 4, 7, 5},
    {70001, 0.25f, 5, 1, 0},
    {333, 0.0f, 6, 0, 2},
    {333, 1.0f, 7, 0, 2},
    {4097, 0.5f, 8, 2, (1ull << 33) + 2},
    {65537, 0.3f, 1ull << 40, 9, 123456789},
};

static void test_case(int ci, leap_dtype t, cudaStream_t st) {
  const do_case *k = &cases[ci];
  int64_t n = k->n;
  leap_cuda_stream s = (leap_cuda_stream)st;
  float *x = hbuf(n), *dout = hbuf(n), *prior = hbuf(n);
  leap_test_fill_normal(x, n, 1.0f, 10 + (uint64_t)ci);
  leap_test_fill_normal(dout, n, 1.0f, 20 + (uint64_t)ci);
  leap_test_fill_uniform(prior, n, -1.0f, 1.0f, 30 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(x, n), round_bf16(dout, n), round_bf16(prior, n);
  float *want = hbuf(n), *want_d = hcopy(prior, n);
  leap_test_poison(want, n);
  leap_dropout_forward_cpu(want, x, n, k->p, k->seed, k->stream, k->offset);
  leap_dropout_backward_cpu(want_d, dout, n, k->p, k->seed, k->stream, k->offset);
  if (t == LEAP_BF16) round_bf16(want, n);

  float *got[2][3];
  for (int run = 0; run < 2; run++) {
    void *dx = dnew(x, n, t), *out = dalloc(n, t), *ip = dnew(x, n, t), *dd = dnew(dout, n, t), *g = dnew(prior, n, t);
    leap_dropout_forward_cuda(out, dx, n, k->p, k->seed, k->stream, k->offset, t, s);
    leap_dropout_forward_cuda(ip, ip, n, k->p, k->seed, k->stream, k->offset, t, s);
    leap_dropout_backward_cuda(g, dd, n, k->p, k->seed, k->stream, k->offset, t, s);
    leap_dropout_backward_cuda(NULL, dd, n, k->p, k->seed, k->stream, k->offset, t, s);
    void *src[3] = {out, ip, g};
    for (int i = 0; i < 3; i++) got[run][i] = hbuf(n), dget(got[run][i], src[i], n, t);
    void *bufs[] = {dx, out, ip, dd, g};
    for (int i = 0; i < 5; i++) CK(cudaFree(bufs[i]));
  }
  int64_t mask_diff = 0;
  for (int64_t i = 0; i < n; i++) mask_diff += (got[0][0][i] == 0.0f) != (want[i] == 0.0f);
  LEAP_TEST_ASSERT(mask_diff == 0, "dropout case %d %s: %lld mask positions differ from the CPU's", ci, dt_name(t),
                   (long long)mask_diff);
  const char *names[3] = {"forward", "forward in place", "backward"};
  float *w[3] = {want, want, want_d};
  for (int i = 0; i < 3; i++) {
    char what[128];
    snprintf(what, sizeof what, "dropout %s case %d %s", names[i], ci, dt_name(t));
    if (i < 2)
      leap_test_allclose(what, got[0][i], w[i], n, 0.0, 0.0);
    else
      leap_test_allclose(what, got[0][i], w[i], n, 1e-6, rtol_of(t));
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
  for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
    test_case(ci, LEAP_F32, st);
    test_case(ci, LEAP_BF16, st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
