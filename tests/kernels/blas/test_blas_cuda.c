/* Tests of leap_gemm_cuda and leap_gemm_bias_cuda against leap_sgemm_cpu: every transpose combination, batched
 * products with strides and padded leading dimensions, a C shared by the batch (stride_c 0, accumulated in batch
 * order), alpha and beta, in f32 (A, B, C f32), bf16 -> f32 and bf16 -> bf16 (bf16 inputs rounded on the host and
 * the CPU run on the same rounded values). C is NaN-poisoned where beta is 0 (it must not be read), padding must
 * never be written, and two runs must give the same bits. The bias product runs with cuBLASLt's epilogue and
 * without it.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 2e-5 * sqrt(K) (the magnitude of a K-term sum of
 * unit normals is sqrt(K)); bf16 outputs within RTOL_BF16 (1e-2) relative plus atol 1e-3 * sqrt(K) (1e-2 with a
 * bias, which the plain path rounds to bf16 before adding). */
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

#include "kernels/blas/blas.h"
#include "kernels/blas/blas_cuda.h"

#include "tests/common/leap_test_cuda_dense.h"

typedef struct {
  int64_t batch, M, N, K;
  bool ta, tb, shared_c;
  float alpha, beta;
  int64_t pad; /* extra elements per row (leading dimensions) and between consecutive matrices */
} gemm_case;

static const gemm_case cases[] = {
    {1, 1, 1, 1, false, false, false, 1.0f, 0.0f, 0},     {1, 17, 33, 9, false, false, false, 1.0f, 0.0f, 0},
    {1, 17, 33, 9, true, false, false, 1.0f, 0.5f, 3},    {1, 17, 33, 9, false, true, false, 0.75f, 0.0f, 1},
    {1, 17, 33, 9, true, true, false, 1.0f, 1.0f, 0},     {3, 65, 31, 130, false, false, false, 1.0f, 0.0f, 5},
    {3, 65, 31, 130, true, false, false, 1.0f, 0.0f, 0},  {3, 65, 31, 130, false, true, false, 1.0f, 0.25f, 2},
    {3, 65, 31, 130, true, true, false, -1.0f, 0.0f, 7},  {2, 130, 67, 257, false, true, false, 1.0f, 1.0f, 0},
    {1, 300, 5, 1000, true, false, false, 1.0f, 0.0f, 0}, {4, 33, 18, 45, false, false, true, 1.0f, 0.5f, 1},
    {5, 9, 70, 31, true, true, true, 0.5f, 0.0f, 0},      {2, 129, 255, 97, false, false, false, 1.0f, 0.0f, 0},
};

typedef struct {
  leap_dtype ab, c;
} type_pair;

static const type_pair types[] = {{LEAP_F32, LEAP_F32}, {LEAP_BF16, LEAP_F32}, {LEAP_BF16, LEAP_BF16}};

/* The layout of one case: leading dimensions, strides and total element counts of A, B and C. */
typedef struct {
  int64_t lda, ldb, ldc, sa, sb, sc, na, nb, nc;
} layout;

static layout layout_of(const gemm_case *k) {
  layout l;
  int64_t rows_a = k->ta ? k->K : k->M, rows_b = k->tb ? k->N : k->K;
  l.lda = (k->ta ? k->M : k->K) + k->pad;
  l.ldb = (k->tb ? k->K : k->N) + k->pad;
  l.ldc = k->N + k->pad;
  l.sa = rows_a * l.lda + k->pad;
  l.sb = rows_b * l.ldb + k->pad;
  l.sc = k->shared_c ? 0 : k->M * l.ldc + k->pad;
  l.na = k->batch * l.sa;
  l.nb = k->batch * l.sb;
  l.nc = k->shared_c ? k->M * l.ldc : k->batch * l.sc;
  return l;
}

static bool is_valid_c(const gemm_case *k, const layout *l, int64_t idx) {
  int64_t off = l->sc ? idx % l->sc : idx;
  return off / l->ldc < k->M && off % l->ldc < k->N;
}

