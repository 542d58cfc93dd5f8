/* Row softmax on the GPU (softmax.h): one thread block per row, ROW_MAX_THREADS threads at most (fewer for short
 * rows: the row length rounded up to a warp), each thread striding over the row. Forward: the row maximum, the sum
 * of exp(x - max), then out = exp(x - max) * (1 / sum), three passes over the input (the later ones from cache),
 * so that bf16 outputs are rounded once. Block reductions add warp sums in warp order: deterministic. */
#include "kernels/softmax/softmax.h"

#include "kernels/common/cuda_common.cuh"

#define ROW_MAX_THREADS 256

/* One block per row: block maximum, block sum of exp(x - max), then the normalised outputs. */
template <typename T>
__global__ void softmax_forward_kernel(T *out, const T *inp, int64_t C) {
  __shared__ float shared[LEAP_CUDA_WARP];
  const T *x = inp + (int64_t)blockIdx.x * C;
  T *y = out + (int64_t)blockIdx.x * C;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, leap_load(x, (size_t)c));
  m = leap_block_max(m, shared);
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += expf(leap_load(x, (size_t)c) - m);
  float inv = 1.0f / leap_block_sum(s, shared);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    leap_store(y, (size_t)c, expf(leap_load(x, (size_t)c) - m) * inv);
}

/* dinp += y * (dout - sum_c dout * y). */
template <typename T>
__global__ void softmax_backward_kernel(T *dinp, const T *dout, const T *out, int64_t C) {
  __shared__ float shared[LEAP_CUDA_WARP];
  int64_t base = (int64_t)blockIdx.x * C;
  float dot = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    dot += leap_load(dout, (size_t)(base + c)) * leap_load(out, (size_t)(base + c));
  dot = leap_block_sum(dot, shared);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    size_t i = (size_t)(base + c);
    leap_store(dinp, i, leap_load(dinp, i) + leap_load(out, i) * (leap_load(dout, i) - dot));
  }
}

LEAP_EXTERN_C_BEGIN

void leap_softmax_forward_cuda(void *out, const void *inp, int64_t N, int64_t C, leap_dtype act,
                               leap_cuda_stream stream) {
  if (N <= 0 || C <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    softmax_forward_kernel<T><<<(unsigned)N, leap_cuda_row_threads(C, ROW_MAX_THREADS), 0, (cudaStream_t)stream>>>((T *)out, (const T *)inp, C);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_softmax_backward_cuda(void *dinp, const void *dout, const void *out, int64_t N, int64_t C, leap_dtype act,
                                leap_cuda_stream stream) {
  if (N <= 0 || C <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    softmax_backward_kernel<T>
        <<<(unsigned)N, leap_cuda_row_threads(C, ROW_MAX_THREADS), 0, (cudaStream_t)stream>>>((T *)dinp, (const T *)dout, (const T *)out, C);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_END
