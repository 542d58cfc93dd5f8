/* leap_gemm_bias_gelu_cuda against the CPU's product, bias and GELU (leap_sgemm_cpu, leap_gelu_forward_cpu): C and
 * the aux pre-activation, with and without a bias, transposes, padded row strides (a multiple of 8, which cuBLASLt's
 * aux accepts, and not, which falls back), through cuBLASLt's GELU_AUX(_BIAS) epilogue and through the fallback
 * (leap_cuda_blas_use_lt off), in f32 and bf16. Outputs start NaN-poisoned, padding must stay untouched, two runs
 * must give the same bits, and at least one bf16 case with a bias must take the fused path (the reason the function
 * exists). Then the layer's backward as the op layer runs it, leap_gelu_backward_cuda on the aux output followed by
 * leap_linear_backward_cuda, against the CPU's GELU and linear backward.
 *
 * Tolerances: f32 within 1e-4 relative plus 2e-5 sqrt(K); the fused f32 GELU within 1e-3 relative plus 3e-4 sqrt(K),
 * since cuBLASLt evaluates tanh its own way (the op layer fuses only in bf16); bf16 within 1e-2 relative plus 1e-2
 * (1e-2 sqrt(rows) for the weight and bias gradients, sums over the rows). */
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
#include "kernels/blas/blas.h"
#include "kernels/blas/blas_cuda.h"
#include "kernels/linear/linear.h"
#include "tests/common/leap_test_cuda_dense.h"

typedef struct gelu_case {
  int64_t M, N, K;
  bool ta, tb, bias;
  int64_t pad; /* extra elements per row of C and of aux */
} gelu_case;

static const gelu_case g_cases[] = {
    {33, 64, 40, false, true, true, 0},   /* a linear layer, OUT a multiple of 8: fusable */
    {33, 61, 40, false, true, true, 0},   /* OUT not a multiple of 8: the aux stride falls back */
    {17, 48, 9, true, false, false, 0},   /* no bias: GELU_AUX */
    {65, 96, 130, false, false, true, 8}, /* padded rows, still a multiple of 8 */
    {20, 40, 31, false, true, true, 3},   /* padded rows, not a multiple of 8: fallback, row by row */
    {256, 384, 256, false, true, true, 0},
};

static const leap_dtype g_types[] = {LEAP_F32, LEAP_BF16};

static int g_bf16_fused; /* bf16 cases with a bias that took the fused path */

/* The CPU's aux (M,N) = op(A) op(B) + bias and C = gelu(aux), both contiguous. */
static void cpu_forward(float *aux, float *c, const float *A, const float *B, const float *bias, const gelu_case *k) {
  int64_t lda = k->ta ? k->M : k->K, ldb = k->tb ? k->K : k->N;
  for (int64_t r = 0; r < k->M; r++)
    for (int64_t j = 0; j < k->N; j++) aux[r * k->N + j] = bias ? bias[j] : 0.0f;
  leap_sgemm_cpu(k->ta, k->tb, k->M, k->N, k->K, 1.0f, A, lda, B, ldb, 1.0f, aux, k->N);
  leap_gelu_forward_cpu(c, aux, k->M * k->N);
}

/* The valid (M,N) part of a padded device result, and whether the padding kept its NaN poison. */
static void compact(float *dst, const float *src, const gelu_case *k, int64_t ld, const char *what) {
  int64_t touched = 0;
  for (int64_t r = 0; r < k->M; r++)
    for (int64_t j = 0; j < ld; j++) {
      if (j < k->N) dst[r * k->N + j] = src[r * ld + j];
      else touched += !isnan(src[r * ld + j]);
    }
  LEAP_TEST_ASSERT(touched == 0, "%s: %lld padding elements were written", what, (long long)touched);
}

typedef struct device_run {
  float *c, *aux; /* host copies, padded */
  bool fused;
} device_run;

