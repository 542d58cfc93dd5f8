/* Flash attention without tensor cores: the path for fp32 (the test mode, compared tightly with the CPU), for bf16
 * head sizes other than 64 and 128, and for views whose alignment the mma kernels cannot take. Any D up to
 * LEAP_ATTN_MAX_D, fp32 arithmetic throughout, the same tiling idea and online softmax as the mma kernels.
 *
 * Threads and tiles. A block owns GEN_BQ = 64 rows (query rows in the forward and dQ kernels, key rows in the
 * dK/dV kernel) and walks tiles of GEN_BK = 32 rows of the other side, which it stages in shared memory as fp32
 * (2 x 32 x D floats: 64 KB at D = 256). GEN_TPR = 4 consecutive threads share a row; thread `sub` holds head
 * elements d = sub + 4c (c < NC, NC = ceil(D / 4) rounded up to 16, 32 or 64), so a dot product is the four
 * threads' partial sums added by a butterfly over the quad, which gives every thread of the quad the same bits.
 * Shared-memory reads are conflict-free: at each step a warp reads one tile row at four consecutive addresses.
 *   forward  per key tile: the row's 32 scores (base 2) into registers, masked where the tile is not wholly
 *            visible (leap__attn_tile_full), then the online-softmax update of m, l and the output elements
 *            (as attention_fwd_cuda.cu), then O += P V element by element;
 *   dQ       per key tile and key j: s = q.k_j, dp = dO.v_j, P = 2^(s scale log2e - lse log2e), dS = P (dp - D_i),
 *            dQ += dS k_j; finally dq += scale dQ;
 *   dK/dV    per query tile (from leap__attn_first_query_tile) and query i: the same P and dS, dV += P dO_i,
 *            dK += dS q_i; finally dv += dV, dk += scale dK.
 * Every output element has one writer that adds its terms in a fixed order: bit-identical from run to run. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/attention/attention_flash.cuh"

namespace {

constexpr int BQ = LEAP_ATTN_GEN_BQ;
constexpr int BK = LEAP_ATTN_GEN_BK;
constexpr int TPR = LEAP_ATTN_GEN_TPR;
constexpr int THREADS = LEAP_ATTN_GEN_THREADS;

/* This thread's elements of a head row (zero past D or for a row that does not exist). */
template <typename T, int NC>
__device__ __forceinline__ void load_slice(float (&x)[NC], const T *row, int64_t D, bool exists, int sub) {
#pragma unroll
  for (int c = 0; c < NC; c++) {
    const int d = leap__attn_gen_dim(sub, c);
    x[c] = exists && d < D ? leap_load(row, d) : 0.0f;
  }
}

/* row[d] += f * x over this thread's elements. */
template <typename T, int NC>
__device__ __forceinline__ void add_slice(T *row, const float (&x)[NC], float f, int64_t D, int sub) {
#pragma unroll
  for (int c = 0; c < NC; c++) {
    const int d = leap__attn_gen_dim(sub, c);
    if (d < D) leap_store(row, d, leap_load(row, d) + f * x[c]);
  }
}

/* The full dot product of x with the shared row r (its four threads' parts added by the quad butterfly). */
template <int NC>
__device__ __forceinline__ float row_dot(const float (&x)[NC], const float *r, int sub) {
  float part = 0.0f;
#pragma unroll
  for (int c = 0; c < NC; c++) part += x[c] * r[leap__attn_gen_dim(sub, c)];
  return leap__attn_quad_sum(part);
}

/* Copies rows row0 .. row0 + BK - 1 of a (T, D) head (row stride ld) into the shared fp32 tile sm (BK x NC*TPR),
 * zeros past `valid` rows and past D. */
template <typename T, int NC>
__device__ __forceinline__ void stage_tile(float *sm, const T *base, int64_t ld, int64_t D, int64_t valid) {
  constexpr int W = NC * TPR;
  for (int idx = (int)threadIdx.x; idx < BK * W; idx += THREADS) {
    const int r = idx / W, d = idx % W;
    sm[idx] = r < valid && d < D ? leap_load(base, (int64_t)r * ld + d) : 0.0f;
  }
}

/* Copies BK floats of a per-row vector (lse or D_i) into shared memory, zeros past `valid`. */
__device__ __forceinline__ void stage_vector(float *sm, const float *base, int64_t valid) {
  for (int r = (int)threadIdx.x; r < BK; r += THREADS) sm[r] = r < valid ? base[r] : 0.0f;
}

