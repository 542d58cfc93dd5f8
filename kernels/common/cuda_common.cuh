/* CUDA-side helpers shared by every kernel: return-code checks that abort with file:line, bf16 conversions, warp
 * and block reductions in fp32. */
#ifndef LEAP_KERNELS_COMMON_CUDA_COMMON_CUH
#define LEAP_KERNELS_COMMON_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/common/cuda_common.h"

#define LEAP_CUDA_CHECK(call)                                                                              \
  do {                                                                                                     \
    cudaError_t leap_e_ = (call);                                                                          \
    if (leap_e_ != cudaSuccess) {                                                                          \
      fprintf(stderr, "leap: fatal at %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(leap_e_)); \
      abort();                                                                                             \
    }                                                                                                      \
  } while (0)

/* cuBLAS and cuBLASLt calls (their status type is the same enum); only for files that include cublas_v2.h. */
#define LEAP_CUBLAS_CHECK(call)                                                                                    \
  do {                                                                                                             \
    cublasStatus_t leap_s_ = (call);                                                                               \
    if (leap_s_ != CUBLAS_STATUS_SUCCESS) {                                                                        \
      fprintf(stderr, "leap: fatal at %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cublasGetStatusString(leap_s_)); \
      abort();                                                                                                     \
    }                                                                                                              \
  } while (0)

/* A kernel launch: LEAP_LAUNCH(grid, block, smem, stream, kernel)(args...) is kernel<<<grid, block, smem,
 * stream>>>(args...). The kernel comes last so that a template-id's commas need no parentheses. Under
 * LEAP_CUDA_EMU (tests/emu/) it runs the kernel on the CPU emulator instead, synchronously. */
#ifdef LEAP_CUDA_EMU
#define LEAP_LAUNCH(grid, block, smem, stream, ...) \
  (static_cast<void>(stream), ::leap_emu::make_launcher(__VA_ARGS__, grid, block, smem))
#else
#define LEAP_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#endif

/* After every launch: catches a bad launch configuration at the line that made it. */
#define LEAP_CUDA_LAUNCH_CHECK() LEAP_CUDA_CHECK(cudaGetLastError())

#define LEAP_CUDA_WARP 32

/* Loads and stores of activations in either precision, computing in fp32. */
__device__ __forceinline__ float leap_load(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float leap_load(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void leap_store(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void leap_store(__nv_bfloat16 *p, size_t i, float v) { p[i] = __float2bfloat16(v); }

__device__ __forceinline__ float leap_warp_sum(float v) {
  for (int offset = LEAP_CUDA_WARP / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float leap_warp_max(float v) {
  for (int offset = LEAP_CUDA_WARP / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result. The order of the
 * additions depends only on blockDim, so the result is deterministic. `shared` holds 32 floats. */
__device__ __forceinline__ float leap_block_sum(float v, float *shared) {
  int lane = threadIdx.x % LEAP_CUDA_WARP, warp = threadIdx.x / LEAP_CUDA_WARP;
  v = leap_warp_sum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  int warps = blockDim.x / LEAP_CUDA_WARP;
  v = lane < warps ? shared[lane] : 0.0f;
  return leap_warp_sum(v);
}

/* Maximum over the block, as leap_block_sum (every thread gets it; `shared` holds 32 floats). */
__device__ __forceinline__ float leap_block_max(float v, float *shared) {
  int lane = threadIdx.x % LEAP_CUDA_WARP, warp = threadIdx.x / LEAP_CUDA_WARP;
  v = leap_warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  int warps = blockDim.x / LEAP_CUDA_WARP;
  v = lane < warps ? shared[lane] : -INFINITY;
  return leap_warp_max(v);
}

/* Threads for a one-block-per-row kernel over rows of C elements: C rounded up to whole warps, at most max_threads. */
static inline unsigned leap_cuda_row_threads(int64_t C, int64_t max_threads) {
  int64_t t = (C + LEAP_CUDA_WARP - 1) / LEAP_CUDA_WARP * LEAP_CUDA_WARP;
  return (unsigned)(t > max_threads ? max_threads : (t < LEAP_CUDA_WARP ? LEAP_CUDA_WARP : t));
}

/* Dispatches a templated kernel launch on the activation dtype: LEAP_DISPATCH_ACT(act, T, { ...uses T... }). */
#define LEAP_DISPATCH_ACT(act, T, ...)                                        \
  do {                                                                        \
    if ((act) == LEAP_BF16) {                                                 \
      typedef __nv_bfloat16 T;                                                \
      __VA_ARGS__;                                                            \
    } else {                                                                  \
      typedef float T;                                                        \
      __VA_ARGS__;                                                            \
    }                                                                         \
  } while (0)

#endif