static device_run run_forward(leap_cuda_blas *blas, const gelu_case *k, leap_dtype t, const void *dA,
                              const void *dB, const void *dbias, void **keep_aux) {
  int64_t ld = k->N + k->pad, n = k->M * ld;
  int64_t lda = k->ta ? k->M : k->K, ldb = k->tb ? k->K : k->N;
  void *dC = dalloc(n, t), *dAux = dalloc(n, t);
  device_run r = {hbuf(n), hbuf(n), false};
  r.fused = leap_gemm_bias_gelu_cuda(blas, k->ta, k->tb, k->M, k->N, k->K, dA, lda, dB, ldb, (const float *)dbias, dC,
                                     ld, dAux, ld, t, t);
  dget(r.c, dC, n, t);
  dget(r.aux, dAux, n, t);
  CK(cudaFree(dC));
  if (keep_aux) *keep_aux = dAux;
  else CK(cudaFree(dAux));
  return r;
}

/* The backward as the op layer runs it (linear layout only: x (M,K) = A, weight (N,K) = B): d(pre) from dout and
 * the device's aux, then dx, dweight, dbias accumulated onto priors; checked against the CPU from the same aux. */
static void check_backward(leap_cuda_blas *blas, const gelu_case *k, leap_dtype t, const float *A, const float *B,
                           const void *dA, const void *dB, const void *dAux, const float *aux, int ci) {
  int64_t M = k->M, N = k->N, K = k->K;
  char what[128];
  snprintf(what, sizeof what, "gelu backward case %d (%s)", ci, dt_name(t));
  float *dout = hbuf(M * N), *dpre = hbuf(M * N), *dx = hbuf(M * K), *dw = hbuf(N * K), *db = hbuf(N);
  leap_test_fill_normal(dout, M * N, 1.0f, 900 + (uint64_t)ci);
  leap_test_fill_uniform(dx, M * K, -1.0f, 1.0f, 901 + (uint64_t)ci);
  leap_test_fill_uniform(dw, N * K, -1.0f, 1.0f, 902 + (uint64_t)ci);
  leap_test_fill_uniform(db, N, -1.0f, 1.0f, 903 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(dout, M * N), round_bf16(dx, M * K);
  void *d_dout = dnew(dout, M * N, t), *d_dpre = dalloc(M * N, t), *d_dx = dnew(dx, M * K, t);
  void *d_dw = dnew(dw, N * K, LEAP_F32), *d_db = dnew(db, N, LEAP_F32), *d_wf32 = dnew(B, N * K, LEAP_F32);
  size_t ws_floats = leap_linear_backward_workspace_floats_cuda(M, N);
  void *d_ws = dalloc((int64_t)(ws_floats ? ws_floats : 1), LEAP_F32);
  leap_cuda_stream stream = leap_cuda_blas_stream(blas);
  CK(cudaMemset(d_dpre, 0, (size_t)(M * N) * dt_size(t)));
  leap_gelu_backward_cuda(d_dpre, d_dout, dAux, M * N, t, stream);
  leap_linear_backward_cuda(d_dx, (float *)d_dw, (float *)d_db, (float *)d_ws, d_dpre, dA, (const float *)d_wf32,
                            t == LEAP_BF16 ? dB : NULL, M, K, N, t, blas);
  memset(dpre, 0, sizeof(float) * (size_t)(M * N));
  leap_gelu_backward_cpu(dpre, dout, aux, M * N);
  float *ws = hbuf((int64_t)leap_linear_backward_workspace_floats(M, N));
  leap_linear_backward_cpu(dx, dw, db, ws, dpre, A, B, M, K, N);
  float *got = hbuf(N * K > M * K ? N * K : M * K);
  double big = t == LEAP_BF16 ? 1e-2 : 2e-5;
  char label[160];
  dget(got, d_dx, M * K, t);
  snprintf(label, sizeof label, "%s: dx", what);
  leap_test_allclose(label, got, dx, M * K, big * sqrt((double)N), rtol_of(t));
  dget(got, d_dw, N * K, LEAP_F32);
  snprintf(label, sizeof label, "%s: dweight", what);
  leap_test_allclose(label, got, dw, N * K, big * sqrt((double)M), rtol_of(t));
  dget(got, d_db, N, LEAP_F32);
  snprintf(label, sizeof label, "%s: dbias", what);
  leap_test_allclose(label, got, db, N, big * sqrt((double)M), rtol_of(t));
  void *bufs[] = {d_dout, d_dpre, d_dx, d_dw, d_db, d_wf32, d_ws};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) CK(cudaFree(bufs[i]));
  free(dout), free(dpre), free(dx), free(dw), free(db), free(ws), free(got);
}

