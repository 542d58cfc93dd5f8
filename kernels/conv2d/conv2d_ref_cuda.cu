/* conv2d on CUDA, the reference path: a simple implicit GEMM over NHWC with fp32 FMAs, fp32 or bf16 activations.
 *
 * Correct and deterministic, not fast: the tensor-core kernels (conv2d_cuda.cu) are tested against it on the GPU,
 * and the op layer can route convolutions through it (leap_conv2d_set_cuda_engine) to compare a training run.
 * It shares nothing with those kernels but the fixed-order reductions of conv2d_reduce.cuh.
 *
 * All three passes are one tiled matrix product, conv_gemm_kernel, whose operands are read straight from the
 * tensors through index functions (no im2col buffer in device memory): a block computes a CONV_BM x CONV_BN tile
 * of C = A x B, staging CONV_BK-deep slices of A and B in shared memory; each of its CONV_THREADS threads owns
 * CONV_TM x CONV_TN outputs spaced CONV_BM/CONV_TM rows and CONV_BN/CONV_TN columns apart (so that the shared
 * memory reads of a warp hit distinct banks or broadcast). Each output is a sum over the reduction index in
 * increasing order: deterministic.
 *
 *   forward          C (N*P*Q pixels, K)   = im2col(inp) (pixels, R*S*C) x weight^T (R*S*C, K), plus bias
 *   backward-data    C (N*H*W pixels, C)   = dout gathered per (r,s,k) (pixels, R*S*K) x weight (R*S*K, C)
 *   backward-filter  C (K, R*S*C)          = dout^T (K, N*P*Q) x im2col(inp) (N*P*Q, R*S*C)
 *
 * Backward-data gathers, for input pixel (h,w) and kernel tap (r,s), the one output pixel p = (h + pad - r)/stride
 * that reads it, when that division is exact and p is in range, and zero otherwise; so it never scatters.
 * Backward-filter reduces over all output pixels, which leaves few tiles for a small layer, so the reduction is cut
 * into `splits` slices (a function of the shape only) whose partial products go to the workspace and are added in
 * slice order by a second kernel. dbias likewise: per-chunk column sums of dout, then the chunks in order. */
#include <type_traits>

#include "kernels/common/cuda_common.cuh"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_reduce.cuh"

/* Tile of one block, depth of one shared-memory stage, and outputs per thread. */
#define CONV_BM 64
#define CONV_BN 64
#define CONV_BK 16
#define CONV_TM 4
#define CONV_TN 4
#define CONV_ROW_STEP (CONV_BM / CONV_TM)
#define CONV_COL_STEP (CONV_BN / CONV_TN)
#define CONV_THREADS (CONV_ROW_STEP * CONV_COL_STEP)
/* One float of padding per shared-memory row spreads the column-major tile stores over the banks. */
#define CONV_SMEM_PAD 1
/* Backward-filter: output pixels per reduction slice (at least), the most slices, and the most workspace floats
 * the slices' partial products may take. */
#define CONV_FILTER_MIN_ROWS 512
#define CONV_FILTER_MAX_SPLITS 256
#define CONV_FILTER_MAX_FLOATS ((int64_t)1 << 24)

static_assert(CONV_THREADS == 256, "the tile shape gives 256 threads per block");
static_assert(CONV_BM * CONV_BK % CONV_THREADS == 0 && CONV_BN * CONV_BK % CONV_THREADS == 0,
              "every thread loads the same number of tile elements");