template <typename T, int NC>
__global__ void __launch_bounds__(THREADS) attn_fwd_generic_kernel(leap__attn_fwd_args a) {
  constexpr int W = NC * TPR;
  extern __shared__ float smem[];
  float *Ks = smem, *Vs = smem + BK * W;
  const leap_attention_shape &s = a.s;
  const int row = (int)threadIdx.x / TPR, sub = (int)threadIdx.x % TPR;
  int64_t bh, tile;
  leap__attn_block_tile(s, bh, tile);
  const int64_t b = bh / s.H, h = bh % s.H, i0 = (leap__attn_query_tiles(s.Tq, BQ) - 1 - tile) * BQ, i = i0 + row;
  const int64_t klim = leap__attn_klim(s, a.key_len, b);
  const int64_t ntiles = leap__attn_key_tiles(s.causal, s.Tq, s.Tk, klim, i0, BQ, BK);
  const int64_t last = i0 + BQ - 1 < s.Tq - 1 ? i0 + BQ - 1 : s.Tq - 1;
  const int64_t nkeys = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, last);
  const int64_t visible = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, i);
  const T *k0 = static_cast<const T *>(a.k) + b * s.Tk * s.ldk + h * s.D;
  const T *v0 = static_cast<const T *>(a.v) + b * s.Tk * s.ldv + h * s.D;
  float q[NC], o[NC];
  load_slice(q, static_cast<const T *>(a.q) + (b * s.Tq + i) * s.ldq + h * s.D, s.D, i < s.Tq, sub);
#pragma unroll
  for (int c = 0; c < NC; c++) o[c] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const float scale_log2 = s.scale * LEAP_ATTN_LOG2E;

  for (int64_t t = 0; t < ntiles; t++) {
    const int64_t j0 = t * BK;
    __syncthreads(); /* the previous tile has been read */
    stage_tile<T, NC>(Ks, k0 + j0 * s.ldk, s.ldk, s.D, nkeys - j0);
    stage_tile<T, NC>(Vs, v0 + j0 * s.ldv, s.ldv, s.D, nkeys - j0);
    __syncthreads();
    const bool full = leap__attn_tile_full(s.causal, s.Tq, s.Tk, klim, i0, BQ, j0, BK);
    float sc[BK], mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < BK; j++) {
      float x = row_dot(q, Ks + j * W, sub) * scale_log2;
      if (!full && j0 + j >= visible) x = -INFINITY;
      sc[j] = x;
      mx = fmaxf(mx, x);
    }
    const float m_new = fmaxf(m, mx), m_use = m_new == -INFINITY ? 0.0f : m_new;
    const float corr = exp2f(m - m_use);
    m = m_new;
    l *= corr;
#pragma unroll
    for (int c = 0; c < NC; c++) o[c] *= corr;
#pragma unroll
    for (int j = 0; j < BK; j++) {
      const float p = exp2f(sc[j] - m_use);
      l += p;
#pragma unroll
      for (int c = 0; c < NC; c++) o[c] += p * Vs[j * W + leap__attn_gen_dim(sub, c)];
    }
  }
  if (i >= s.Tq) return;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  T *out = static_cast<T *>(a.out) + (b * s.Tq + i) * s.ldo + h * s.D;
#pragma unroll
  for (int c = 0; c < NC; c++) {
    const int d = leap__attn_gen_dim(sub, c);
    if (d < s.D) leap_store(out, d, o[c] * inv);
  }
  if (sub == 0) a.lse[bh * s.Tq + i] = l > 0.0f ? (m + log2f(l)) * LEAP_ATTN_LN2 : -INFINITY;
}

template <typename T, int NC>
__global__ void __launch_bounds__(THREADS) attn_dq_generic_kernel(leap__attn_bwd_args a) {
  constexpr int W = NC * TPR;
  extern __shared__ float smem[];
  float *Ks = smem, *Vs = smem + BK * W;
  const leap_attention_shape &s = a.s;
  const int row = (int)threadIdx.x / TPR, sub = (int)threadIdx.x % TPR;
  int64_t bh, tile;
  leap__attn_block_tile(s, bh, tile);
  const int64_t b = bh / s.H, h = bh % s.H, i0 = (leap__attn_query_tiles(s.Tq, BQ) - 1 - tile) * BQ, i = i0 + row;
  const int64_t klim = leap__attn_klim(s, a.key_len, b);
  const int64_t ntiles = leap__attn_key_tiles(s.causal, s.Tq, s.Tk, klim, i0, BQ, BK);
  if (ntiles == 0) return;
  const int64_t last = i0 + BQ - 1 < s.Tq - 1 ? i0 + BQ - 1 : s.Tq - 1;
  const int64_t nkeys = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, last);
  const int64_t visible = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, i);
  const T *k0 = static_cast<const T *>(a.k) + b * s.Tk * s.ldk + h * s.D;
  const T *v0 = static_cast<const T *>(a.v) + b * s.Tk * s.ldv + h * s.D;
  float q[NC], g[NC], acc[NC];
  load_slice(q, static_cast<const T *>(a.q) + (b * s.Tq + i) * s.ldq + h * s.D, s.D, i < s.Tq, sub);
  load_slice(g, static_cast<const T *>(a.dout) + (b * s.Tq + i) * s.ldo + h * s.D, s.D, i < s.Tq, sub);
