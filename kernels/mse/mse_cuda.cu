/* Mean squared error on the GPU (mse.h).
 *
 * Forward, deterministic in two kernels: block b of MSE_THREADS threads sums (pred - target)^2 over its chunk of
 * MSE_CHUNK elements (thread t taking elements t, t + MSE_THREADS, ... of the chunk, then a block sum in warp
 * order) into workspace[b]; one block then adds the chunk partials in double, thread t taking chunks t,
 * t + MSE_THREADS, ..., with the thread partials added by a fixed tree, and writes the mean.
 * Backward: one thread per element, reading dloss from device memory. */
#include "kernels/mse/mse.h"

#include "kernels/common/cuda_common.cuh"

#define MSE_THREADS 256
#define MSE_CHUNK 8192
#define MSE_MAX_BLOCKS 65535

static_assert((MSE_THREADS & (MSE_THREADS - 1)) == 0, "the tree reduction halves the threads");

static __host__ __device__ int64_t mse_chunks(int64_t n) { return (n + MSE_CHUNK - 1) / MSE_CHUNK; }

/* Block b sums (pred - target)^2 over chunk b (grid-stride over chunks) into partial[b]. */
template <typename T>
__global__ void mse_partial_kernel(float *partial, const T *pred, const T *target, int64_t n) {
  __shared__ float shared[LEAP_CUDA_WARP];
  for (int64_t b = blockIdx.x; b < mse_chunks(n); b += gridDim.x) {
    int64_t lo = b * MSE_CHUNK, hi = lo + MSE_CHUNK < n ? lo + MSE_CHUNK : n;
    float s = 0.0f;
    for (int64_t i = lo + threadIdx.x; i < hi; i += MSE_THREADS) {
      float d = leap_load(pred, (size_t)i) - leap_load(target, (size_t)i);
      s += d * d;
    }
    s = leap_block_sum(s, shared);
    if (threadIdx.x == 0) partial[b] = s;
  }
}

/* One block: the chunk partials added in double by a fixed tree; loss = total / n. */
__global__ void mse_finish_kernel(float *loss, const float *partial, int64_t chunks, int64_t n) {
  __shared__ double sums[MSE_THREADS];
  double s = 0.0;
  for (int64_t b = threadIdx.x; b < chunks; b += MSE_THREADS) s += (double)partial[b];
  sums[threadIdx.x] = s;
  for (int w = MSE_THREADS / 2; w > 0; w /= 2) {
    __syncthreads();
    if ((int)threadIdx.x < w) sums[threadIdx.x] += sums[threadIdx.x + w];
  }
  if (threadIdx.x == 0) *loss = n > 0 ? (float)(sums[0] / (double)n) : 0.0f;
}

/* dpred += 2 (pred - target) / n * dloss, dtarget -= the same: one thread per element, grid-stride. */
template <typename T>
__global__ void mse_backward_kernel(T *dpred, T *dtarget, const float *dloss, const T *pred, const T *target,
                                    int64_t n) {
  float scale = 2.0f * *dloss / (float)n;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = scale * (leap_load(pred, (size_t)i) - leap_load(target, (size_t)i));
    if (dpred) leap_store(dpred, (size_t)i, leap_load(dpred, (size_t)i) + g);
    if (dtarget) leap_store(dtarget, (size_t)i, leap_load(dtarget, (size_t)i) - g);
  }
}

LEAP_EXTERN_C_BEGIN

size_t leap_mse_forward_workspace_floats_cuda(int64_t n) { return n > 0 ? (size_t)mse_chunks(n) : 0; }

void leap_mse_forward_cuda(float *loss, float *workspace, const void *pred, const void *target, int64_t n,
                           leap_dtype act, leap_cuda_stream stream) {
  cudaStream_t st = (cudaStream_t)stream;
  int64_t chunks = n > 0 ? mse_chunks(n) : 0;
  if (chunks > 0) {
    unsigned grid = (unsigned)(chunks > MSE_MAX_BLOCKS ? MSE_MAX_BLOCKS : chunks);
    LEAP_DISPATCH_ACT(act, T, {
      mse_partial_kernel<T><<<grid, MSE_THREADS, 0, st>>>(workspace, (const T *)pred, (const T *)target, n);
      LEAP_CUDA_LAUNCH_CHECK();
    });
  }
  mse_finish_kernel<<<1, MSE_THREADS, 0, st>>>(loss, workspace, chunks, n);
  LEAP_CUDA_LAUNCH_CHECK();
}

void leap_mse_backward_cuda(void *dpred, void *dtarget, const float *dloss, const void *pred, const void *target,
                            int64_t n, leap_dtype act, leap_cuda_stream stream) {
  if (n <= 0 || (!dpred && !dtarget)) return;
  int64_t blocks = (n + MSE_THREADS - 1) / MSE_THREADS;
  unsigned grid = (unsigned)(blocks > MSE_MAX_BLOCKS ? MSE_MAX_BLOCKS : blocks);
  LEAP_DISPATCH_ACT(act, T, {
    mse_backward_kernel<T><<<grid, MSE_THREADS, 0, (cudaStream_t)stream>>>((T *)dpred, (T *)dtarget, dloss,
                                                                           (const T *)pred, (const T *)target, n);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_END