static int64_t ceil_div64(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Element (n,h,w,c) of the input's im2col matrix row m = (n,p,q), column j = (r,s,c), or 0 in the padding. */
template <typename T>
__device__ __forceinline__ float im2col_at(const T *inp, const leap_conv2d_shape &s, int64_t m, int64_t j) {
  int64_t q = m % s.Q, t = m / s.Q, p = t % s.P, n = t / s.P;
  int64_t c = j % s.C, u = j / s.C, sw = u % s.S, r = u / s.S;
  int64_t h = p * s.stride_h - s.pad_h + r, w = q * s.stride_w - s.pad_w + sw;
  if (h < 0 || h >= s.H || w < 0 || w >= s.W) return 0.0f;
  return leap_load(inp, ((n * s.H + h) * s.W + w) * s.C + c);
}

/* Forward: A(m,j) = im2col(inp), B(j,k) = weight[k][j]; out = A B + bias. Both operands are contiguous along j. */
template <typename T, typename W>
struct conv_forward_problem {
  static constexpr bool A_ROWS_CONTIGUOUS = false, B_COLS_CONTIGUOUS = false;
  leap_conv2d_shape s;
  int64_t rsc;
  T *out;
  const T *inp;
  const W *weight;
  const float *bias;
  __device__ float a(int64_t m, int64_t j) const { return im2col_at(inp, s, m, j); }
  __device__ float b(int64_t j, int64_t k) const { return leap_load(weight, k * rsc + j); }
  __device__ void store(int64_t m, int64_t k, float acc, int64_t) const {
    leap_store(out, m * s.K + k, acc + (bias ? bias[k] : 0.0f));
  }
};

/* Backward-data: row m = input pixel (n,h,w), column c, reduction j = (r,s,k).
 * A(m,j) = dout at the output pixel that reads (h,w) through tap (r,s), or 0; B(j,c) = weight[k][r][s][c]. */
template <typename T, typename W>
struct conv_data_problem {
  static constexpr bool A_ROWS_CONTIGUOUS = false, B_COLS_CONTIGUOUS = true;
  leap_conv2d_shape s;
  T *dinp;
  const T *dout;
  const W *weight;
  __device__ float a(int64_t m, int64_t j) const {
    int64_t w = m % s.W, t = m / s.W, h = t % s.H, n = t / s.H;
    int64_t k = j % s.K, u = j / s.K, sw = u % s.S, r = u / s.S;
    int64_t hp = h + s.pad_h - r, wp = w + s.pad_w - sw;
    if (hp < 0 || wp < 0 || hp % s.stride_h != 0 || wp % s.stride_w != 0) return 0.0f;
    int64_t p = hp / s.stride_h, q = wp / s.stride_w;
    if (p >= s.P || q >= s.Q) return 0.0f;
    return leap_load(dout, ((n * s.P + p) * s.Q + q) * s.K + k);
  }
  __device__ float b(int64_t j, int64_t c) const {
    int64_t k = j % s.K, rs = j / s.K;
    return leap_load(weight, (k * s.R * s.S + rs) * s.C + c);
  }
  __device__ void store(int64_t m, int64_t c, float acc, int64_t) const {
    int64_t i = m * s.C + c;
    leap_store(dinp, i, leap_load(dinp, i) + acc);
  }
};

/* Backward-filter: row k, column j = (r,s,c), reduction over output pixels m.
 * A(k,m) = dout[m][k] (contiguous along k), B(m,j) = im2col(inp); slice z writes partial[z][k][j]. */
template <typename T>
struct conv_filter_problem {
  static constexpr bool A_ROWS_CONTIGUOUS = true, B_COLS_CONTIGUOUS = true;
  leap_conv2d_shape s;
  int64_t rsc;
  float *partial;
  const T *dout;
  const T *inp;
  __device__ float a(int64_t k, int64_t m) const { return leap_load(dout, m * s.K + k); }
  __device__ float b(int64_t m, int64_t j) const { return im2col_at(inp, s, m, j); }
  __device__ void store(int64_t k, int64_t j, float acc, int64_t z) const {
    partial[(z * s.K + k) * rsc + j] = acc;
  }
};

/* C (M,NC) tile by tile: blockIdx.x the row tile, blockIdx.y the column tile, blockIdx.z the reduction slice
 * [z*j_split, (z+1)*j_split) of [0,J). Operands outside the matrices read as zero. */
template <class Prob>
__global__ void __launch_bounds__(CONV_THREADS)
    conv_gemm_kernel(Prob pr, int64_t M, int64_t NC, int64_t J, int64_t j_split) {
  __shared__ float As[CONV_BK][CONV_BM + CONV_SMEM_PAD];
  __shared__ float Bs[CONV_BK][CONV_BN + CONV_SMEM_PAD];
  const int tid = threadIdx.x, tx = tid % CONV_COL_STEP, ty = tid / CONV_COL_STEP;
  const int64_t m0 = (int64_t)blockIdx.x * CONV_BM, n0 = (int64_t)blockIdx.y * CONV_BN;
  const int64_t j0 = (int64_t)blockIdx.z * j_split, j1 = j0 + j_split < J ? j0 + j_split : J;
  float acc[CONV_TM][CONV_TN];
#pragma unroll
  for (int i = 0; i < CONV_TM; i++)
#pragma unroll
    for (int l = 0; l < CONV_TN; l++) acc[i][l] = 0.0f;
  for (int64_t jt = j0; jt < j1; jt += CONV_BK) {
    /* Consecutive threads take consecutive elements along whichever index is contiguous in memory. */
    for (int e = tid; e < CONV_BM * CONV_BK; e += CONV_THREADS) {
      int mm = Prob::A_ROWS_CONTIGUOUS ? e % CONV_BM : e / CONV_BK;
      int jj = Prob::A_ROWS_CONTIGUOUS ? e / CONV_BM : e % CONV_BK;
      int64_t m = m0 + mm, j = jt + jj;
      As[jj][mm] = m < M && j < j1 ? pr.a(m, j) : 0.0f;
    }
    for (int e = tid; e < CONV_BN * CONV_BK; e += CONV_THREADS) {
      int nn = Prob::B_COLS_CONTIGUOUS ? e % CONV_BN : e / CONV_BK;
      int jj = Prob::B_COLS_CONTIGUOUS ? e / CONV_BN : e % CONV_BK;
      int64_t n = n0 + nn, j = jt + jj;
      Bs[jj][nn] = n < NC && j < j1 ? pr.b(j, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int jj = 0; jj < CONV_BK; jj++) {
      float av[CONV_TM], bv[CONV_TN];
#pragma unroll
      for (int i = 0; i < CONV_TM; i++) av[i] = As[jj][ty + i * CONV_ROW_STEP];
#pragma unroll
      for (int l = 0; l < CONV_TN; l++) bv[l] = Bs[jj][tx + l * CONV_COL_STEP];
#pragma unroll
      for (int i = 0; i < CONV_TM; i++)
#pragma unroll
        for (int l = 0; l < CONV_TN; l++) acc[i][l] = fmaf(av[i], bv[l], acc[i][l]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < CONV_TM; i++)
#pragma unroll
    for (int l = 0; l < CONV_TN; l++) {
      int64_t m = m0 + ty + i * CONV_ROW_STEP, n = n0 + tx + l * CONV_COL_STEP;
      if (m < M && n < NC) pr.store(m, n, acc[i][l], blockIdx.z);
    }
}

template <class Prob>
static void launch_gemm(const Prob &pr, int64_t M, int64_t NC, int64_t J, int64_t splits, int64_t j_split,
                        cudaStream_t stream) {
  dim3 grid((unsigned)ceil_div64(M, CONV_BM), (unsigned)ceil_div64(NC, CONV_BN), (unsigned)splits);
  conv_gemm_kernel<Prob><<<grid, CONV_THREADS, 0, stream>>>(pr, M, NC, J, j_split);
  LEAP_CUDA_LAUNCH_CHECK();
}

/* The backward-filter reduction slices: enough to give a small layer's few tiles work, each of at least
 * CONV_FILTER_MIN_ROWS pixels, and their partials within CONV_FILTER_MAX_FLOATS. A function of the shape only. */
static int64_t filter_splits(const leap_conv2d_shape *s) {
  int64_t rows = s->N * s->P * s->Q, kr = s->K * s->R * s->S * s->C;
  int64_t splits = min64(ceil_div64(rows, CONV_FILTER_MIN_ROWS), CONV_FILTER_MAX_SPLITS);
  splits = min64(splits, max64(1, CONV_FILTER_MAX_FLOATS / max64(kr, 1)));
  return max64(splits, 1);
}

/* The weight operand: the bf16 copy in bf16 mode when there is one, else the fp32 master weight. */
template <typename T, class Launch>
static void with_weight(const float *weight, const void *weight_lowp, Launch launch) {
  if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    if (weight_lowp) {
      launch(static_cast<const __nv_bfloat16 *>(weight_lowp));
      return;
    }
  }
  launch(weight);
}

template <typename T>
static void forward(void *out, const void *inp, const float *weight, const void *weight_lowp, const float *bias,
                    const leap_conv2d_shape *s, cudaStream_t stream) {
  const int64_t rsc = s->R * s->S * s->C, M = s->N * s->P * s->Q;
  with_weight<T>(weight, weight_lowp, [&](auto w) {
    using W = std::remove_const_t<std::remove_pointer_t<decltype(w)>>;
    conv_forward_problem<T, W> pr{*s, rsc, static_cast<T *>(out), static_cast<const T *>(inp), w, bias};
    launch_gemm(pr, M, s->K, rsc, 1, rsc, stream);
  });
}

template <typename T>
static void backward(void *dinp, float *dweight, float *dbias, const void *dout, const void *inp, const float *weight,
                     const void *weight_lowp, const leap_conv2d_shape *s, float *workspace, cudaStream_t stream) {
  const int64_t rsc = s->R * s->S * s->C, rows = s->N * s->P * s->Q, K = s->K;
  if (dinp) {
    with_weight<T>(weight, weight_lowp, [&](auto w) {
      using W = std::remove_const_t<std::remove_pointer_t<decltype(w)>>;
      conv_data_problem<T, W> pr{*s, static_cast<T *>(dinp), static_cast<const T *>(dout), w};
      int64_t J = s->R * s->S * K;
      launch_gemm(pr, s->N * s->H * s->W, s->C, J, 1, J, stream);
    });
  }
  if (dweight) {
    int64_t splits = filter_splits(s);
    int64_t j_split = ceil_div64(ceil_div64(rows, splits), CONV_BK) * CONV_BK;
    splits = ceil_div64(rows, j_split); /* rounding the slices up may leave fewer of them */
    conv_filter_problem<T> pr{*s, rsc, workspace, static_cast<const T *>(dout), static_cast<const T *>(inp)};
    launch_gemm(pr, K, rsc, rows, splits, j_split, stream);
    leap_conv_sum_splits(dweight, workspace, K * rsc, splits, stream);
  }
  if (dbias)
    leap_conv_bias_grad<T>(dbias, workspace + filter_splits(s) * K * rsc, static_cast<const T *>(dout), rows, K,
                           stream);
}

LEAP_EXTERN_C_BEGIN

size_t leap_conv2d_workspace_floats_ref_cuda(const leap_conv2d_shape *s) {
  return (size_t)(filter_splits(s) * s->K * s->R * s->S * s->C + leap_conv_bias_chunks(s->N * s->P * s->Q) * s->K);
}

void leap_conv2d_forward_ref_cuda(void *out, const void *inp, const float *weight, const void *weight_lowp,
                                  const float *bias, const leap_conv2d_shape *s, leap_dtype act,
                                  leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_DISPATCH_ACT(act, T, forward<T>(out, inp, weight, weight_lowp, bias, s, stream));
}

void leap_conv2d_backward_ref_cuda(void *dinp, float *dweight, float *dbias, const void *dout, const void *inp,
                                   const float *weight, const void *weight_lowp, const leap_conv2d_shape *s,
                                   float *workspace, leap_dtype act, leap_cuda_stream stream) {
  if (s->N * s->P * s->Q * s->K == 0) return;
  LEAP_DISPATCH_ACT(act, T,
                    backward<T>(dinp, dweight, dbias, dout, inp, weight, weight_lowp, s, workspace, stream));
}

LEAP_EXTERN_C_END
