/* Fused softmax cross-entropy on the GPU (cross_entropy.h).
 *
 * Forward: one block per row computes lse = max + log(sum exp(x - max)) (two passes over the row, the second from
 * cache; ROW_MAX_THREADS threads stride over a GPT-2 vocabulary of 50257 logits); then one block of CE_SUM_THREADS
 * threads sums the counted rows' losses in double, thread t taking rows t, t + CE_SUM_THREADS, ... in order and
 * the thread partials added by a fixed tree, so the loss is deterministic.
 * Backward: one block counts the counted rows and writes scale = dloss / count to the workspace (the loss
 * gradient stays on the device: no host synchronisation); then one block per counted row adds
 * exp(x - lse) * scale to every logit's gradient and subtracts scale at the target, in the CPU's order. */
#include "kernels/cross_entropy/cross_entropy.h"

#include "kernels/common/cuda_common.cuh"

#define ROW_MAX_THREADS 256
#define CE_SUM_THREADS 512
/* Workspace of the backward pass: the gradient scale, and whether any row counts (1) or none (0). */
#define CE_WS_SCALE 0
#define CE_WS_ANY 1
#define CE_WS_FLOATS 2

static_assert((CE_SUM_THREADS & (CE_SUM_THREADS - 1)) == 0, "the tree reduction halves the threads");

/* One block per row: lse = max + log(sum exp(x - max)), block reductions in warp order. */
template <typename T>
__global__ void ce_lse_kernel(float *lse, const T *logits, int64_t V) {
  __shared__ float shared[LEAP_CUDA_WARP];
  const T *x = logits + (int64_t)blockIdx.x * V;
  float m = -INFINITY;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) m = fmaxf(m, leap_load(x, (size_t)v));
  m = leap_block_max(m, shared);
  float s = 0.0f;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) s += expf(leap_load(x, (size_t)v) - m);
  s = leap_block_sum(s, shared);
  if (threadIdx.x == 0) lse[blockIdx.x] = m + logf(s);
}

/* Adds the CE_SUM_THREADS values of `vals` by halving, in a fixed pairing; the total ends in vals[0]. */
template <typename V>
__device__ void tree_sum(V *vals) {
  for (int w = CE_SUM_THREADS / 2; w > 0; w /= 2) {
    __syncthreads();
    if ((int)threadIdx.x < w) vals[threadIdx.x] += vals[threadIdx.x + w];
  }
  __syncthreads();
}

/* One block: the mean loss over the counted rows (thread partials in double, a fixed tree), and their count. */
template <typename T>
__global__ void ce_loss_kernel(float *loss, int64_t *count, const float *lse, const T *logits, const int32_t *targets,
                               int64_t N, int64_t V, int32_t ignore_index) {
  __shared__ double sums[CE_SUM_THREADS];
  __shared__ long long counts[CE_SUM_THREADS];
  double s = 0.0;
  long long k = 0;
  for (int64_t n = threadIdx.x; n < N; n += CE_SUM_THREADS) {
    int32_t t = targets[n];
    if (t == ignore_index) continue;
    s += (double)lse[n] - (double)leap_load(logits, (size_t)(n * V + t));
    k++;
  }
  sums[threadIdx.x] = s;
  counts[threadIdx.x] = k;
  tree_sum(sums);
  tree_sum(counts);
  if (threadIdx.x != 0) return;
  *loss = counts[0] > 0 ? (float)(sums[0] / (double)counts[0]) : 0.0f;
  if (count) *count = (int64_t)counts[0];
}

/* One block: counts the counted rows and writes the gradient scale dloss / count (and whether any row counts). */
__global__ void ce_scale_kernel(float *ws, const float *dloss, const int32_t *targets, int64_t N,
                                int32_t ignore_index) {
  __shared__ long long counts[CE_SUM_THREADS];
  long long k = 0;
  for (int64_t n = threadIdx.x; n < N; n += CE_SUM_THREADS) k += targets[n] != ignore_index;
  counts[threadIdx.x] = k;
  tree_sum(counts);
  if (threadIdx.x != 0) return;
  ws[CE_WS_SCALE] = counts[0] > 0 ? *dloss / (float)counts[0] : 0.0f;
  ws[CE_WS_ANY] = counts[0] > 0 ? 1.0f : 0.0f;
}

/* One block per row (ignored rows return at once): dlogits += exp(x - lse) * scale, minus scale at the target. */
template <typename T>
__global__ void ce_backward_kernel(T *dlogits, const T *logits, const int32_t *targets, const float *lse,
                                   const float *ws, int64_t V, int32_t ignore_index) {
  int64_t n = blockIdx.x;
  int32_t t = targets[n];
  if (t == ignore_index || ws[CE_WS_ANY] == 0.0f) return;
  float scale = ws[CE_WS_SCALE], l = lse[n];
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    size_t i = (size_t)(n * V + v);
    float d = leap_load(dlogits, i) + expf(leap_load(logits, i) - l) * scale;
    if (v == t) d -= scale;
    leap_store(dlogits, i, d);
  }
}

LEAP_EXTERN_C_BEGIN

void leap_cross_entropy_forward_cuda(float *loss, int64_t *count, float *lse, const void *logits,
                                     const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index, leap_dtype act,
                                     leap_cuda_stream stream) {
  cudaStream_t st = (cudaStream_t)stream;
  LEAP_DISPATCH_ACT(act, T, {
    if (N > 0 && V > 0) {
      ce_lse_kernel<T><<<(unsigned)N, leap_cuda_row_threads(V, ROW_MAX_THREADS), 0, st>>>(lse, (const T *)logits, V);
      LEAP_CUDA_LAUNCH_CHECK();
    }
    ce_loss_kernel<T><<<1, CE_SUM_THREADS, 0, st>>>(loss, count, lse, (const T *)logits, targets, N, V, ignore_index);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

size_t leap_cross_entropy_backward_workspace_floats_cuda(void) { return CE_WS_FLOATS; }

void leap_cross_entropy_backward_cuda(void *dlogits, float *workspace, const float *dloss, const void *logits,
                                      const int32_t *targets, const float *lse, int64_t N, int64_t V,
                                      int32_t ignore_index, leap_dtype act, leap_cuda_stream stream) {
  if (N <= 0 || V <= 0) return;
  cudaStream_t st = (cudaStream_t)stream;
  ce_scale_kernel<<<1, CE_SUM_THREADS, 0, st>>>(workspace, dloss, targets, N, ignore_index);
  LEAP_CUDA_LAUNCH_CHECK();
  LEAP_DISPATCH_ACT(act, T, {
    ce_backward_kernel<T><<<(unsigned)N, leap_cuda_row_threads(V, ROW_MAX_THREADS), 0, st>>>((T *)dlogits, (const T *)logits, targets, lse,
                                                                  workspace, V, ignore_index);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

LEAP_EXTERN_C_END
