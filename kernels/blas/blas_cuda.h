/* Matrix products on the GPU: one context (leap_cuda_blas) holding a cuBLAS handle, a cuBLASLt handle and one
 * cuBLASLt/cuBLAS workspace, bound to a stream, and row-major entry points with the conventions of blas.h.
 *
 * Row-major over column-major. A row-major (M,N) matrix with row stride ldc is, read column-major, its transpose
 * (N,M) with leading dimension ldc. So C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T
 * (column-major): the operands are swapped and each keeps its own transpose flag.
 *
 * Precision. Products accumulate in fp32 (CUBLAS_COMPUTE_32F) whatever the storage type. fp32 inputs never use
 * TF32, so the fp32 mode compares with the CPU at fp32 accuracy; bf16 inputs run on the tensor cores. Split-K
 * partial sums are never reduced in bf16 (CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION).
 *
 * Determinism. cuBLAS and cuBLASLt give bit-identical results from run to run for the same shapes on the same GPU
 * when each handle has its own fixed workspace (set here at creation) and runs on one stream, which is how leap
 * uses them. */
#ifndef LEAP_KERNELS_BLAS_BLAS_CUDA_H
#define LEAP_KERNELS_BLAS_BLAS_CUDA_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* Creates the handles on `stream` and allocates the workspace (device memory, once). Aborts on failure. */
leap_cuda_blas *leap_cuda_blas_create(leap_cuda_stream stream);
void leap_cuda_blas_destroy(leap_cuda_blas *blas);

/* The stream the context is bound to: kernels that go with a product (bias, reductions) run on it too. */
leap_cuda_stream leap_cuda_blas_stream(const leap_cuda_blas *blas);

/* Whether leap_gemm_bias_cuda may use the cuBLASLt bias epilogue (default true). Turning it off forces the plain
 * path (bias broadcast into C, then a product with beta 1); the tests compare both. */
void leap_cuda_blas_use_lt(leap_cuda_blas *blas, bool enabled);

/* C[i] (M,N) = alpha * op(A[i]) (M,K) * op(B[i]) (K,N) + beta * C[i], for i in [0, batch), all row-major:
 * A[i] is stored (M,K), or (K,M) when trans_a, with row stride lda; likewise B (K,N) or (N,K) with ldb; C with ldc.
 * stride_a/b/c are element strides between consecutive matrices (0 shares one matrix). stride_c == 0 with
 * batch > 1 accumulates every product into the one C in batch order (C = beta C + sum_i alpha op(A[i]) op(B[i]),
 * one cuBLAS call per entry), as leap_sgemm_tiled_cpu does.
 * Types: ab_dtype is LEAP_F32 or LEAP_BF16 (A and B alike); c_dtype is LEAP_F32, or LEAP_BF16 when ab_dtype is.
 * alpha and beta are host floats; beta == 0 never reads C (so C may hold NaN). */
void leap_gemm_cuda(leap_cuda_blas *blas, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                    float alpha, const void *A, int64_t lda, int64_t stride_a, const void *B, int64_t ldb,
                    int64_t stride_b, float beta, void *C, int64_t ldc, int64_t stride_c, leap_dtype ab_dtype,
                    leap_dtype c_dtype);

/* C (M,N) = op(A) op(B) + bias, with bias (N) fp32 broadcast over the M rows (bias NULL: plain product); types as
 * in leap_gemm_cuda. Uses one cuBLASLt call with the bias epilogue (the bias added in fp32 before C is rounded to
 * its type) when cuBLASLt offers an algorithm for it, else fills C with the bias and runs leap_gemm_cuda with
 * beta 1 (in bf16 the bias is then rounded to bf16 first). */
void leap_gemm_bias_cuda(leap_cuda_blas *blas, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                         const void *A, int64_t lda, const void *B, int64_t ldb, const float *bias, void *C,
                         int64_t ldc, leap_dtype ab_dtype, leap_dtype c_dtype);

/* The product with a GELU epilogue, for a layer followed by GELU:
 *   aux (M,N) = op(A) op(B) + bias   (the pre-activation, kept for the backward; row stride ldaux)
 *   C   (M,N) = gelu(aux)            (row stride ldc)
 * with bias (N) fp32 or NULL, aux and C of c_dtype, types as in leap_gemm_cuda. GELU is the tanh approximation,
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in both paths:
 *   - fused: one cuBLASLt call with CUBLASLT_EPILOGUE_GELU_AUX_BIAS (GELU_AUX without a bias). The bias and GELU are
 *     applied to the fp32 accumulator, then C and aux are rounded to c_dtype. cuBLASLt's GELU is the same tanh
 *     approximation as leap's (PyTorch's reference for this epilogue is gelu(approximate="tanh")) but with its own
 *     evaluation of tanh, which may differ from leap's by more than fp32 rounding: the op layer fuses only in bf16,
 *     where bf16 rounding dominates, and keeps leap's kernel in the fp32 mode that is compared with the CPU.
 *     cuBLASLt requires the aux row stride to be a multiple of 8 elements (CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD).
 *   - otherwise (ldaux not a multiple of 8, cuBLASLt without an algorithm for the problem, or leap_cuda_blas_use_lt
 *     off): leap_gemm_bias_cuda into aux, then leap_gelu_forward_cuda from aux into C.
 * Returns whether the fused path ran. C and aux must not overlap; neither is read. The backward of the layer is
 * leap_gelu_backward_cuda on aux followed by the linear backward (cuBLASLt's DGELU epilogues apply gelu' to a
 * product's output, which is the next layer's input gradient, not this layer's). */
bool leap_gemm_bias_gelu_cuda(leap_cuda_blas *blas, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                              const void *A, int64_t lda, const void *B, int64_t ldb, const float *bias, void *C,
                              int64_t ldc, void *aux, int64_t ldaux, leap_dtype ab_dtype, leap_dtype c_dtype);

LEAP_EXTERN_C_END

#endif
