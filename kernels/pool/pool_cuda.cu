/* Pooling on CUDA over NHWC, fp32 or bf16 activations with fp32 arithmetic; the twins of pool_cpu.c.
 *
 * Every kernel gives each thread one element it alone writes, so nothing is scattered and no atomics are needed:
 *   max / avg forward     one thread per output (n,p,q,c), walking its window row by row;
 *   max / avg backward    one thread per input (n,h,w,c), GATHERING from the windows that cover it, in window
 *                         order (row, then column): the order in which the CPU adds them;
 *   global avg forward    one block per (image, POOL_GAP_CHANNELS channels): POOL_GAP_ROWS rows of threads each
 *                         sum one LEAP_REDUCE_BLOCK-row block of the image, and one row adds the block sums in block
 *                         order, round after round: the fixed-block order of kernel_common.h, as on the CPU;
 *   global avg backward   one thread per input element.
 * Consecutive threads take consecutive channels, the contiguous dimension, so every access coalesces. */
#include "kernels/common/cuda_common.cuh"
#include "kernels/common/kernel_common.h"
#include "kernels/pool/pool.h"

/* Threads per block of the per-element kernels. */
#define POOL_THREADS 256
/* Global average pool: channels per block (one warp wide) and row blocks summed at once. */
#define POOL_GAP_CHANNELS 32
#define POOL_GAP_ROWS 8

static unsigned blocks_for(int64_t n) { return (unsigned)((n + POOL_THREADS - 1) / POOL_THREADS); }

__device__ __forceinline__ int64_t dmin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t dmax(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* The input positions [lo, hi) along one axis that window o covers inside the image. */
__device__ __forceinline__ void window_range(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size,
                                             int64_t *lo, int64_t *hi) {
  int64_t start = o * stride - pad;
  *lo = dmax(start, 0);
  *hi = dmin(start + k, size);
}

/* The windows [lo, hi) along one axis (out of n) that cover input position i. */
__device__ __forceinline__ void windows_covering(int64_t i, int64_t stride, int64_t pad, int64_t k, int64_t n,
                                                 int64_t *lo, int64_t *hi) {
  *lo = dmax(0, -floor_div(-(i + pad - k + 1), stride));
  *hi = dmin(n, floor_div(i + pad, stride) + 1);
}

template <typename T>
__global__ void maxpool_forward_kernel(T *out, int32_t *argmax, const T *inp, leap_pool_shape s) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= s.N * s.P * s.Q * s.C) return;
  int64_t c = i % s.C, t = i / s.C, q = t % s.Q, u = t / s.Q, p = u % s.P, n = u / s.P, h0, h1, w0, w1;
  window_range(p, s.stride_h, s.pad_h, s.kh, s.H, &h0, &h1);
  window_range(q, s.stride_w, s.pad_w, s.kw, s.W, &w0, &w1);
  float best = -INFINITY;
  int32_t at = -1;
  for (int64_t h = h0; h < h1; h++)
    for (int64_t w = w0; w < w1; w++) {
      float x = leap_load(inp, ((n * s.H + h) * s.W + w) * s.C + c);
      if (x > best || isnan(x)) best = x, at = (int32_t)(h * s.W + w);
    }
  leap_store(out, i, best);
  argmax[i] = at;
}

template <typename T>
__global__ void maxpool_backward_kernel(T *dinp, const T *dout, const int32_t *argmax, leap_pool_shape s) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= s.N * s.H * s.W * s.C) return;
  int64_t c = i % s.C, t = i / s.C, w = t % s.W, u = t / s.W, h = u % s.H, n = u / s.H, plo, phi, qlo, qhi;
  windows_covering(h, s.stride_h, s.pad_h, s.kh, s.P, &plo, &phi);
  windows_covering(w, s.stride_w, s.pad_w, s.kw, s.Q, &qlo, &qhi);
  const int32_t me = (int32_t)(h * s.W + w);
  float acc = leap_load(dinp, i);
  for (int64_t p = plo; p < phi; p++)
    for (int64_t q = qlo; q < qhi; q++) {
      int64_t o = ((n * s.P + p) * s.Q + q) * s.C + c;
      if (argmax[o] == me) acc += leap_load(dout, o);
    }
  leap_store(dinp, i, acc);
}

template <typename T>
__global__ void avgpool_forward_kernel(T *out, const T *inp, leap_pool_shape s) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= s.N * s.P * s.Q * s.C) return;
  int64_t c = i % s.C, t = i / s.C, q = t % s.Q, u = t / s.Q, p = u % s.P, n = u / s.P, h0, h1, w0, w1;
  window_range(p, s.stride_h, s.pad_h, s.kh, s.H, &h0, &h1);
  window_range(q, s.stride_w, s.pad_w, s.kw, s.W, &w0, &w1);
  float acc = 0.0f;
  for (int64_t h = h0; h < h1; h++)
    for (int64_t w = w0; w < w1; w++) acc += leap_load(inp, ((n * s.H + h) * s.W + w) * s.C + c);
  leap_store(out, i, acc / (float)((h1 - h0) * (w1 - w0)));
}

