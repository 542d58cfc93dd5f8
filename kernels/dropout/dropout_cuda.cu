/* Dropout on the GPU (dropout.h), with the CPU's Philox counters (kernels/rng/philox.h), so the CUDA mask equals
 * the CPU mask bit for bit: element i is kept when leap_dropout_keep(seed, stream, offset + i, p), a pure
 * function of integers followed by an exact scaling by 2^-24 and a comparison.
 *
 * One Philox call yields the four values of one counter block (indices 4b .. 4b+3), so each thread handles one
 * block: the elements whose global index offset + i falls in it (fewer at the two ends when offset is not a
 * multiple of 4). The kept scale 1 / (1 - p) is computed once on the host by the CPU's own function. */
#include "kernels/dropout/dropout.h"

#include "kernels/common/cuda_common.cuh"

#define DROPOUT_THREADS 256
#define DROPOUT_MAX_BLOCKS 65535
#define PHILOX_LANES 4

/* For each element of counter block `blk` that lies in [offset, offset + n): forward out[i] = keep ? x[i] * scale :
 * 0; backward (ACC) out[i] += keep ? x[i] * scale : 0, where x is dout and out din. */
template <bool ACC, typename T>
__global__ void dropout_kernel(T *out, const T *x, int64_t n, float p, float scale, uint64_t seed, uint64_t stream,
                               uint64_t offset, uint64_t first_block, uint64_t blocks) {
  for (uint64_t k = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; k < blocks;
       k += (uint64_t)gridDim.x * blockDim.x) {
    uint64_t blk = first_block + k;
    leap_philox4 r = leap_rng_block(seed, stream, blk);
#pragma unroll
    for (int lane = 0; lane < PHILOX_LANES; lane++) {
      uint64_t g = blk * PHILOX_LANES + (uint64_t)lane;
      if (g < offset || g - offset >= (uint64_t)n) continue;
      size_t i = (size_t)(g - offset);
      bool keep = leap_rng_bits_to_uniform(r.x[lane]) >= p;
      float v = keep ? leap_load(x, i) * scale : 0.0f;
      leap_store(out, i, ACC ? leap_load(out, i) + v : v);
    }
  }
}

/* Plain copy (forward) or accumulation (backward) for p <= 0. */
template <bool ACC, typename T>
__global__ void identity_kernel(T *out, const T *x, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    leap_store(out, (size_t)i, ACC ? leap_load(out, (size_t)i) + leap_load(x, (size_t)i) : leap_load(x, (size_t)i));
}

static unsigned grid_for(uint64_t work) {
  uint64_t b = (work + DROPOUT_THREADS - 1) / DROPOUT_THREADS;
  return (unsigned)(b < 1 ? 1 : (b > DROPOUT_MAX_BLOCKS ? DROPOUT_MAX_BLOCKS : b));
}

template <bool ACC>
static void dropout(void *out, const void *x, int64_t n, float p, uint64_t seed, uint64_t stream, uint64_t offset,
                    leap_dtype act, cudaStream_t st) {
  if (n <= 0) return;
  LEAP_DISPATCH_ACT(act, T, {
    if (p <= 0.0f) {
      if (ACC || out != x) {
        identity_kernel<ACC, T><<<grid_for((uint64_t)n), DROPOUT_THREADS, 0, st>>>((T *)out, (const T *)x, n);
        LEAP_CUDA_LAUNCH_CHECK();
      }
    } else {
      uint64_t first = offset / PHILOX_LANES, last = (offset + (uint64_t)n - 1) / PHILOX_LANES;
      uint64_t blocks = last - first + 1;
      dropout_kernel<ACC, T><<<grid_for(blocks), DROPOUT_THREADS, 0, st>>>(
          (T *)out, (const T *)x, n, p, leap_dropout_scale(p), seed, stream, offset, first, blocks);
      LEAP_CUDA_LAUNCH_CHECK();
    }
  });
}

LEAP_EXTERN_C_BEGIN

void leap_dropout_forward_cuda(void *out, const void *x, int64_t n, float p, uint64_t seed, uint64_t stream,
                               uint64_t offset, leap_dtype act, leap_cuda_stream cuda_stream) {
  dropout<false>(out, x, n, p, seed, stream, offset, act, (cudaStream_t)cuda_stream);
}

void leap_dropout_backward_cuda(void *din, const void *dout, int64_t n, float p, uint64_t seed, uint64_t stream,
                                uint64_t offset, leap_dtype act, leap_cuda_stream cuda_stream) {
  if (!din) return;
  dropout<true>(din, dout, n, p, seed, stream, offset, act, (cudaStream_t)cuda_stream);
}

LEAP_EXTERN_C_END
