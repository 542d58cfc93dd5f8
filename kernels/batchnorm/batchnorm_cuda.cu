/* Batch normalisation on CUDA over (M,C) rows, fp32 or bf16 activations with fp32 statistics; the twins of
 * batchnorm_cpu.c, in the same summation order.
 *
 * Per-channel sums over the rows use the fixed-block scheme of kernel_common.h in two kernels: bn_block_sums
 * gives one thread to each (row block, channel), which sums the block's LEAP_REDUCE_BLOCK rows in row order into
 * a (blocks,C) partials array (consecutive threads on consecutive channels, so the row reads coalesce); then one
 * thread per channel adds its column of partials in block order and finishes the statistic (bn_finish_*). No
 * atomics: the results are bit-identical from run to run. The variance is a second pass over the deviations from
 * the mean, as on the CPU. The normalisation and the input gradient are per-element kernels.
 *
 * Workspace: BN_VECTORS per-channel vectors of C floats (sum of dy, sum of dy * xhat, invstd in evaluation mode),
 * then two (blocks,C) partials arrays: the CPU's layout and size. */
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/common/cuda_common.cuh"
#include "kernels/common/kernel_common.h"

/* Per-channel vectors at the start of the workspace. */
#define BN_VECTORS 4
/* Threads per block of every kernel here. */
#define BN_THREADS 256

static unsigned blocks_for(int64_t n) { return (unsigned)((n + BN_THREADS - 1) / BN_THREADS); }

/* part[b][c] = the sum over block b's rows of x[r][c], or of (x[r][c] - center[c])^2 when center is given. */
template <typename T>
__global__ void bn_block_sums(float *part, const T *x, const float *center, int64_t M, int64_t C) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  int64_t blocks = (M + LEAP_REDUCE_BLOCK - 1) / LEAP_REDUCE_BLOCK;
  if (i >= blocks * C) return;
  int64_t c = i % C, r0 = i / C * LEAP_REDUCE_BLOCK, r1 = r0 + LEAP_REDUCE_BLOCK < M ? r0 + LEAP_REDUCE_BLOCK : M;
  float acc = 0.0f;
  if (center) {
    float m = center[c];
    for (int64_t r = r0; r < r1; r++) {
      float d = leap_load(x, r * C + c) - m;
      acc += d * d;
    }
  } else {
    for (int64_t r = r0; r < r1; r++) acc += leap_load(x, r * C + c);
  }
  part[i] = acc;
}

/* p1[b][c] = the block's sum of dy and p2[b][c] of dy * (x - center) * invstd. */
template <typename T>
__global__ void bn_block_grad_sums(float *p1, float *p2, const T *dy, const T *x, const float *center,
                                   const float *invstd, int64_t M, int64_t C) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  int64_t blocks = (M + LEAP_REDUCE_BLOCK - 1) / LEAP_REDUCE_BLOCK;
  if (i >= blocks * C) return;
  int64_t c = i % C, r0 = i / C * LEAP_REDUCE_BLOCK, r1 = r0 + LEAP_REDUCE_BLOCK < M ? r0 + LEAP_REDUCE_BLOCK : M;
  float a1 = 0.0f, a2 = 0.0f, m = center[c], is = invstd[c];
  for (int64_t r = r0; r < r1; r++) {
    float g = leap_load(dy, r * C + c);
    a1 += g;
    a2 += g * ((leap_load(x, r * C + c) - m) * is);
  }
  p1[i] = a1;
  p2[i] = a2;
}

/* The column c of partials (blocks,C) added in block order. */
__device__ __forceinline__ float column_total(const float *part, int64_t blocks, int64_t C, int64_t c) {
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; b++) acc += part[b * C + c];
  return acc;
}

__global__ void bn_finish_mean(float *mean, const float *part, int64_t blocks, int64_t M, int64_t C) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c < C) mean[c] = column_total(part, blocks, C, c) / (float)M;
}

/* invstd from the summed squared deviations, and the running statistics' update (unbiased running variance). */
__global__ void bn_finish_var(float *invstd, float *running_mean, float *running_var, const float *mean,
                              const float *part, int64_t blocks, int64_t M, int64_t C, float momentum, float eps) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const float unbias = M > 1 ? (float)M / (float)(M - 1) : 1.0f;
  float var = column_total(part, blocks, C, c) / (float)M;
  invstd[c] = 1.0f / sqrtf(var + eps);
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (var * unbias);
}

