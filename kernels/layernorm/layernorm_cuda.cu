/* Layer normalisation on the GPU (layernorm.h).
 *
 * Forward and dinp: one warp per row (LN_WARPS rows per block); lane l handles columns l, l + 32, ...; the row sums
 * are warp reductions (a fixed butterfly order). The forward pass computes the mean, then the variance as the mean
 * squared deviation (two passes, like the CPU), then normalises.
 *
 * dweight and dbias: deterministic column sums over the rows, recomputing xhat = (x - mean) * rstd. Rows are cut
 * into blocks of LN_BLOCK_ROWS; a thread block of LN_COLS x LN_LANES threads owns LN_COLS columns of one row block,
 * thread (tx, ty) adding rows ty, ty + LN_LANES, ... for its column; the LN_LANES partials are added in ty order and
 * written to the workspace (2C floats per row block: dweight's then dbias's partials), or straight into dweight and
 * dbias when there is one row block. A second kernel adds the row blocks' partials in order, one thread per
 * column. */
#include "kernels/layernorm/layernorm.h"

#include "kernels/common/cuda_common.cuh"

/* Rows (warps) per block of the row kernels. */
#define LN_WARPS 8
/* Column sums: columns per block, row lanes per block, rows per row block; threads of the finishing kernel. */
#define LN_COLS 32
#define LN_LANES 8
#define LN_BLOCK_ROWS 256
#define LN_MAX_ROW_BLOCKS 65535
#define LN_FINISH_THREADS 256

static_assert(LN_BLOCK_ROWS % LN_LANES == 0, "row blocks split evenly over the row lanes");

/* One warp per row: mean, variance (mean squared deviation), then out; lane 0 saves mean and rstd. */
template <typename T>
__global__ void layernorm_forward_kernel(T *out, float *mean, float *rstd, const T *inp, const float *weight,
                                         const float *bias, int64_t N, int64_t C, float eps) {
  int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / LEAP_CUDA_WARP;
  int lane = threadIdx.x % LEAP_CUDA_WARP;
  if (row >= N) return;
  const T *x = inp + row * C;
  T *y = out + row * C;
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += LEAP_CUDA_WARP) s += leap_load(x, (size_t)c);
  float m = leap_warp_sum(s) / (float)C;
  float v = 0.0f;
  for (int64_t c = lane; c < C; c += LEAP_CUDA_WARP) {
    float d = leap_load(x, (size_t)c) - m;
    v += d * d;
  }
  float var = leap_warp_sum(v) / (float)C;
  float rs = 1.0f / sqrtf(var + eps);
  for (int64_t c = lane; c < C; c += LEAP_CUDA_WARP) {
    float o = (leap_load(x, (size_t)c) - m) * rs;
    if (weight) o *= weight[c];
    if (bias) o += bias[c];
    leap_store(y, (size_t)c, o);
  }
  if (lane == 0) mean[row] = m, rstd[row] = rs;
}

/* dinp += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), g = dout * weight, one warp per row. */
template <typename T>
__global__ void layernorm_dinp_kernel(T *dinp, const T *dout, const T *inp, const float *weight, const float *mean,
                                      const float *rstd, int64_t N, int64_t C) {
  int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / LEAP_CUDA_WARP;
  int lane = threadIdx.x % LEAP_CUDA_WARP;
  if (row >= N) return;
  const T *g = dout + row * C, *x = inp + row * C;
  T *d = dinp + row * C;
  float m = mean[row], rs = rstd[row], a = 0.0f, b = 0.0f;
  for (int64_t c = lane; c < C; c += LEAP_CUDA_WARP) {
    float gc = weight ? leap_load(g, (size_t)c) * weight[c] : leap_load(g, (size_t)c);
    a += gc;
    b += gc * ((leap_load(x, (size_t)c) - m) * rs);
  }
  float mg = leap_warp_sum(a) / (float)C, mgx = leap_warp_sum(b) / (float)C;
  for (int64_t c = lane; c < C; c += LEAP_CUDA_WARP) {
    float gc = weight ? leap_load(g, (size_t)c) * weight[c] : leap_load(g, (size_t)c);
    float xhat = (leap_load(x, (size_t)c) - m) * rs;
    leap_store(d, (size_t)c, leap_load(d, (size_t)c) + (gc - mg - xhat * mgx) * rs);
  }
}

/* One row block's sums of dout * xhat and dout per column: into dweight/dbias (+=) when partial is NULL (a single
 * row block), else into the row block's 2C floats of partial. */
