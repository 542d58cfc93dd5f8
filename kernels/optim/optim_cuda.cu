/* Fused optimizer updates and global-norm clipping on the GPU (optim.h).
 *
 * Updates: one thread per element, one pass over the fp32 master arrays that also writes the parameter's bf16 copy
 * when one is given. The scalar factors (bias corrections, decay) are computed on the host in double exactly as
 * optim_cpu.c computes them; the per-element arithmetic is fp32 in the CPU's order. The gradient factor comes
 * either from the host or, for clipping without a host round trip, from a float in device memory.
 *
 * Sum of squares: block b of SUMSQ_THREADS threads sums x^2 in double over its chunk of SUMSQ_CHUNK elements
 * (thread t taking elements t, t + SUMSQ_THREADS, ...) and adds the thread partials by a fixed tree; with more than
 * one chunk the chunk partials go to the workspace and one block adds them the same way. The result is added to a
 * double in device memory, so calling it for every gradient in parameter order accumulates a deterministic total. */
#include "kernels/optim/optim.h"

#include <math.h>

#include "kernels/common/cuda_common.cuh"

#define OPTIM_THREADS 256
#define OPTIM_MAX_BLOCKS 65535
#define SUMSQ_THREADS 256
#define SUMSQ_CHUNK 16384
#define SUMSQ_MAX_BLOCKS 65535

static_assert((SUMSQ_THREADS & (SUMSQ_THREADS - 1)) == 0, "the tree reduction halves the threads");

static unsigned optim_blocks(int64_t n) {
  int64_t b = (n + OPTIM_THREADS - 1) / OPTIM_THREADS;
  return (unsigned)(b < 1 ? 1 : (b > OPTIM_MAX_BLOCKS ? OPTIM_MAX_BLOCKS : b));
}

/* torch.lerp's two-sided formula, as on the CPU. */
__device__ __forceinline__ float lerp_torch(float from, float to, float weight) {
  return fabsf(weight) < 0.5f ? from + weight * (to - from) : to - (to - from) * (1.0f - weight);
}

typedef struct adamw_consts {
  float beta2, eps, decay, neg_step_size, bias2_sqrt, w1, w2;
} adamw_consts;

/* One AdamW step per element (optim.h's formula, fp32 in the CPU's order), grid-stride; writes the bf16 copy too. */
__global__ void adamw_kernel(float *param, float *m, float *v, const float *grad, __nv_bfloat16 *lowp, int64_t n,
                             adamw_consts k, float grad_scale, const float *grad_scale_dev) {
  const float s = grad_scale_dev ? *grad_scale_dev : grad_scale;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = grad[i] * s;
    float p = param[i] * k.decay;
    float mi = lerp_torch(m[i], g, k.w1);
    float vi = v[i] * k.beta2 + k.w2 * g * g;
    float denom = sqrtf(vi) / k.bias2_sqrt + k.eps;
    m[i] = mi;
    v[i] = vi;
    p = p + k.neg_step_size * (mi / denom);
    param[i] = p;
    if (lowp) lowp[i] = __float2bfloat16(p);
  }
}

/* One SGD step per element (optim.h's formula), grid-stride; writes the bf16 copy too. */
__global__ void sgd_kernel(float *param, float *buf, const float *grad, __nv_bfloat16 *lowp, int64_t n, float lr,
                           float momentum, float weight_decay, bool nesterov, bool first_step, float grad_scale,
                           const float *grad_scale_dev) {
  const float s = grad_scale_dev ? *grad_scale_dev : grad_scale;
  const bool use_momentum = momentum != 0.0f, use_decay = weight_decay != 0.0f;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float p = param[i];
    float d = grad[i] * s;
    if (use_decay) d = d + weight_decay * p;
    if (use_momentum) {
      float b = first_step ? d : buf[i] * momentum + d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p = p + -lr * d;
    param[i] = p;
    if (lowp) lowp[i] = __float2bfloat16(p);
  }
}

/* Adds the SUMSQ_THREADS values of `vals` by halving, in a fixed pairing; the total ends in vals[0]. */
__device__ void tree_sum(double *vals) {
  for (int w = SUMSQ_THREADS / 2; w > 0; w /= 2) {
    __syncthreads();
    if ((int)threadIdx.x < w) vals[threadIdx.x] += vals[threadIdx.x + w];
  }
  __syncthreads();
}