template <typename T>
__global__ void avgpool_backward_kernel(T *dinp, const T *dout, leap_pool_shape s) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= s.N * s.H * s.W * s.C) return;
  int64_t c = i % s.C, t = i / s.C, w = t % s.W, u = t / s.W, h = u % s.H, n = u / s.H, plo, phi, qlo, qhi;
  windows_covering(h, s.stride_h, s.pad_h, s.kh, s.P, &plo, &phi);
  windows_covering(w, s.stride_w, s.pad_w, s.kw, s.Q, &qlo, &qhi);
  float acc = leap_load(dinp, i);
  for (int64_t p = plo; p < phi; p++) {
    int64_t h0, h1;
    window_range(p, s.stride_h, s.pad_h, s.kh, s.H, &h0, &h1);
    for (int64_t q = qlo; q < qhi; q++) {
      int64_t w0, w1;
      window_range(q, s.stride_w, s.pad_w, s.kw, s.W, &w0, &w1);
      acc += leap_load(dout, ((n * s.P + p) * s.Q + q) * s.C + c) / (float)((h1 - h0) * (w1 - w0));
    }
  }
  leap_store(dinp, i, acc);
}

/* Block (POOL_GAP_CHANNELS, POOL_GAP_ROWS); block x of the grid is channel tile x % tiles of image x / tiles. See
 * the file comment for the order of the sums. */
template <typename T>
__global__ void global_avgpool_forward_kernel(T *out, const T *inp, int64_t HW, int64_t C, int64_t tiles) {
  __shared__ float part[POOL_GAP_ROWS][POOL_GAP_CHANNELS];
  const int64_t n = blockIdx.x / tiles, c = blockIdx.x % tiles * POOL_GAP_CHANNELS + threadIdx.x;
  const int64_t blocks = (HW + LEAP_REDUCE_BLOCK - 1) / LEAP_REDUCE_BLOCK;
  const T *x = inp + n * HW * C;
  float acc = 0.0f;
  for (int64_t b0 = 0; b0 < blocks; b0 += POOL_GAP_ROWS) {
    int64_t b = b0 + threadIdx.y;
    float sum = 0.0f;
    if (c < C && b < blocks)
      for (int64_t r = b * LEAP_REDUCE_BLOCK; r < dmin(HW, (b + 1) * LEAP_REDUCE_BLOCK); r++)
        sum += leap_load(x, r * C + c);
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0)
      for (int y = 0; y < POOL_GAP_ROWS && b0 + y < blocks; y++) acc += part[y][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < C) leap_store(out, n * C + c, acc / (float)HW);
}

template <typename T>
__global__ void global_avgpool_backward_kernel(T *dinp, const T *dout, int64_t N, int64_t HW, int64_t C) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * HW * C) return;
  int64_t c = i % C, n = i / C / HW;
  leap_store(dinp, i, leap_load(dinp, i) + leap_load(dout, n * C + c) / (float)HW);
}

LEAP_EXTERN_C_BEGIN

void leap_maxpool_forward_cuda(void *out, int32_t *argmax, const void *inp, const leap_pool_shape *s, leap_dtype act,
                               leap_cuda_stream stream) {
  int64_t n = s->N * s->P * s->Q * s->C;
  if (n == 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    maxpool_forward_kernel<T><<<blocks_for(n), POOL_THREADS, 0, stream>>>(static_cast<T *>(out), argmax,
                                                                          static_cast<const T *>(inp), *s);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_maxpool_backward_cuda(void *dinp, const void *dout, const int32_t *argmax, const leap_pool_shape *s,
                                leap_dtype act, leap_cuda_stream stream) {
  int64_t n = s->N * s->H * s->W * s->C;
  if (n == 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    maxpool_backward_kernel<T><<<blocks_for(n), POOL_THREADS, 0, stream>>>(
        static_cast<T *>(dinp), static_cast<const T *>(dout), argmax, *s);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_avgpool_forward_cuda(void *out, const void *inp, const leap_pool_shape *s, leap_dtype act,
                               leap_cuda_stream stream) {
  int64_t n = s->N * s->P * s->Q * s->C;
  if (n == 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    avgpool_forward_kernel<T><<<blocks_for(n), POOL_THREADS, 0, stream>>>(static_cast<T *>(out),
                                                                          static_cast<const T *>(inp), *s);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_avgpool_backward_cuda(void *dinp, const void *dout, const leap_pool_shape *s, leap_dtype act,
                                leap_cuda_stream stream) {
  int64_t n = s->N * s->H * s->W * s->C;
  if (n == 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    avgpool_backward_kernel<T><<<blocks_for(n), POOL_THREADS, 0, stream>>>(static_cast<T *>(dinp),
                                                                           static_cast<const T *>(dout), *s);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_global_avgpool_forward_cuda(void *out, const void *inp, int64_t N, int64_t HW, int64_t C, leap_dtype act,
                                      leap_cuda_stream stream) {
  if (N * C == 0) return;
  const int64_t tiles = (C + POOL_GAP_CHANNELS - 1) / POOL_GAP_CHANNELS;
  dim3 block(POOL_GAP_CHANNELS, POOL_GAP_ROWS);
  LEAP_DISPATCH_ACT(act, T, {
    global_avgpool_forward_kernel<T><<<(unsigned)(N * tiles), block, 0, stream>>>(
        static_cast<T *>(out), static_cast<const T *>(inp), HW, C, tiles);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_global_avgpool_backward_cuda(void *dinp, const void *dout, int64_t N, int64_t HW, int64_t C,
                                       leap_dtype act, leap_cuda_stream stream) {
  int64_t n = N * HW * C;
  if (n == 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    global_avgpool_backward_kernel<T><<<blocks_for(n), POOL_THREADS, 0, stream>>>(
        static_cast<T *>(dinp), static_cast<const T *>(dout), N, HW, C);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_END