#pragma unroll
  for (int c = 0; c < NC; c++) acc[c] = 0.0f;
  const float lse2 = visible > 0 ? a.lse[bh * s.Tq + i] * LEAP_ATTN_LOG2E : 0.0f;
  const float Di = i < s.Tq ? a.Dvec[bh * s.Tq + i] : 0.0f;
  const float scale_log2 = s.scale * LEAP_ATTN_LOG2E;

  for (int64_t t = 0; t < ntiles; t++) {
    const int64_t j0 = t * BK;
    __syncthreads();
    stage_tile<T, NC>(Ks, k0 + j0 * s.ldk, s.ldk, s.D, nkeys - j0);
    stage_tile<T, NC>(Vs, v0 + j0 * s.ldv, s.ldv, s.D, nkeys - j0);
    __syncthreads();
    const bool full = leap__attn_tile_full(s.causal, s.Tq, s.Tk, klim, i0, BQ, j0, BK);
    for (int j = 0; j < BK; j++) {
      const float sj = row_dot(q, Ks + j * W, sub), dp = row_dot(g, Vs + j * W, sub);
      const bool seen = full || j0 + j < visible;
      const float ds = seen ? exp2f(sj * scale_log2 - lse2) * (dp - Di) : 0.0f;
#pragma unroll
      for (int c = 0; c < NC; c++) acc[c] += ds * Ks[j * W + leap__attn_gen_dim(sub, c)];
    }
  }
  if (i < s.Tq) add_slice(static_cast<T *>(a.dq) + (b * s.Tq + i) * s.ldq + h * s.D, acc, s.scale, s.D, sub);
}

template <typename T, int NC>
__global__ void __launch_bounds__(THREADS) attn_dkv_generic_kernel(leap__attn_bwd_args a) {
  constexpr int W = NC * TPR;
  extern __shared__ float smem[];
  float *Qs = smem, *Gs = smem + BK * W, *Ls = Gs + BK * W, *Ds = Ls + BK;
  const leap_attention_shape &s = a.s;
  const int row = (int)threadIdx.x / TPR, sub = (int)threadIdx.x % TPR;
  int64_t bh, tile;
  leap__attn_block_tile(s, bh, tile);
  const int64_t b = bh / s.H, h = bh % s.H, j0 = tile * BQ, j = j0 + row;
  const int64_t klim = leap__attn_klim(s, a.key_len, b);
  const int64_t first = leap__attn_first_query_tile(s.causal, s.Tq, s.Tk, klim, j0, BK);
  const int64_t nqt = leap__attn_query_tiles(s.Tq, BK);
  if (first >= nqt) return;
  const T *q0 = static_cast<const T *>(a.q) + b * s.Tq * s.ldq + h * s.D;
  const T *g0 = static_cast<const T *>(a.dout) + b * s.Tq * s.ldo + h * s.D;
  float kx[NC], vx[NC], dk[NC], dv[NC];
  load_slice(kx, static_cast<const T *>(a.k) + (b * s.Tk + j) * s.ldk + h * s.D, s.D, j < klim, sub);
  load_slice(vx, static_cast<const T *>(a.v) + (b * s.Tk + j) * s.ldv + h * s.D, s.D, j < klim, sub);
#pragma unroll
  for (int c = 0; c < NC; c++) dk[c] = dv[c] = 0.0f;
  const float scale_log2 = s.scale * LEAP_ATTN_LOG2E;

  for (int64_t qt = first; qt < nqt; qt++) {
    const int64_t i0 = qt * BK;
    __syncthreads();
    stage_tile<T, NC>(Qs, q0 + i0 * s.ldq, s.ldq, s.D, s.Tq - i0);
    stage_tile<T, NC>(Gs, g0 + i0 * s.ldo, s.ldo, s.D, s.Tq - i0);
    stage_vector(Ls, a.lse + bh * s.Tq + i0, s.Tq - i0);
    stage_vector(Ds, a.Dvec + bh * s.Tq + i0, s.Tq - i0);
    __syncthreads();
    const bool full = leap__attn_tile_full(s.causal, s.Tq, s.Tk, klim, i0, BK, j0, BQ);
    for (int r = 0; r < BK; r++) {
      const float sj = row_dot(kx, Qs + r * W, sub), dp = row_dot(vx, Gs + r * W, sub);
      const bool seen = full || j < leap__attn_visible(s.causal, s.Tq, s.Tk, klim, i0 + r);
      const float p = seen ? exp2f(sj * scale_log2 - Ls[r] * LEAP_ATTN_LOG2E) : 0.0f;
      const float ds = p * (dp - Ds[r]);
#pragma unroll
      for (int c = 0; c < NC; c++) {
        const int d = leap__attn_gen_dim(sub, c);
        dv[c] += p * Gs[r * W + d];
        dk[c] += ds * Qs[r * W + d];
      }
    }
  }
  if (j >= klim) return;
  if (a.dv) add_slice(static_cast<T *>(a.dv) + (b * s.Tk + j) * s.ldv + h * s.D, dv, 1.0f, s.D, sub);
  if (a.dk) add_slice(static_cast<T *>(a.dk) + (b * s.Tk + j) * s.ldk + h * s.D, dk, s.scale, s.D, sub);
}

