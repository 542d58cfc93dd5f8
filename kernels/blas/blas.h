/* CPU matrix products: one sgemm entry point over OpenBLAS, with a plain C fallback.
 *
 * All matrices are row-major. C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, where op(X) is X or X^T.
 * lda/ldb/ldc are the row strides of A, B and C as stored. */
#ifndef LEAP_KERNELS_BLAS_BLAS_H
#define LEAP_KERNELS_BLAS_BLAS_H

#include <stdbool.h>
#include <stdint.h>

void leap_sgemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Batched form over `batch` independent products with element strides between consecutive matrices. */
void leap_sgemm_batched_cpu(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t lda, int64_t stride_a, const float *B, int64_t ldb,
                            int64_t stride_b, float beta, float *C, int64_t ldc, int64_t stride_c);

/* Which BLAS is in use and which kernel it was told to run, e.g. "OpenBLAS 0.3.21 (OpenMP) core=SKYLAKEX". */
const char *leap_blas_describe(void);
void leap_blas_set_threads(int n);

#endif