/* Splits C into its valid elements (compacted, for allclose) and checks that the padding kept its initial bits:
 * NaN when C was poisoned (beta 0), the uploaded prior otherwise. */
static int64_t compact_c(float *dst, const float *c, const float *prior, bool poisoned, const gemm_case *k,
                         const layout *l, const char *what) {
  int64_t m = 0, bad = 0;
  for (int64_t i = 0; i < l->nc; i++) {
    if (is_valid_c(k, l, i))
      dst[m++] = c[i];
    else if (poisoned ? !isnan(c[i]) : memcmp(&c[i], &prior[i], sizeof(float)) != 0)
      bad++;
  }
  LEAP_TEST_ASSERT(bad == 0, "%s: %lld padding elements of C were written", what, (long long)bad);
  return m;
}

/* The products in batch order; a shared bf16 C is rounded after each one, as each cuBLAS call rounds its output. */
static void cpu_reference(float *C, const float *A, const float *B, const gemm_case *k, const layout *l,
                          leap_dtype c_dtype) {
  for (int64_t i = 0; i < k->batch; i++) {
    leap_sgemm_cpu(k->ta, k->tb, k->M, k->N, k->K, k->alpha, A + i * l->sa, l->lda, B + i * l->sb, l->ldb,
                   k->shared_c && i > 0 ? 1.0f : k->beta, C + i * l->sc, l->ldc);
    if (k->shared_c && c_dtype == LEAP_BF16) round_bf16(C, l->nc);
  }
}

static void run_gpu(float *got, leap_cuda_blas *blas, const void *dA, const void *dB, const float *prior,
                    const gemm_case *k, const layout *l, type_pair t) {
  void *dC = dalloc(l->nc, t.c);
  if (k->beta != 0.0f) dput(dC, prior, l->nc, t.c);
  leap_gemm_cuda(blas, k->ta, k->tb, k->batch, k->M, k->N, k->K, k->alpha, dA, l->lda, l->sa, dB, l->ldb, l->sb,
                 k->beta, dC, l->ldc, l->sc, t.ab, t.c);
  dget(got, dC, l->nc, t.c);
  CK(cudaFree(dC));
}

static void test_gemm(leap_cuda_blas *blas, int ci, type_pair t) {
  const gemm_case *k = &cases[ci];
  layout l = layout_of(k);
  char what[128];
  snprintf(what, sizeof what, "gemm case %d (%s -> %s)", ci, dt_name(t.ab), dt_name(t.c));
  float *A = hbuf(l.na), *B = hbuf(l.nb), *prior = hbuf(l.nc), *want = hbuf(l.nc);
  leap_test_fill_normal(A, l.na, 1.0f, 100 + (uint64_t)ci);
  leap_test_fill_normal(B, l.nb, 1.0f, 200 + (uint64_t)ci);
  leap_test_fill_uniform(prior, l.nc, -2.0f, 2.0f, 300 + (uint64_t)ci);
  if (t.ab == LEAP_BF16) round_bf16(A, l.na), round_bf16(B, l.nb);
  if (t.c == LEAP_BF16) round_bf16(prior, l.nc);
  memcpy(want, prior, (size_t)l.nc * sizeof(float));
  cpu_reference(want, A, B, k, &l, t.c);

  void *dA = dnew(A, l.na, t.ab), *dB = dnew(B, l.nb, t.ab);
  float *got = hbuf(l.nc), *again = hbuf(l.nc), *gc = hbuf(l.nc), *wc = hbuf(l.nc);
  run_gpu(got, blas, dA, dB, prior, k, &l, t);
  run_gpu(again, blas, dA, dB, prior, k, &l, t);
  int64_t m = compact_c(gc, got, prior, k->beta == 0.0f, k, &l, what);
  compact_c(wc, want, prior, false, k, &l, "reference");
  double atol = (t.c == LEAP_BF16 || t.ab == LEAP_BF16 ? 1e-3 : 2e-5) * sqrt((double)k->K);
  leap_test_allclose(what, gc, wc, m, atol, rtol_of(t.c == LEAP_BF16 ? LEAP_BF16 : t.ab));
  same_bits(what, got, again, l.nc);
  CK(cudaFree(dA));
  CK(cudaFree(dB));
  free(A), free(B), free(prior), free(want), free(got), free(again), free(gc), free(wc);
}