static void check_case(leap_cuda_blas *blas, int ci, leap_dtype t, bool lt) {
  const gelu_case *k = &g_cases[ci];
  int64_t na = k->M * k->K, nb = k->K * k->N, n = k->M * k->N, ld = k->N + k->pad;
  char what[160];
  snprintf(what, sizeof what, "gemm+bias+gelu case %d (%s, %s)", ci, dt_name(t), lt ? "cuBLASLt" : "fallback");
  float *A = hbuf(na), *B = hbuf(nb), *bias = hbuf(k->N), *aux = hbuf(n), *c = hbuf(n);
  leap_test_fill_normal(A, na, 1.0f, 100 + (uint64_t)ci);
  leap_test_fill_normal(B, nb, 1.0f / sqrtf((float)k->K), 200 + (uint64_t)ci);
  leap_test_fill_normal(bias, k->N, 0.5f, 300 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(A, na), round_bf16(B, nb);
  cpu_forward(aux, c, A, B, k->bias ? bias : NULL, k);
  void *dA = dnew(A, na, t), *dB = dnew(B, nb, t), *dbias = k->bias ? dnew(bias, k->N, LEAP_F32) : NULL;
  leap_cuda_blas_use_lt(blas, lt);
  void *dAux = NULL;
  device_run r0 = run_forward(blas, k, t, dA, dB, dbias, NULL), r1 = run_forward(blas, k, t, dA, dB, dbias, &dAux);
  leap_cuda_blas_use_lt(blas, true);
  printf("%s: %s\n", what, r0.fused ? "fused epilogue" : "product, then GELU");
  LEAP_TEST_ASSERT(r0.fused == r1.fused, "%s: the path changed between runs", what);
  LEAP_TEST_ASSERT(!r0.fused || (lt && ld % 8 == 0), "%s: fused where cuBLASLt cannot be used", what);
  if (t == LEAP_BF16 && k->bias && r0.fused) g_bf16_fused++;
  float *gc = hbuf(n), *ga = hbuf(n);
  compact(gc, r0.c, k, ld, what);
  compact(ga, r0.aux, k, ld, what);
  double sk = sqrt((double)k->K), atol = t == LEAP_BF16 ? 1e-2 : 2e-5 * sk;
  char label[200];
  snprintf(label, sizeof label, "%s: aux", what);
  leap_test_allclose(label, ga, aux, n, atol, rtol_of(t));
  snprintf(label, sizeof label, "%s: C", what);
  bool loose = r0.fused && t == LEAP_F32;
  leap_test_allclose(label, gc, c, n, loose ? 3e-4 * sk : atol, loose ? 1e-3 : rtol_of(t));
  same_bits(label, r0.c, r1.c, k->M * ld);
  same_bits(what, r0.aux, r1.aux, k->M * ld);
  if (!k->ta && k->tb && k->pad == 0) check_backward(blas, k, t, A, B, dA, dB, dAux, ga, ci);
  CK(cudaFree(dAux));
  CK(cudaFree(dA));
  CK(cudaFree(dB));
  if (dbias) CK(cudaFree(dbias));
  free(A), free(B), free(bias), free(aux), free(c), free(gc), free(ga);
  free(r0.c), free(r0.aux), free(r1.c), free(r1.aux);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  leap_cuda_blas *blas = leap_cuda_blas_create((leap_cuda_stream)stream);
  for (size_t ci = 0; ci < sizeof g_cases / sizeof g_cases[0]; ci++)
    for (int ti = 0; ti < 2; ti++)
      for (int lt = 1; lt >= 0; lt--) check_case(blas, (int)ci, g_types[ti], lt);
  LEAP_TEST_ASSERT(g_bf16_fused > 0, "no bf16 case with a bias took cuBLASLt's GELU epilogue: the fusion never runs");
  leap_cuda_blas_destroy(blas);
  CK(cudaStreamDestroy(stream));
  return leap_test_finish();
}
#endif
