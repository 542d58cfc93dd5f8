/* Tests of leap_matmul_forward_cuda and leap_matmul_backward_cuda against the CPU kernels: every combination of
 * trans_a, trans_b and broadcast_b over odd shapes, in f32 and bf16 (inputs rounded to bf16 on the host, the CPU
 * run on the same values), outputs NaN-poisoned, gradients accumulated onto random priors, and two runs
 * bit-identical.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 2e-5 * sqrt(D), bf16 within RTOL_BF16 (1e-2) relative
 * plus atol 1e-2 * sqrt(D), where D is the longest inner dimension of the three products (a sum of D unit-normal
 * products has magnitude sqrt(D)). */
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

#include "kernels/blas/blas_cuda.h"
#include "kernels/matmul/matmul.h"

#include "tests/common/leap_test_cuda_dense.h"

static const int64_t shapes[][4] = {
    /* batch, M, N, K */
    {1, 1, 1, 1}, {3, 5, 7, 4}, {2, 13, 1, 9}, {4, 2, 3, 65}, {1, 33, 17, 70}, {3, 65, 31, 130}, {2, 129, 67, 33},
};

typedef struct {
  float *out, *da, *db;
} results;

static int64_t b_numel(const leap_matmul_shape *s) { return (s->broadcast_b ? 1 : s->batch) * s->K * s->N; }

/* One GPU forward and backward from fresh device buffers: out poisoned, da and db starting at the priors. */
static void run_gpu(results *r, leap_cuda_blas *blas, const leap_matmul_shape *s, const float *a, const float *b,
                    const float *dout, const float *pa, const float *pb, leap_dtype t) {
  int64_t na = s->batch * s->M * s->K, nb = b_numel(s), no = s->batch * s->M * s->N;
  void *da_ = dnew(a, na, t), *db_ = dnew(b, nb, t), *dd = dnew(dout, no, t);
  void *dout_ = dalloc(no, t), *ga = dnew(pa, na, t), *gb = dnew(pb, nb, t);
  leap_matmul_forward_cuda(dout_, da_, db_, s, t, blas);
  leap_matmul_backward_cuda(ga, gb, dd, da_, db_, s, t, blas);
  dget(r->out, dout_, no, t);
  dget(r->da, ga, na, t);
  dget(r->db, gb, nb, t);
  void *bufs[] = {da_, db_, dd, dout_, ga, gb};
  for (int i = 0; i < 6; i++) CK(cudaFree(bufs[i]));
}

static void test_case(leap_cuda_blas *blas, int si, bool ta, bool tb, bool bc, leap_dtype t) {
  leap_matmul_shape s = {shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], ta, tb, bc};
  int64_t na = s.batch * s.M * s.K, nb = b_numel(&s), no = s.batch * s.M * s.N;
  uint64_t seed = (uint64_t)si * 16 + (ta ? 8 : 0) + (tb ? 4 : 0) + (bc ? 2 : 0);
  float *a = hbuf(na), *b = hbuf(nb), *dout = hbuf(no), *pa = hbuf(na), *pb = hbuf(nb);
  leap_test_fill_normal(a, na, 1.0f, seed);
  leap_test_fill_normal(b, nb, 1.0f, seed + 1000);
  leap_test_fill_normal(dout, no, 1.0f, seed + 2000);
  leap_test_fill_uniform(pa, na, -1.0f, 1.0f, seed + 3000);
  leap_test_fill_uniform(pb, nb, -1.0f, 1.0f, seed + 4000);
  if (t == LEAP_BF16)
    round_bf16(a, na), round_bf16(b, nb), round_bf16(dout, no), round_bf16(pa, na), round_bf16(pb, nb);

  results want = {hbuf(no), hcopy(pa, na), hcopy(pb, nb)};
  leap_test_poison(want.out, no);
  leap_matmul_forward_cpu(want.out, a, b, &s);
  leap_matmul_backward_cpu(want.da, want.db, dout, a, b, &s);

  results got[2];
  for (int run = 0; run < 2; run++) {
    got[run] = (results){hbuf(no), hbuf(na), hbuf(nb)};
    run_gpu(&got[run], blas, &s, a, b, dout, pa, pb, t);
  }
  int64_t d = s.K;
  if (s.N > d) d = s.N;
  if (s.batch * s.M > d) d = s.batch * s.M;
  double atol = (t == LEAP_BF16 ? 1e-2 : 2e-5) * sqrt((double)d);
  char what[160];
  const char *names[3] = {"out", "da", "db"};
  float *g[3] = {got[0].out, got[0].da, got[0].db}, *g2[3] = {got[1].out, got[1].da, got[1].db};
  float *w[3] = {want.out, want.da, want.db};
  int64_t n[3] = {no, na, nb};
  for (int i = 0; i < 3; i++) {
    snprintf(what, sizeof what, "matmul %s shape %d ta=%d tb=%d bcast=%d %s", names[i], si, ta, tb, bc, dt_name(t));
    leap_test_allclose(what, g[i], w[i], n[i], atol, rtol_of(t));
    same_bits(what, g[i], g2[i], n[i]);
  }
  for (int i = 0; i < 3; i++) free(g[i]), free(g2[i]), free(w[i]);
  free(a), free(b), free(dout), free(pa), free(pb);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  leap_cuda_blas *blas = leap_cuda_blas_create((leap_cuda_stream)stream);
  const leap_dtype dts[2] = {LEAP_F32, LEAP_BF16};
  for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
    for (int combo = 0; combo < 8; combo++)
      for (int ti = 0; ti < 2; ti++) test_case(blas, si, combo & 4, combo & 2, combo & 1, dts[ti]);
  leap_cuda_blas_destroy(blas);
  CK(cudaStreamDestroy(stream));
  return leap_test_finish();
}

#endif