/* C = op(A) op(B) + bias for one unbatched case, through cuBLASLt (lt) or the plain path. */
static void test_bias(leap_cuda_blas *blas, int ci, type_pair t, bool lt) {
  const gemm_case *k = &cases[ci];
  layout l = layout_of(k);
  char what[128];
  snprintf(what, sizeof what, "gemm+bias case %d (%s -> %s, %s)", ci, dt_name(t.ab), dt_name(t.c),
           lt ? "cuBLASLt" : "plain");
  float *A = hbuf(l.sa), *B = hbuf(l.sb), *bias = hbuf(k->N), *want = hbuf(k->M * l.ldc);
  leap_test_fill_normal(A, l.sa, 1.0f, 400 + (uint64_t)ci);
  leap_test_fill_normal(B, l.sb, 1.0f, 500 + (uint64_t)ci);
  leap_test_fill_normal(bias, k->N, 1.0f, 600 + (uint64_t)ci);
  if (t.ab == LEAP_BF16) round_bf16(A, l.sa), round_bf16(B, l.sb);
  for (int64_t r = 0; r < k->M; r++) memcpy(want + r * l.ldc, bias, (size_t)k->N * sizeof(float));
  leap_sgemm_cpu(k->ta, k->tb, k->M, k->N, k->K, 1.0f, A, l.lda, B, l.ldb, 1.0f, want, l.ldc);

  void *dA = dnew(A, l.sa, t.ab), *dB = dnew(B, l.sb, t.ab), *dbias = dnew(bias, k->N, LEAP_F32);
  float *got[2] = {hbuf(k->M * l.ldc), hbuf(k->M * l.ldc)}, *gc = hbuf(k->M * k->N), *wc = hbuf(k->M * k->N);
  leap_cuda_blas_use_lt(blas, lt);
  for (int run = 0; run < 2; run++) {
    void *dC = dalloc(k->M * l.ldc, t.c);
    leap_gemm_bias_cuda(blas, k->ta, k->tb, k->M, k->N, k->K, dA, l.lda, dB, l.ldb, (const float *)dbias, dC, l.ldc,
                        t.ab, t.c);
    dget(got[run], dC, k->M * l.ldc, t.c);
    CK(cudaFree(dC));
  }
  leap_cuda_blas_use_lt(blas, true);
  for (int64_t r = 0; r < k->M; r++)
    for (int64_t c = 0; c < k->N; c++) gc[r * k->N + c] = got[0][r * l.ldc + c], wc[r * k->N + c] = want[r * l.ldc + c];
  double atol = t.c == LEAP_BF16 ? 1e-2 : (t.ab == LEAP_BF16 ? 1e-3 : 2e-5) * sqrt((double)k->K);
  leap_test_allclose(what, gc, wc, k->M * k->N, atol, rtol_of(t.c == LEAP_BF16 ? LEAP_BF16 : t.ab));
  same_bits(what, got[0], got[1], k->M * l.ldc);
  CK(cudaFree(dA));
  CK(cudaFree(dB));
  CK(cudaFree(dbias));
  free(A), free(B), free(bias), free(want), free(got[0]), free(got[1]), free(gc), free(wc);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  leap_cuda_blas *blas = leap_cuda_blas_create((leap_cuda_stream)stream);
  int ncases = (int)(sizeof cases / sizeof cases[0]);
  for (int ci = 0; ci < ncases; ci++)
    for (int ti = 0; ti < 3; ti++) {
      test_gemm(blas, ci, types[ti]);
      if (cases[ci].batch == 1) {
        test_bias(blas, ci, types[ti], true);
        test_bias(blas, ci, types[ti], false);
      }
    }
  leap_cuda_blas_destroy(blas);
  CK(cudaStreamDestroy(stream));
  return leap_test_finish();
}

#endif
