/* Group normalisation on CUDA over (N,HW,C), fp32 or bf16 activations with fp32 statistics; the twins of
 * groupnorm_cpu.c, in the same summation order.
 *
 * Statistics, as on the CPU: gn_block_sums gives one thread to each (image, LEAP_REDUCE_BLOCK-row block, channel),
 * which sums the block's rows in order into a (N,blocks,C) partials array (consecutive threads on consecutive
 * channels: coalesced); gn_image_totals adds each image's block partials in block order into per-(n,c) totals
 * (one thread each); gn_group_stat adds a group's channel totals in channel order (one thread per (n,g)). The
 * variance is a second pass over the deviations from the mean. Normalisation and the input gradient are
 * per-element kernels. Backward sums dy and dy * xhat the same way; dgamma and dbeta add the per-image totals in
 * image order (one thread per channel). No atomics anywhere: results are bit-identical from run to run.
 *
 * Workspace: GN_VECTORS vectors of N*C floats (per-(n,c) totals, and in backward the group sums A and B), then two
 * (N,blocks,C) partials arrays: the CPU's size. */
#include "kernels/common/cuda_common.cuh"
#include "kernels/common/kernel_common.h"
#include "kernels/groupnorm/groupnorm.h"

/* Per-(n,c) vectors at the start of the workspace. */
#define GN_VECTORS 4
/* Threads per block of every kernel here. */
#define GN_THREADS 256

static unsigned blocks_for(int64_t n) { return (unsigned)((n + GN_THREADS - 1) / GN_THREADS); }
static int64_t row_blocks(int64_t HW) { return (HW + LEAP_REDUCE_BLOCK - 1) / LEAP_REDUCE_BLOCK; }

/* part[n][b][c] = the sum over block b of image n of x, or of (x - mean[n, c/cg])^2 when mean is given. */
template <typename T>
__global__ void gn_block_sums(float *part, const T *x, const float *mean, int64_t N, int64_t HW, int64_t C,
                              int64_t cg, int64_t blocks) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * blocks * C) return;
  int64_t c = i % C, nb = i / C, n = nb / blocks, r0 = nb % blocks * LEAP_REDUCE_BLOCK;
  int64_t r1 = r0 + LEAP_REDUCE_BLOCK < HW ? r0 + LEAP_REDUCE_BLOCK : HW;
  const T *xi = x + n * HW * C + c;
  float acc = 0.0f;
  if (mean) {
    float m = mean[n * (C / cg) + c / cg];
    for (int64_t r = r0; r < r1; r++) {
      float d = leap_load(xi, r * C) - m;
      acc += d * d;
    }
  } else {
    for (int64_t r = r0; r < r1; r++) acc += leap_load(xi, r * C);
  }
  part[i] = acc;
}

/* p1[n][b][c] = the block's sum of dy, p2[n][b][c] of dy * (x - mean) * rstd. */
template <typename T>
__global__ void gn_block_grad_sums(float *p1, float *p2, const T *dy, const T *x, const float *mean,
                                   const float *rstd, int64_t N, int64_t HW, int64_t C, int64_t cg, int64_t blocks) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * blocks * C) return;
  int64_t c = i % C, nb = i / C, n = nb / blocks, r0 = nb % blocks * LEAP_REDUCE_BLOCK;
  int64_t r1 = r0 + LEAP_REDUCE_BLOCK < HW ? r0 + LEAP_REDUCE_BLOCK : HW;
  int64_t grp = n * (C / cg) + c / cg;
  float m = mean[grp], rs = rstd[grp], a1 = 0.0f, a2 = 0.0f;
  const T *xi = x + n * HW * C + c, *gi = dy + n * HW * C + c;
  for (int64_t r = r0; r < r1; r++) {
    float g = leap_load(gi, r * C);
    a1 += g;
    a2 += g * ((leap_load(xi, r * C) - m) * rs);
  }
  p1[i] = a1;
  p2[i] = a2;
}

/* tot[n][c] = image n's block partials of channel c added in block order. */
__global__ void gn_image_totals(float *tot, const float *part, int64_t N, int64_t C, int64_t blocks) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  int64_t n = i / C, c = i % C;
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; b++) acc += part[(n * blocks + b) * C + c];
  tot[i] = acc;
}