/* Chunk sums of x^2: into partial[chunk], or added to *total when there is a single chunk (partial NULL). */
__global__ void sumsq_partial_kernel(double *total, double *partial, const float *x, int64_t n, int64_t chunks) {
  __shared__ double vals[SUMSQ_THREADS];
  for (int64_t b = blockIdx.x; b < chunks; b += gridDim.x) {
    int64_t lo = b * SUMSQ_CHUNK, hi = lo + SUMSQ_CHUNK < n ? lo + SUMSQ_CHUNK : n;
    double s = 0.0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += SUMSQ_THREADS) s += (double)x[i] * (double)x[i];
    vals[threadIdx.x] = s;
    tree_sum(vals);
    if (threadIdx.x == 0) {
      if (partial)
        partial[b] = vals[0];
      else
        *total += vals[0];
    }
  }
}

/* One block: *total += the chunk partials, added by a fixed tree. */
__global__ void sumsq_finish_kernel(double *total, const double *partial, int64_t chunks) {
  __shared__ double vals[SUMSQ_THREADS];
  double s = 0.0;
  for (int64_t b = threadIdx.x; b < chunks; b += SUMSQ_THREADS) s += partial[b];
  vals[threadIdx.x] = s;
  tree_sum(vals);
  if (threadIdx.x == 0) *total += vals[0];
}

/* The CPU's leap_clip_scale, in double on one thread: bit-identical to it. */
__global__ void clip_scale_kernel(float *scale, const double *total, float max_norm) {
  double sc = (double)max_norm / (sqrt(*total) + 1e-6);
  *scale = (float)(sc > 1.0 ? 1.0 : sc);
}

static int64_t sumsq_chunks(int64_t n) { return (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK; }

LEAP_EXTERN_C_BEGIN

void leap_adamw_update_cuda(float *param, float *m, float *v, const float *grad, void *param_lowp, int64_t n, float lr,
                            float beta1, float beta2, float eps, float weight_decay, int64_t step, float grad_scale,
                            const float *grad_scale_dev, leap_cuda_stream stream) {
  if (n <= 0) return;
  const double bias1 = 1.0 - pow((double)beta1, (double)step);
  const double bias2 = 1.0 - pow((double)beta2, (double)step);
  adamw_consts k;
  k.beta2 = beta2;
  k.eps = eps;
  k.decay = (float)(1.0 - (double)lr * (double)weight_decay);
  k.neg_step_size = (float)(-(double)lr / bias1);
  k.bias2_sqrt = (float)sqrt(bias2);
  k.w1 = (float)(1.0 - (double)beta1);
  k.w2 = (float)(1.0 - (double)beta2);
  adamw_kernel<<<optim_blocks(n), OPTIM_THREADS, 0, (cudaStream_t)stream>>>(
      param, m, v, grad, (__nv_bfloat16 *)param_lowp, n, k, grad_scale, grad_scale_dev);
  LEAP_CUDA_LAUNCH_CHECK();
}

void leap_sgd_update_cuda(float *param, float *momentum_buf, const float *grad, void *param_lowp, int64_t n, float lr,
                          float momentum, float weight_decay, bool nesterov, bool first_step, float grad_scale,
                          const float *grad_scale_dev, leap_cuda_stream stream) {
  if (n <= 0) return;
  sgd_kernel<<<optim_blocks(n), OPTIM_THREADS, 0, (cudaStream_t)stream>>>(
      param, momentum_buf, grad, (__nv_bfloat16 *)param_lowp, n, lr, momentum, weight_decay, nesterov, first_step,
      grad_scale, grad_scale_dev);
  LEAP_CUDA_LAUNCH_CHECK();
}

size_t leap_sum_squares_workspace_floats_cuda(int64_t n) {
  int64_t chunks = n > 0 ? sumsq_chunks(n) : 0;
  return chunks > 1 ? (size_t)chunks * (sizeof(double) / sizeof(float)) : 0;
}

void leap_sum_squares_cuda(double *total, float *workspace, const float *x, int64_t n, leap_cuda_stream stream) {
  if (n <= 0) return;
  cudaStream_t st = (cudaStream_t)stream;
  int64_t chunks = sumsq_chunks(n);
  double *partial = chunks > 1 ? (double *)workspace : NULL;
  unsigned grid = (unsigned)(chunks > SUMSQ_MAX_BLOCKS ? SUMSQ_MAX_BLOCKS : chunks);
  sumsq_partial_kernel<<<grid, SUMSQ_THREADS, 0, st>>>(total, partial, x, n, chunks);
  LEAP_CUDA_LAUNCH_CHECK();
  if (partial) {
    sumsq_finish_kernel<<<1, SUMSQ_THREADS, 0, st>>>(total, partial, chunks);
    LEAP_CUDA_LAUNCH_CHECK();
  }
}

void leap_clip_scale_cuda(float *scale, const double *total_sum_squares, float max_norm, leap_cuda_stream stream) {
  clip_scale_kernel<<<1, 1, 0, (cudaStream_t)stream>>>(scale, total_sum_squares, max_norm);
  LEAP_CUDA_LAUNCH_CHECK();
}

LEAP_EXTERN_C_END
