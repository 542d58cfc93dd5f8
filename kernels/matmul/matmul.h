/* Batched matrix product over the last two dimensions, with optional transposes and a B shared by the batch:
 *
 *   out[i] (M,N) = op_a(a[i]) (M,K) * op_b(b[i]) (K,N)   for i in [0, batch)
 *
 * a[i] is stored (M,K), or (K,M) when trans_a (op_a transposes it); b[i] is stored (K,N), or (N,K) when trans_b.
 * With broadcast_b, b is one matrix used for every i (a (batch,M,K) times a weight (K,N), say). All arrays are
 * contiguous and row-major. Products go through leap_sgemm_tiled_cpu below, so results are bit-identical whatever
 * the number of threads. */
#ifndef LEAP_KERNELS_MATMUL_MATMUL_H
#define LEAP_KERNELS_MATMUL_MATMUL_H

#include <stdbool.h>
#include <stdint.h>

/* Batched sgemm with results that do not depend on the number of threads:
 *   C[i] (M,N) = alpha * op(A[i]) op(B[i]) + beta * C[i],  for i in [0, batch),
 * with the conventions of leap_sgemm_batched_cpu (row-major, lda/ldb/ldc row strides as stored, element strides
 * between matrices; a stride of 0 shares one matrix). stride_c == 0 means the products all accumulate into one C,
 * in batch order: C = beta * C + sum_i alpha * op(A[i]) op(B[i]).
 *
 * Why. OpenBLAS's threaded and single-threaded drivers block a product differently (where the inner dimension is
 * cut, which micro-kernel handles which rows), so its results change with the number of threads: measured on
 * 0.3.21, 1 and 2 threads disagree in the last bits of many products above 64^3 multiply-adds, e.g. 1000^3 with
 * the SkylakeX kernels and 300x131x257 with the Haswell ones. This function cuts C into tiles whose sizes depend
 * only on the shape and computes every tile (of every batch entry) with a single-threaded OpenBLAS call, the tiles
 * spread over OpenMP threads. That costs 1-5% against one threaded OpenBLAS call on large products (tile_sizes in
 * matmul_cpu.c says why). A build without OpenMP runs the tiles one after another and leaves OpenBLAS to thread
 * each call as it likes, so there the guarantee does not hold. */
void leap_sgemm_tiled_cpu(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                          float beta, float *C, int64_t ldc, int64_t stride_c);

typedef struct leap_matmul_shape {
  int64_t batch, M, N, K;
  bool trans_a;     /* a[i] is stored (K,M) */
  bool trans_b;     /* b[i] is stored (N,K) */
  bool broadcast_b; /* one b for the whole batch */
} leap_matmul_shape;

/* out = op_a(a) op_b(b). */
void leap_matmul_forward_cpu(float *out,     /* (batch,M,N) */
                             const float *a, /* (batch,M,K), or (batch,K,M) when trans_a */
                             const float *b, /* (batch,K,N), or (batch,N,K) when trans_b; no batch dim if broadcast */
                             const leap_matmul_shape *s);

/* Gradients of the product. ACCUMULATES: da += dL/da, db += dL/db, in a's and b's stored layouts; either may be
 * NULL when not wanted. For a broadcast b, db sums over the batch in batch order. */
void leap_matmul_backward_cpu(float *da,         /* like a, or NULL */
                              float *db,         /* like b, or NULL */
                              const float *dout, /* (batch,M,N) */
                              const float *a,    /* like a */
                              const float *b,    /* like b */
                              const leap_matmul_shape *s);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): a, b, out and the gradients are all activations of dtype act (LEAP_F32 or
 * LEAP_BF16); the products are cuBLAS ones (blas_cuda.h) accumulating in fp32, with the same structure as the CPU
 * functions above. Backward ACCUMULATES; da, db may be NULL. For a broadcast b with trans_a, db adds the batch
 * entries one product at a time, in batch order. */
void leap_matmul_forward_cuda(void *out,     /* (batch,M,N) */
                              const void *a, /* (batch,M,K), or (batch,K,M) when trans_a */
                              const void *b, /* (batch,K,N), or (batch,N,K) when trans_b; no batch dim if broadcast */
                              const leap_matmul_shape *s, leap_dtype act, leap_cuda_blas *blas);

void leap_matmul_backward_cuda(void *da,         /* like a, or NULL */
                               void *db,         /* like b, or NULL */
                               const void *dout, /* (batch,M,N) */
                               const void *a,    /* like a */
                               const void *b,    /* like b */
                               const leap_matmul_shape *s, leap_dtype act, leap_cuda_blas *blas);

LEAP_EXTERN_C_END
#endif

#endif