__global__ void bn_invstd_from_var(float *invstd, const float *var, int64_t C, float eps) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c < C) invstd[c] = 1.0f / sqrtf(var[c] + eps);
}

/* sum_dy, sum_dyx = the totals of the gradient partials; dbeta and dgamma (when given) accumulate them. */
__global__ void bn_finish_grads(float *sum_dy, float *sum_dyx, float *dgamma, float *dbeta, const float *p1,
                                const float *p2, int64_t blocks, int64_t C) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s1 = column_total(p1, blocks, C, c), s2 = column_total(p2, blocks, C, c);
  if (dbeta) dbeta[c] += s1;
  if (dgamma) dgamma[c] += s2;
  sum_dy[c] = s1;
  sum_dyx[c] = s2;
}

/* out = x * scale + shift with scale = invstd * gamma, shift = beta - mean * scale; one thread per element. */
template <typename T>
__global__ void bn_normalise(T *out, const T *inp, const float *gamma, const float *beta, const float *mean,
                             const float *invstd, int64_t M, int64_t C) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= M * C) return;
  int64_t c = i % C;
  float scale = invstd[c] * (gamma ? gamma[c] : 1.0f);
  float shift = (beta ? beta[c] : 0.0f) - mean[c] * scale;
  leap_store(out, i, leap_load(inp, i) * scale + shift);
}

/* Training: dinp += gamma * invstd * (dy - sum_dy/M - xhat * sum_dyx/M). Evaluation (sums NULL): the statistics
 * are constants and dinp += gamma * invstd * dy. One thread per element. */
template <typename T>
__global__ void bn_add_dinp(T *dinp, const T *dout, const T *inp, const float *gamma, const float *center,
                            const float *invstd, const float *sum_dy, const float *sum_dyx, int64_t M, int64_t C) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= M * C) return;
  int64_t c = i % C;
  float a = (gamma ? gamma[c] : 1.0f) * invstd[c], g = leap_load(dout, i), d;
  if (sum_dy)
    d = a * (g - sum_dy[c] / (float)M - (leap_load(inp, i) - center[c]) * invstd[c] * (sum_dyx[c] / (float)M));
  else
    d = a * g;
  leap_store(dinp, i, leap_load(dinp, i) + d);
}

static int64_t row_blocks(int64_t M) { return (M + LEAP_REDUCE_BLOCK - 1) / LEAP_REDUCE_BLOCK; }

template <typename T>
static void forward_train(void *out, float *mean, float *invstd, float *running_mean, float *running_var,
                          const void *inp, const float *gamma, const float *beta, int64_t M, int64_t C,
                          float momentum, float eps, float *workspace, cudaStream_t stream) {
  const T *x = static_cast<const T *>(inp);
  const int64_t blocks = row_blocks(M);
  float *part = workspace + BN_VECTORS * C;
  bn_block_sums<T><<<blocks_for(blocks * C), BN_THREADS, 0, stream>>>(part, x, nullptr, M, C);
  LEAP_CUDA_LAUNCH_CHECK();
  bn_finish_mean<<<blocks_for(C), BN_THREADS, 0, stream>>>(mean, part, blocks, M, C);
  LEAP_CUDA_LAUNCH_CHECK();
  bn_block_sums<T><<<blocks_for(blocks * C), BN_THREADS, 0, stream>>>(part, x, mean, M, C);
  LEAP_CUDA_LAUNCH_CHECK();
  bn_finish_var<<<blocks_for(C), BN_THREADS, 0, stream>>>(invstd, running_mean, running_var, mean, part, blocks, M,
                                                           C, momentum, eps);
  LEAP_CUDA_LAUNCH_CHECK();
  bn_normalise<T><<<blocks_for(M * C), BN_THREADS, 0, stream>>>(static_cast<T *>(out), x, gamma, beta, mean, invstd,
                                                                M, C);
  LEAP_CUDA_LAUNCH_CHECK();
}

/* The gradient sums over the rows (into workspace vectors 0 and 1), accumulating dgamma and dbeta. */
template <typename T>
static void grad_sums(float *dgamma, float *dbeta, const void *dout, const void *inp, const float *center,
                      const float *invstd, int64_t M, int64_t C, float *workspace, cudaStream_t stream) {
  const int64_t blocks = row_blocks(M);
  float *p1 = workspace + BN_VECTORS * C, *p2 = p1 + blocks * C;
  bn_block_grad_sums<T><<<blocks_for(blocks * C), BN_THREADS, 0, stream>>>(
      p1, p2, static_cast<const T *>(dout), static_cast<const T *>(inp), center, invstd, M, C);
  LEAP_CUDA_LAUNCH_CHECK();
  bn_finish_grads<<<blocks_for(C), BN_THREADS, 0, stream>>>(workspace, workspace + C, dgamma, dbeta, p1, p2, blocks,
                                                             C);
  LEAP_CUDA_LAUNCH_CHECK();
}