/* The sum of tot over group i's channels (i = n*G + g) in channel order, each weighted by w[c] when given. */
__device__ __forceinline__ float group_total(const float *tot, const float *w, int64_t i, int64_t G, int64_t cg) {
  const float *t = tot + i * cg, *wg = w ? w + i % G * cg : nullptr;
  float s = 0.0f;
  for (int64_t j = 0; j < cg; j++) s += wg ? wg[j] * t[j] : t[j];
  return s;
}

/* Per (n,g): the mean (rstd NULL) or, given the summed squared deviations, rstd = 1/sqrt(var + eps). */
__global__ void gn_group_stat(float *mean, float *rstd, const float *tot, int64_t NG, int64_t G, int64_t cg,
                              float count, float eps) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= NG) return;
  float s = group_total(tot, nullptr, i, G, cg);
  if (rstd)
    rstd[i] = 1.0f / sqrtf(s / count + eps);
  else
    mean[i] = s / count;
}

/* A[n,g] and B[n,g]: the gamma-weighted group sums of the per-(n,c) sums of dy and of dy * xhat. */
__global__ void gn_group_grads(float *A, float *B, const float *s1, const float *s2, const float *gamma, int64_t NG,
                               int64_t G, int64_t cg) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= NG) return;
  A[i] = group_total(s1, gamma, i, G, cg);
  B[i] = group_total(s2, gamma, i, G, cg);
}

/* dgamma[c] += the per-image sums s2[n][c] and dbeta[c] += s1[n][c], added in image order. */
__global__ void gn_affine_grads(float *dgamma, float *dbeta, const float *s1, const float *s2, int64_t N,
                                int64_t C) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float g = 0.0f, b = 0.0f;
  for (int64_t n = 0; n < N; n++) g += s2[n * C + c], b += s1[n * C + c];
  if (dgamma) dgamma[c] += g;
  if (dbeta) dbeta[c] += b;
}

/* out = x * scale + shift, scale = rstd[n,g] * gamma[c], shift = beta[c] - mean[n,g] * scale. */
template <typename T>
__global__ void gn_normalise(T *out, const T *inp, const float *gamma, const float *beta, const float *mean,
                             const float *rstd, int64_t N, int64_t HW, int64_t C, int64_t cg) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * HW * C) return;
  int64_t c = i % C, grp = i / (HW * C) * (C / cg) + c / cg;
  float scale = rstd[grp] * (gamma ? gamma[c] : 1.0f);
  float shift = (beta ? beta[c] : 0.0f) - mean[grp] * scale;
  leap_store(out, i, leap_load(inp, i) * scale + shift);
}

/* dinp += r gamma dy - r A/count - (x - mean) r^2 B/count, with r = rstd[n,g] (see groupnorm_cpu.c). */
template <typename T>
__global__ void gn_add_dinp(T *dinp, const T *dout, const T *inp, const float *gamma, const float *mean,
                            const float *rstd, const float *A, const float *B, int64_t N, int64_t HW, int64_t C,
                            int64_t cg, float count) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * HW * C) return;
  int64_t c = i % C, grp = i / (HW * C) * (C / cg) + c / cg;
  float r = rstd[grp];
  float a = r * (gamma ? gamma[c] : 1.0f), b = r * A[grp] / count, e = r * r * B[grp] / count;
  float d = a * leap_load(dout, i) - b - (leap_load(inp, i) - mean[grp]) * e;
  leap_store(dinp, i, leap_load(dinp, i) + d);
}

template <typename T>
static void forward(void *out, float *mean, float *rstd, const void *inp, const float *gamma, const float *beta,
                    int64_t N, int64_t HW, int64_t C, int64_t G, float eps, float *workspace, cudaStream_t stream) {
  const int64_t blocks = row_blocks(HW), cg = C / G, NC = N * C;
  const float count = (float)(HW * cg);
  const T *x = static_cast<const T *>(inp);
  float *tot = workspace, *part = workspace + GN_VECTORS * NC;
  for (int pass = 0; pass < 2; pass++) { /* pass 0: the mean; pass 1: rstd from the deviations */
    gn_block_sums<T><<<blocks_for(N * blocks * C), GN_THREADS, 0, stream>>>(part, x, pass ? mean : nullptr, N, HW, C,
                                                                            cg, blocks);
    LEAP_CUDA_LAUNCH_CHECK();
    gn_image_totals<<<blocks_for(NC), GN_THREADS, 0, stream>>>(tot, part, N, C, blocks);
    LEAP_CUDA_LAUNCH_CHECK();
    gn_group_stat<<<blocks_for(N * G), GN_THREADS, 0, stream>>>(mean, pass ? rstd : nullptr, tot, N * G, G, cg,
                                                                 count, eps);
    LEAP_CUDA_LAUNCH_CHECK();
  }
  gn_normalise<T><<<blocks_for(NC * HW), GN_THREADS, 0, stream>>>(static_cast<T *>(out), x, gamma, beta, mean, rstd,
                                                                  N, HW, C, cg);
  LEAP_CUDA_LAUNCH_CHECK();
}

