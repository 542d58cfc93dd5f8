/* Batched matrix product (matmul.h), expressed as sgemm calls.
 *
 * With a, b stored as described in matmul.h, write A = op_a(a[i]) (M,K), B = op_b(b[i]) (K,N), C = out[i]. Then
 *   dA = dC B^T  and  dB = A^T dC,
 * and each is turned back into the stored layout: when a is stored transposed, da[i] = dA^T = B dC^T; when b is,
 * db[i] = dB^T = dC^T A. Where a broadcast b meets an untransposed a, the batch folds into the rows: the whole
 * batch is one (batch*M, K) matrix, forward and dA become single products, and dB becomes one product whose inner
 * dimension batch*M runs over the batch (OpenBLAS splits products by rows and columns, never along the inner
 * dimension, so that sum does not depend on the thread count). */
#include "kernels/matmul/matmul.h"

#include "kernels/blas/blas.h"
#include "kernels/common/kernel_common.h"

/* Products with at most this many multiply-adds are run one per thread, batch entries in parallel; larger ones one
 * at a time, each threaded inside OpenBLAS. */
#define MATMUL_SMALL_PRODUCT (64 * 64 * 64)

typedef struct gemm_args {
  bool ta, tb;
  int64_t M, N, K;
  const float *A;
  int64_t lda, stride_a;
  const float *B;
  int64_t ldb, stride_b;
  float beta;
  float *C;
  int64_t ldc, stride_c;
} gemm_args;

/* batch products C[i] = op(A[i]) op(B[i]) + beta C[i]; strides may be 0 for a shared operand (not for C). */
static void gemm_batch(int64_t batch, const gemm_args *g) {
#ifdef LEAP_WITH_OPENMP
  if (batch > 1 && g->M * g->N * g->K <= MATMUL_SMALL_PRODUCT) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; i++)
      leap_sgemm_cpu(g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A + i * g->stride_a, g->lda, g->B + i * g->stride_b,
                     g->ldb, g->beta, g->C + i * g->stride_c, g->ldc);
    return;
  }
#endif
  leap_sgemm_batched_cpu(g->ta, g->tb, batch, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->stride_a, g->B, g->ldb,
                         g->stride_b, g->beta, g->C, g->ldc, g->stride_c);
}

static int64_t lda_of(const leap_matmul_shape *s) { return s->trans_a ? s->M : s->K; }
static int64_t ldb_of(const leap_matmul_shape *s) { return s->trans_b ? s->K : s->N; }
static int64_t stride_b_of(const leap_matmul_shape *s) { return s->broadcast_b ? 0 : s->K * s->N; }

void leap_matmul_forward_cpu(float *out, const float *a, const float *b, const leap_matmul_shape *s) {
  if (s->broadcast_b && !s->trans_a) {
    leap_sgemm_cpu(false, s->trans_b, s->batch * s->M, s->N, s->K, 1.0f, a, s->K, b, ldb_of(s), 0.0f, out, s->N);
    return;
  }
  gemm_args g = {s->trans_a, s->trans_b, s->M, s->N, s->K, a, lda_of(s), s->M * s->K, b, ldb_of(s), stride_b_of(s),
                 0.0f, out, s->N, s->M * s->N};
  gemm_batch(s->batch, &g);
}

static void backward_a(float *da, const float *dout, const float *b, const leap_matmul_shape *s) {
  int64_t so = s->M * s->N, sa = s->M * s->K;
  if (!s->trans_a) {
    /* da[i] (M,K) += dC (M,N) B^T. */
    if (s->broadcast_b) {
      leap_sgemm_cpu(false, !s->trans_b, s->batch * s->M, s->K, s->N, 1.0f, dout, s->N, b, ldb_of(s), 1.0f, da,
                     s->K);
      return;
    }
    gemm_args g = {false, !s->trans_b, s->M, s->K, s->N, dout, s->N, so, b, ldb_of(s), stride_b_of(s), 1.0f, da,
                   s->K, sa};
    gemm_batch(s->batch, &g);
  } else {
    /* da[i] (K,M) += B (K,N) dC^T. */
    gemm_args g = {s->trans_b, true, s->K, s->M, s->N, b, ldb_of(s), stride_b_of(s), dout, s->N, so, 1.0f, da,
                   s->M, sa};
    gemm_batch(s->batch, &g);
  }
}

/* db (K,N) += A^T dC, or db (N,K) += dC^T A when b is stored transposed, for entry i (or the folded batch). */
static gemm_args db_args(float *db, const float *dout, const float *a, int64_t M, int64_t lda,
                         const leap_matmul_shape *s) {
  int64_t so = s->M * s->N, sa = s->M * s->K, sb = s->K * s->N;
  if (!s->trans_b) return (gemm_args){!s->trans_a, false, s->K, s->N, M, a, lda, sa, dout, s->N, so, 1.0f, db, s->N, sb};
  return (gemm_args){true, s->trans_a, s->N, s->K, M, dout, s->N, so, a, lda, sa, 1.0f, db, s->K, sb};
}

static void backward_b(float *db, const float *dout, const float *a, const leap_matmul_shape *s) {
  if (!s->broadcast_b) {
    gemm_args g = db_args(db, dout, a, s->M, lda_of(s), s);
    gemm_batch(s->batch, &g);
  } else if (!s->trans_a) {
    gemm_args g = db_args(db, dout, a, s->batch * s->M, s->K, s);
    gemm_batch(1, &g);
  } else {
    /* One shared db: the batch entries are added one after another, in order. */
    gemm_args g = db_args(db, dout, a, s->M, lda_of(s), s);
    g.stride_c = 0;
    leap_sgemm_batched_cpu(g.ta, g.tb, s->batch, g.M, g.N, g.K, 1.0f, g.A, g.lda, g.stride_a, g.B, g.ldb, g.stride_b,
                           1.0f, g.C, g.ldc, 0);
  }
}

void leap_matmul_backward_cpu(float *da, float *db, const float *dout, const float *a, const float *b,
                              const leap_matmul_shape *s) {
  if (da) backward_a(da, dout, b, s);
  if (db) backward_b(db, dout, a, s);
}