template <typename T>
static void add_dinp(void *dinp, const void *dout, const void *inp, const float *gamma, const float *center,
                     const float *invstd, const float *sum_dy, const float *sum_dyx, int64_t M, int64_t C,
                     cudaStream_t stream) {
  bn_add_dinp<T><<<blocks_for(M * C), BN_THREADS, 0, stream>>>(static_cast<T *>(dinp), static_cast<const T *>(dout),
                                                               static_cast<const T *>(inp), gamma, center, invstd,
                                                               sum_dy, sum_dyx, M, C);
  LEAP_CUDA_LAUNCH_CHECK();
}

LEAP_EXTERN_C_BEGIN

size_t leap_batchnorm_workspace_floats_cuda(int64_t M, int64_t C) {
  return (size_t)((BN_VECTORS + 2 * row_blocks(M)) * C);
}

void leap_batchnorm_forward_train_cuda(void *out, float *mean, float *invstd, float *running_mean,
                                       float *running_var, const void *inp, const float *gamma, const float *beta,
                                       int64_t M, int64_t C, float momentum, float eps, float *workspace,
                                       leap_dtype act, leap_cuda_stream stream) {
  if (M * C == 0) return;
  LEAP_DISPATCH_ACT(act, T,
                    forward_train<T>(out, mean, invstd, running_mean, running_var, inp, gamma, beta, M, C, momentum,
                                     eps, workspace, stream));
}

void leap_batchnorm_forward_eval_cuda(void *out, const void *inp, const float *gamma, const float *beta,
                                      const float *running_mean, const float *running_var, int64_t M, int64_t C,
                                      float eps, float *workspace, leap_dtype act, leap_cuda_stream stream) {
  if (M * C == 0) return;
  float *invstd = workspace + 2 * C;
  bn_invstd_from_var<<<blocks_for(C), BN_THREADS, 0, stream>>>(invstd, running_var, C, eps);
  LEAP_CUDA_LAUNCH_CHECK();
  LEAP_DISPATCH_ACT(act, T, {
    bn_normalise<T><<<blocks_for(M * C), BN_THREADS, 0, stream>>>(
        static_cast<T *>(out), static_cast<const T *>(inp), gamma, beta, running_mean, invstd, M, C);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap_batchnorm_backward_train_cuda(void *dinp, float *dgamma, float *dbeta, const void *dout, const void *inp,
                                        const float *gamma, const float *mean, const float *invstd, int64_t M,
                                        int64_t C, float *workspace, leap_dtype act, leap_cuda_stream stream) {
  if (M * C == 0 || (!dinp && !dgamma && !dbeta)) return;
  LEAP_DISPATCH_ACT(act, T, {
    grad_sums<T>(dgamma, dbeta, dout, inp, mean, invstd, M, C, workspace, stream);
    if (dinp) add_dinp<T>(dinp, dout, inp, gamma, mean, invstd, workspace, workspace + C, M, C, stream);
  });
}

void leap_batchnorm_backward_eval_cuda(void *dinp, float *dgamma, float *dbeta, const void *dout, const void *inp,
                                       const float *gamma, const float *running_mean, const float *running_var,
                                       int64_t M, int64_t C, float eps, float *workspace, leap_dtype act,
                                       leap_cuda_stream stream) {
  if (M * C == 0 || (!dinp && !dgamma && !dbeta)) return;
  float *invstd = workspace + 3 * C;
  bn_invstd_from_var<<<blocks_for(C), BN_THREADS, 0, stream>>>(invstd, running_var, C, eps);
  LEAP_CUDA_LAUNCH_CHECK();
  LEAP_DISPATCH_ACT(act, T, {
    if (dgamma || dbeta) grad_sums<T>(dgamma, dbeta, dout, inp, running_mean, invstd, M, C, workspace, stream);
    if (dinp) add_dinp<T>(dinp, dout, inp, gamma, running_mean, invstd, nullptr, nullptr, M, C, stream);
  });
}

LEAP_EXTERN_C_END
