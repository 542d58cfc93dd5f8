/* The fully connected layer on the GPU (linear.h): three cuBLAS products and a deterministic column sum.
 *
 * In bf16 mode the products read the weight's bf16 copy (weight_lowp, kept current by the fused optimizer step) and
 * accumulate in fp32; dweight is written in fp32 straight from the product (bf16 inputs, fp32 output), so the
 * master gradient never passes through bf16. The forward bias is added by the product's epilogue (cuBLASLt) where
 * available (blas_cuda.h). */
#include "kernels/linear/linear.h"

#include "kernels/blas/blas_cuda.h"
#include "kernels/common/cuda_common.cuh"
#include "kernels/elementwise/elementwise.h"

static const void *weight_for(const float *weight, const void *weight_lowp, leap_dtype act) {
  if (act != LEAP_BF16) return weight;
  if (!weight_lowp) {
    fprintf(stderr, "leap: fatal: linear in bf16 needs the weight's bf16 copy (weight_lowp is NULL)\n");
    abort();
  }
  return weight_lowp;
}

LEAP_EXTERN_C_BEGIN

void leap_linear_forward_cuda(void *out, const void *inp, const float *weight, const void *weight_lowp,
                              const float *bias, int64_t N, int64_t IN, int64_t OUT, leap_dtype act,
                              leap_cuda_blas *blas) {
  const void *w = weight_for(weight, weight_lowp, act);
  leap_gemm_bias_cuda(blas, false, true, N, OUT, IN, inp, IN, w, IN, bias, out, OUT, act, act);
}

size_t leap_linear_backward_workspace_floats_cuda(int64_t N, int64_t OUT) {
  return leap_sum_rows_workspace_floats_cuda(N, OUT);
}

void leap_linear_backward_cuda(void *dinp, float *dweight, float *dbias, float *workspace, const void *dout,
                               const void *inp, const float *weight, const void *weight_lowp, int64_t N, int64_t IN,
                               int64_t OUT, leap_dtype act, leap_cuda_blas *blas) {
  if (dinp) {
    const void *w = weight_for(weight, weight_lowp, act);
    leap_gemm_cuda(blas, false, false, 1, N, IN, OUT, 1.0f, dout, OUT, 0, w, IN, 0, 1.0f, dinp, IN, 0, act, act);
  }
  if (dweight)
    leap_gemm_cuda(blas, true, false, 1, OUT, IN, N, 1.0f, dout, OUT, 0, inp, IN, 0, 1.0f, dweight, IN, 0, act,
                   LEAP_F32);
  if (dbias) leap_sum_rows_cuda(dbias, LEAP_F32, workspace, dout, NULL, N, OUT, act, leap_cuda_blas_stream(blas));
}

LEAP_EXTERN_C_END