template <typename T>
__global__ void layernorm_params_partial_kernel(float *dweight, float *dbias, float *partial, const T *dout,
                                                const T *inp, const float *mean, const float *rstd, int64_t N,
                                                int64_t C, int64_t per_block) {
  __shared__ float sw[LN_LANES][LN_COLS + 1], sb[LN_LANES][LN_COLS + 1];
  int64_t c = (int64_t)blockIdx.x * LN_COLS + threadIdx.x;
  int64_t r0 = (int64_t)blockIdx.y * per_block, r1 = r0 + per_block < N ? r0 + per_block : N;
  float aw = 0.0f, ab = 0.0f;
  if (c < C)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += LN_LANES) {
      size_t i = (size_t)(r * C + c);
      float g = leap_load(dout, i);
      aw += g * ((leap_load(inp, i) - mean[r]) * rstd[r]);
      ab += g;
    }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return;
  float w = sw[0][threadIdx.x], b = sb[0][threadIdx.x];
  for (int l = 1; l < LN_LANES; l++) w += sw[l][threadIdx.x], b += sb[l][threadIdx.x];
  if (partial) {
    partial[blockIdx.y * 2 * C + c] = w;
    partial[blockIdx.y * 2 * C + C + c] = b;
  } else {
    if (dweight) dweight[c] += w;
    if (dbias) dbias[c] += b;
  }
}

/* dweight[c] and dbias[c] += the row blocks' partials of column c, in row-block order; one thread per column. */
__global__ void layernorm_params_finish_kernel(float *dweight, float *dbias, const float *partial, int64_t blocks,
                                               int64_t C) {
  int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float w = partial[c], b = partial[C + c];
  for (int64_t k = 1; k < blocks; k++) w += partial[k * 2 * C + c], b += partial[k * 2 * C + C + c];
  if (dweight) dweight[c] += w;
  if (dbias) dbias[c] += b;
}

static int64_t rows_per_block(int64_t N) {
  int64_t per = LN_BLOCK_ROWS, need = (N + LN_MAX_ROW_BLOCKS - 1) / LN_MAX_ROW_BLOCKS;
  if (need > per) per = (need + LN_LANES - 1) / LN_LANES * LN_LANES;
  return per;
}

template <typename T>
static void params_backward(float *dweight, float *dbias, float *ws, const T *dout, const T *inp, const float *mean,
                            const float *rstd, int64_t N, int64_t C, cudaStream_t st) {
  int64_t per = rows_per_block(N), blocks = (N + per - 1) / per;
  dim3 grid((unsigned)((C + LN_COLS - 1) / LN_COLS), (unsigned)blocks), block(LN_COLS, LN_LANES);
  layernorm_params_partial_kernel<T>
      <<<grid, block, 0, st>>>(dweight, dbias, blocks > 1 ? ws : NULL, dout, inp, mean, rstd, N, C, per);
  LEAP_CUDA_LAUNCH_CHECK();
  if (blocks > 1) {
    unsigned g = (unsigned)((C + LN_FINISH_THREADS - 1) / LN_FINISH_THREADS);
    layernorm_params_finish_kernel<<<g, LN_FINISH_THREADS, 0, st>>>(dweight, dbias, ws, blocks, C);
    LEAP_CUDA_LAUNCH_CHECK();
  }
}

LEAP_EXTERN_C_BEGIN

void leap_layernorm_forward_cuda(void *out, float *mean, float *rstd, const void *inp, const float *weight,
                                 const float *bias, int64_t N, int64_t C, float eps, leap_dtype act,
                                 leap_cuda_stream stream) {
  if (N <= 0 || C <= 0) return;
  unsigned grid = (unsigned)((N + LN_WARPS - 1) / LN_WARPS);
  LEAP_DISPATCH_ACT(act, T, {
    layernorm_forward_kernel<T><<<grid, LN_WARPS * LEAP_CUDA_WARP, 0, (cudaStream_t)stream>>>(
        (T *)out, mean, rstd, (const T *)inp, weight, bias, N, C, eps);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

size_t leap_layernorm_backward_workspace_floats_cuda(int64_t N, int64_t C) {
  if (N <= 0 || C <= 0) return 0;
  int64_t per = rows_per_block(N), blocks = (N + per - 1) / per;
  return blocks > 1 ? (size_t)(blocks * 2 * C) : 0;
}

void leap_layernorm_backward_cuda(void *dinp, float *dweight, float *dbias, float *workspace, const void *dout,
                                  const void *inp, const float *weight, const float *mean, const float *rstd, int64_t N,
                                  int64_t C, leap_dtype act, leap_cuda_stream stream) {
  if (N <= 0 || C <= 0) return;
  cudaStream_t st = (cudaStream_t)stream;
  LEAP_DISPATCH_ACT(act, T, {
    if (dinp) {
      unsigned grid = (unsigned)((N + LN_WARPS - 1) / LN_WARPS);
      layernorm_dinp_kernel<T><<<grid, LN_WARPS * LEAP_CUDA_WARP, 0, st>>>((T *)dinp, (const T *)dout, (const T *)inp,
                                                                           weight, mean, rstd, N, C);
      LEAP_CUDA_LAUNCH_CHECK();
    }
    if (dweight || dbias)
      params_backward<T>(dweight, dbias, workspace, (const T *)dout, (const T *)inp, mean, rstd, N, C, st);
  });
}

LEAP_EXTERN_C_END