/* Runs the statement with NC, the elements per thread that head size D needs, as a compile-time constant. */
#define ATTN_DISPATCH_NC(D, NC, ...)                  \
  do {                                                \
    if ((D) <= 16 * TPR) {                            \
      constexpr int NC = 16;                          \
      __VA_ARGS__;                                    \
    } else if ((D) <= 32 * TPR) {                     \
      constexpr int NC = 32;                          \
      __VA_ARGS__;                                    \
    } else {                                          \
      constexpr int NC = 64;                          \
      __VA_ARGS__;                                    \
    }                                                 \
  } while (0)
static_assert(64 * TPR == LEAP_ATTN_MAX_D, "the widest NC covers the largest head");

template <int NC>
constexpr size_t tile_bytes() {
  return (size_t)2 * BK * NC * TPR * sizeof(float);
}

template <typename T, int NC>
void forward(const leap__attn_fwd_args &a, cudaStream_t stream) {
  const size_t bytes = tile_bytes<NC>();
  LEAP_CUDA_CHECK(
      cudaFuncSetAttribute(attn_fwd_generic_kernel<T, NC>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  const int64_t blocks = a.s.B * a.s.H * leap__attn_query_tiles(a.s.Tq, BQ);
  LEAP_LAUNCH((unsigned)blocks, THREADS, bytes, stream, attn_fwd_generic_kernel<T, NC>)(a);
  LEAP_CUDA_LAUNCH_CHECK();
}

template <typename T, int NC>
void backward(const leap__attn_bwd_args &a, cudaStream_t stream) {
  const leap_attention_shape &s = a.s;
  if (a.dk || a.dv) {
    const size_t bytes = tile_bytes<NC>() + 2 * BK * sizeof(float);
    LEAP_CUDA_CHECK(cudaFuncSetAttribute(attn_dkv_generic_kernel<T, NC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)bytes));
    const int64_t blocks = s.B * s.H * ((s.Tk + BQ - 1) / BQ);
    if (blocks == 0) return; /* no keys, so nothing for dk, dv or dq */
    LEAP_LAUNCH((unsigned)blocks, THREADS, bytes, stream, attn_dkv_generic_kernel<T, NC>)(a);
    LEAP_CUDA_LAUNCH_CHECK();
  }
  if (a.dq) {
    const size_t bytes = tile_bytes<NC>();
    LEAP_CUDA_CHECK(
        cudaFuncSetAttribute(attn_dq_generic_kernel<T, NC>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    const int64_t blocks = s.B * s.H * leap__attn_query_tiles(s.Tq, BQ);
    LEAP_LAUNCH((unsigned)blocks, THREADS, bytes, stream, attn_dq_generic_kernel<T, NC>)(a);
    LEAP_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace

void leap__attn_forward_generic(const leap__attn_fwd_args &a, leap_dtype act, cudaStream_t stream) {
  LEAP_DISPATCH_ACT(act, T, ATTN_DISPATCH_NC(a.s.D, NC, forward<T, NC>(a, stream)));
}

void leap__attn_backward_generic(const leap__attn_bwd_args &a, leap_dtype act, cudaStream_t stream) {
  LEAP_DISPATCH_ACT(act, T, ATTN_DISPATCH_NC(a.s.D, NC, backward<T, NC>(a, stream)));
}