template <typename T>
static void backward(void *dinp, float *dgamma, float *dbeta, const void *dout, const void *inp, const float *gamma,
                     const float *mean, const float *rstd, int64_t N, int64_t HW, int64_t C, int64_t G,
                     float *workspace, cudaStream_t stream) {
  const int64_t blocks = row_blocks(HW), cg = C / G, NC = N * C;
  float *s1 = workspace, *s2 = workspace + NC, *A = workspace + 2 * NC, *B = workspace + 3 * NC;
  float *p1 = workspace + GN_VECTORS * NC, *p2 = p1 + N * blocks * C;
  const T *x = static_cast<const T *>(inp), *dy = static_cast<const T *>(dout);
  gn_block_grad_sums<T><<<blocks_for(N * blocks * C), GN_THREADS, 0, stream>>>(p1, p2, dy, x, mean, rstd, N, HW, C,
                                                                               cg, blocks);
  LEAP_CUDA_LAUNCH_CHECK();
  gn_image_totals<<<blocks_for(NC), GN_THREADS, 0, stream>>>(s1, p1, N, C, blocks);
  LEAP_CUDA_LAUNCH_CHECK();
  gn_image_totals<<<blocks_for(NC), GN_THREADS, 0, stream>>>(s2, p2, N, C, blocks);
  LEAP_CUDA_LAUNCH_CHECK();
  if (dgamma || dbeta) {
    gn_affine_grads<<<blocks_for(C), GN_THREADS, 0, stream>>>(dgamma, dbeta, s1, s2, N, C);
    LEAP_CUDA_LAUNCH_CHECK();
  }
  if (!dinp) return;
  gn_group_grads<<<blocks_for(N * G), GN_THREADS, 0, stream>>>(A, B, s1, s2, gamma, N * G, G, cg);
  LEAP_CUDA_LAUNCH_CHECK();
  gn_add_dinp<T><<<blocks_for(NC * HW), GN_THREADS, 0, stream>>>(static_cast<T *>(dinp), dy, x, gamma, mean, rstd, A,
                                                                 B, N, HW, C, cg, (float)(HW * cg));
  LEAP_CUDA_LAUNCH_CHECK();
}

LEAP_EXTERN_C_BEGIN

size_t leap_groupnorm_workspace_floats_cuda(int64_t N, int64_t HW, int64_t C) {
  return (size_t)((GN_VECTORS + 2 * row_blocks(HW)) * N * C);
}

void leap_groupnorm_forward_cuda(void *out, float *mean, float *rstd, const void *inp, const float *gamma,
                                 const float *beta, int64_t N, int64_t HW, int64_t C, int64_t G, float eps,
                                 float *workspace, leap_dtype act, leap_cuda_stream stream) {
  if (N * HW * C == 0) return;
  LEAP_DISPATCH_ACT(act, T, forward<T>(out, mean, rstd, inp, gamma, beta, N, HW, C, G, eps, workspace, stream));
}

void leap_groupnorm_backward_cuda(void *dinp, float *dgamma, float *dbeta, const void *dout, const void *inp,
                                  const float *gamma, const float *mean, const float *rstd, int64_t N, int64_t HW,
                                  int64_t C, int64_t G, float *workspace, leap_dtype act, leap_cuda_stream stream) {
  if (N * HW * C == 0 || (!dinp && !dgamma && !dbeta)) return;
  LEAP_DISPATCH_ACT(act, T,
                    backward<T>(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, N, HW, C, G, workspace, stream));
}

LEAP_EXTERN_C_END
