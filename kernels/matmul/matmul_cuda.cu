/* Batched matrix product on the GPU (matmul.h), expressed as leap_gemm_cuda calls with exactly the structure of
 * matmul_cpu.c: the same products, transposes and batch folding, with cuBLAS strided-batched products in place of
 * the tiled CPU ones. a, b, out and the gradients are all activations of dtype act; products accumulate in fp32.
 *
 * The one case without a single product is the gradient of a broadcast b when a is stored transposed: the batch
 * entries then add into one db, which leap_gemm_cuda does one product at a time in batch order (deterministic; in
 * bf16 each entry's sum is rounded into db in turn). */
#include "kernels/matmul/matmul.h"

#include "kernels/blas/blas_cuda.h"
#include "kernels/common/cuda_common.cuh"

static int64_t lda_of(const leap_matmul_shape *s) { return s->trans_a ? s->M : s->K; }
static int64_t ldb_of(const leap_matmul_shape *s) { return s->trans_b ? s->K : s->N; }
static int64_t stride_b_of(const leap_matmul_shape *s) { return s->broadcast_b ? 0 : s->K * s->N; }

static void backward_a(void *da, const void *dout, const void *b, const leap_matmul_shape *s, leap_dtype t,
                       leap_cuda_blas *blas) {
  int64_t so = s->M * s->N, sa = s->M * s->K;
  if (s->trans_a) /* da[i] (K,M) += B (K,N) dC^T. */
    leap_gemm_cuda(blas, s->trans_b, true, s->batch, s->K, s->M, s->N, 1.0f, b, ldb_of(s), stride_b_of(s), dout, s->N,
                   so, 1.0f, da, s->M, sa, t, t);
  else if (s->broadcast_b)
    /* da (batch*M,K) += dC (batch*M,N) B^T. */
    leap_gemm_cuda(blas, false, !s->trans_b, 1, s->batch * s->M, s->K, s->N, 1.0f, dout, s->N, 0, b, ldb_of(s), 0, 1.0f,
                   da, s->K, 0, t, t);
  else
    /* da[i] (M,K) += dC (M,N) B^T. */
    leap_gemm_cuda(blas, false, !s->trans_b, s->batch, s->M, s->K, s->N, 1.0f, dout, s->N, so, b, ldb_of(s),
                   stride_b_of(s), 1.0f, da, s->K, sa, t, t);
}

/* db (K,N) += A^T dC, or db (N,K) += dC^T A when b is stored transposed, over `batch` entries whose inner dimension
 * is M rows of a (lda) and dout; db_stride 0 accumulates every entry into one db. */
static void db_products(void *db, const void *dout, const void *a, int64_t batch, int64_t M, int64_t lda,
                        int64_t db_stride, const leap_matmul_shape *s, leap_dtype t, leap_cuda_blas *blas) {
  int64_t so = s->M * s->N, sa = s->M * s->K;
  if (!s->trans_b)
    leap_gemm_cuda(blas, !s->trans_a, false, batch, s->K, s->N, M, 1.0f, a, lda, sa, dout, s->N, so, 1.0f, db, s->N,
                   db_stride, t, t);
  else
    leap_gemm_cuda(blas, true, s->trans_a, batch, s->N, s->K, M, 1.0f, dout, s->N, so, a, lda, sa, 1.0f, db, s->K,
                   db_stride, t, t);
}

static void backward_b(void *db, const void *dout, const void *a, const leap_matmul_shape *s, leap_dtype t,
                       leap_cuda_blas *blas) {
  if (!s->broadcast_b)
    db_products(db, dout, a, s->batch, s->M, lda_of(s), s->K * s->N, s, t, blas);
  else if (!s->trans_a)
    db_products(db, dout, a, 1, s->batch * s->M, s->K, 0, s, t, blas);
  else
    db_products(db, dout, a, s->batch, s->M, lda_of(s), 0, s, t, blas);
}

LEAP_EXTERN_C_BEGIN

void leap_matmul_forward_cuda(void *out, const void *a, const void *b, const leap_matmul_shape *s, leap_dtype act,
                              leap_cuda_blas *blas) {
  if (s->broadcast_b && !s->trans_a) {
    leap_gemm_cuda(blas, false, s->trans_b, 1, s->batch * s->M, s->N, s->K, 1.0f, a, s->K, 0, b, ldb_of(s), 0, 0.0f,
                   out, s->N, 0, act, act);
    return;
  }
  leap_gemm_cuda(blas, s->trans_a, s->trans_b, s->batch, s->M, s->N, s->K, 1.0f, a, lda_of(s), s->M * s->K, b,
                 ldb_of(s), stride_b_of(s), 0.0f, out, s->N, s->M * s->N, act, act);
}

void leap_matmul_backward_cuda(void *da, void *db, const void *dout, const void *a, const void *b,
                               const leap_matmul_shape *s, leap_dtype act, leap_cuda_blas *blas) {
  if (da) backward_a(da, dout, b, s, act, blas);
  if (db) backward_b(db, dout, a, s, act, blas);
}

LEAP_EXTERN_C_END
