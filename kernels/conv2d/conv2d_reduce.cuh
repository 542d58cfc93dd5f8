/* The fixed-order reductions of the CUDA convolutions (the implicit-GEMM path, the reference path and the cuDNN
 * baseline share them): the bias gradient as column sums of dout, and backward-filter's reduction slices added
 * into dweight. Each output element is a sum in index order over fixed chunks, then over the chunks in order, so the
 * result has the same bits from run to run whatever the device. Header-only: each .cu file gets its own copy of
 * these small kernels. */
#ifndef LEAP_KERNELS_CONV2D_CONV2D_REDUCE_CUH
#define LEAP_KERNELS_CONV2D_CONV2D_REDUCE_CUH

#include "kernels/common/cuda_common.cuh"

/* Output pixels per column-sum chunk of the bias gradient, and threads per block of these element-wise kernels. */
#define LEAP_CONV_BIAS_ROWS 256
#define LEAP_CONV_EW_THREADS 256

/* part[chunk][k] = the sum of dout[m][k] over the chunk's LEAP_CONV_BIAS_ROWS pixels in order. A thread per
 * (chunk, k), consecutive threads on consecutive k so that the row reads coalesce. */
template <typename T>
static __global__ void leap_conv_bias_chunks_kernel(float *part, const T *dout, int64_t rows, int64_t K,
                                                    int64_t chunks) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= chunks * K) return;
  int64_t k = i % K, chunk = i / K, r0 = chunk * LEAP_CONV_BIAS_ROWS;
  int64_t r1 = r0 + LEAP_CONV_BIAS_ROWS < rows ? r0 + LEAP_CONV_BIAS_ROWS : rows;
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; r++) acc += leap_load(dout, r * K + k);
  part[i] = acc;
}

/* dbias[k] += the chunk sums of column k, in chunk order. */
static __global__ void leap_conv_bias_total_kernel(float *dbias, const float *part, int64_t K, int64_t chunks) {
  int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= K) return;
  float acc = 0.0f;
  for (int64_t c = 0; c < chunks; c++) acc += part[c * K + k];
  dbias[k] += acc;
}

/* dst[i] += the slices' partials of element i (partial[z * n + i]), added in slice order. */
static __global__ void leap_conv_sum_splits_kernel(float *dst, const float *partial, int64_t n, int64_t splits) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float acc = 0.0f;
  for (int64_t z = 0; z < splits; z++) acc += partial[z * n + i];
  dst[i] += acc;
}

static inline unsigned leap_conv_ew_blocks(int64_t n) {
  return (unsigned)((n + LEAP_CONV_EW_THREADS - 1) / LEAP_CONV_EW_THREADS);
}

/* Column-sum chunks of the bias gradient for rows output pixels: the floats of workspace it needs are this times K. */
static inline int64_t leap_conv_bias_chunks(int64_t rows) {
  return (rows + LEAP_CONV_BIAS_ROWS - 1) / LEAP_CONV_BIAS_ROWS;
}

/* dbias (K) += the column sums of dout (rows, K), through part (leap_conv_bias_chunks(rows) * K floats). */
template <typename T>
static void leap_conv_bias_grad(float *dbias, float *part, const T *dout, int64_t rows, int64_t K,
                                cudaStream_t stream) {
  int64_t chunks = leap_conv_bias_chunks(rows);
  LEAP_LAUNCH(leap_conv_ew_blocks(chunks * K), LEAP_CONV_EW_THREADS, 0, stream, leap_conv_bias_chunks_kernel<T>)(
      part, dout, rows, K, chunks);
  LEAP_CUDA_LAUNCH_CHECK();
  LEAP_LAUNCH(leap_conv_ew_blocks(K), LEAP_CONV_EW_THREADS, 0, stream, leap_conv_bias_total_kernel)(dbias, part, K,
                                                                                                  chunks);
  LEAP_CUDA_LAUNCH_CHECK();
}

/* dst (n) += the sum over z of partial[z][.], in slice order. */
static inline void leap_conv_sum_splits(float *dst, const float *partial, int64_t n, int64_t splits,
                                        cudaStream_t stream) {
  LEAP_LAUNCH(leap_conv_ew_blocks(n), LEAP_CONV_EW_THREADS, 0, stream, leap_conv_sum_splits_kernel)(dst, partial, n,
                                                                                                  splits);
  LEAP_CUDA_LAUNCH_CHECK();
}

#endif
