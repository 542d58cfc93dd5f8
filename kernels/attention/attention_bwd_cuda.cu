/* Flash-attention backward on the tensor cores: bf16 with D = 64 or 128, fp32 arithmetic, no atomics.
 *
 * Algorithm (FlashAttention-2's, split in two kernels so that every gradient element has exactly one writer).
 * With P_ij = 2^(scale log2e q_i.k_j - log2e lse_i) recomputed from the forward's lse, D_i = rowsum(dO_i * O_i)
 * (leap__attn_row_dot, into the workspace), dP = dO V^T and dS = P * (dP - D_i):
 *   dK/dV kernel  a block owns DKV_BK = 64 keys, 16 per warp, and walks the query tiles of DKV_BQ = 32 rows that
 *                 can see them (from leap__attn_first_query_tile on: under the causal mask the earlier tiles see
 *                 none of the block's keys). Per tile: S^T = K Q^T and dP^T = V dO^T (mma.sync, K and V from
 *                 shared memory, Q and dO as B operands), P^T and dS^T elementwise, then dV += P^T dO and
 *                 dK += dS^T Q with P^T and dS^T fed from the accumulators straight into A fragments and dO, Q read
 *                 with ldmatrix.trans. At the end dv += dV and dk += scale dK (read, add in fp32, write bf16).
 *   dQ kernel     a block owns DQ_BQ = 64 query rows, 16 per warp, and walks the key tiles of DQ_BK = 64 keys its
 *                 rows see (leap__attn_key_tiles). Per tile: S = Q K^T and dP = dO V^T, P and dS, then
 *                 dQ += dS K (K read with ldmatrix.trans). At the end dq += scale dQ.
 * Each block adds its tiles in a fixed order and owns its output rows, so results are bit-identical from run to
 * run; dq, dk and dv may interleave in one fused buffer (they are written by different threads but never the same
 * element). Masks as in the forward (leap__attn_tile_full decides which tiles need them); a hidden entry has P = 0
 * and dS = 0.
 *
 * Shared memory (bf16, swizzled as in attention_tiles.h), for D = 128 (half for D = 64):
 *   dK/dV  K, V (64 x D each, loaded once), Q, dO (2 stages of 32 x D each), lse and D_i (2 stages of 32 floats):
 *          64.5 KB;
 *   dQ     Q, dO (64 x D each, loaded once), K, V (2 stages of 64 x D each): 96 KB.
 * Registers per lane (D = 128): dK/dV accumulators 2 x 16 x 4 floats plus S^T and dP^T (4 n-tiles x 4 each);
 * dQ accumulator 16 x 4 plus S and dP (8 n-tiles x 4 each). docs/attention-kernels.md has the ptxas counts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/attention/attention_flash.cuh"

namespace {

constexpr int THREADS_DKV = LEAP_ATTN_DKV_WARPS * LEAP_ATTN_WARP;
constexpr int THREADS_DQ = LEAP_ATTN_DQ_WARPS * LEAP_ATTN_WARP;
constexpr int ROW_DOT_WARPS = 4;

template <int D>
constexpr size_t dkv_smem_bytes() {
  return (size_t)(2 * LEAP_ATTN_DKV_BK + 4 * LEAP_ATTN_DKV_BQ) * D * sizeof(__nv_bfloat16) +
         4 * LEAP_ATTN_DKV_BQ * sizeof(float);
}

template <int D>
constexpr size_t dq_smem_bytes() {
  return (size_t)(2 * LEAP_ATTN_DQ_BQ + 4 * LEAP_ATTN_DQ_BK) * D * sizeof(__nv_bfloat16);
}

/* D_i = dO_i . O_i for query row (b*H + h)*Tq + i, a warp per row, lanes adding their elements in a fixed order. */
template <typename T>
__global__ void __launch_bounds__(ROW_DOT_WARPS *LEAP_ATTN_WARP)
    attn_row_dot_kernel(float *Dvec, const T *dout, const T *out, leap_attention_shape s) {
  const int lane = (int)threadIdx.x % LEAP_ATTN_WARP;
  const int64_t row = (int64_t)blockIdx.x * ROW_DOT_WARPS + (int64_t)threadIdx.x / LEAP_ATTN_WARP;
  if (row >= s.B * s.H * s.Tq) return;
  const int64_t i = row % s.Tq, bh = row / s.Tq, h = bh % s.H, b = bh / s.H;
  const T *g = dout + (b * s.Tq + i) * s.ldo + h * s.D, *o = out + (b * s.Tq + i) * s.ldo + h * s.D;
  float acc = 0.0f;
  for (int64_t d = lane; d < s.D; d += LEAP_ATTN_WARP) acc += leap_load(g, d) * leap_load(o, d);
  acc = leap_warp_sum(acc);
  if (lane == 0) Dvec[row] = acc;
}

/* gradient[row][col .. col + 1] += f * (x0, x1), in bf16 with the addition in fp32. */
__device__ __forceinline__ void add_pair(__nv_bfloat16 *p, float f, float x0, float x1) {
  __nv_bfloat162 old = *reinterpret_cast<__nv_bfloat162 *>(p);
  *reinterpret_cast<__nv_bfloat162 *>(p) =
      __floats2bfloat162_rn(__low2float(old) + f * x0, __high2float(old) + f * x1);
}

/* Adds f * acc (a warp's 16 rows x D accumulators) into the rows row0 + .. of a gradient (row stride ld), for the
 * rows below `rows`. */
template <int D>
__device__ __forceinline__ void add_rows(__nv_bfloat16 *grad, int64_t ld, int64_t rows, int64_t row0,
                                         const float (&acc)[D / 8][4], float f, int lane) {
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const int64_t r = row0 + leap__attn_c_row(lane, 2 * rr);
    if (r >= rows) continue;
#pragma unroll
    for (int dt = 0; dt < D / 8; dt++)
      add_pair(grad + r * ld + dt * 8 + leap__attn_c_col(lane, 0), f, acc[dt][2 * rr], acc[dt][2 * rr + 1]);
  }
}

/* acc (16 x 8 n-tiles) = A B^T over D, A the warp's 16 rows of the tile As (AROWS rows, k-major), B the NB rows of
 * the tile Bs (BROWS rows): the score-shaped products S = Q K^T, dP = dO V^T, S^T = K Q^T, dP^T = V dO^T. */
template <int D, int NB, int AROWS, int BROWS>
__device__ __forceinline__ void rows_dot_mma(float (&acc)[NB / 8][4], const __nv_bfloat16 *As, int arow0,
                                             const __nv_bfloat16 *Bs, int lane) {
#pragma unroll
  for (int nt = 0; nt < NB / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < D / LEAP_ATTN_MMA_K; ks++) {
    uint32_t a[4];
    leap__attn_ldsm(a, As + leap__attn_swizzle(arow0 + leap__attn_ldsm_a_row(lane),
                                               ks * LEAP_ATTN_MMA_K + leap__attn_ldsm_a_col(lane), AROWS));
#pragma unroll
    for (int np = 0; np < NB / 16; np++) {
      uint32_t b[4];
      leap__attn_ldsm(b, Bs + leap__attn_swizzle(np * 16 + leap__attn_ldsm_b_row(lane),
                                                 ks * LEAP_ATTN_MMA_K + leap__attn_ldsm_b_col(lane), BROWS));
      leap__attn_mma(acc[2 * np], a, b[0], b[1]);
      leap__attn_mma(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

/* out (16 x D) += P Bs, P the accumulators p (16 x NK, k = the shared dimension) fed as A fragments, Bs the tile
 * (NK rows x D, k-major: BROWS rows) read with ldmatrix.trans: dV += P^T dO, dK += dS^T Q, dQ += dS K. */
template <int D, int NK, int BROWS>
__device__ __forceinline__ void accumulate_mma(float (&out)[D / 8][4], const float (&p)[NK / 8][4],
                                               const __nv_bfloat16 *Bs, int lane) {
#pragma unroll
  for (int kk = 0; kk < NK / LEAP_ATTN_MMA_K; kk++) {
    uint32_t pa[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int nt = leap__attn_c2a_ntile(kk, r), e = leap__attn_c2a_elem(r);
      pa[r] = leap__attn_pack(p[nt][e], p[nt][e + 1]);
    }
#pragma unroll
    for (int dp = 0; dp < D / 16; dp++) {
      uint32_t b[4];
      leap__attn_ldsm_trans(b, Bs + leap__attn_swizzle(kk * LEAP_ATTN_MMA_K + leap__attn_ldsm_a_row(lane),
                                                       dp * 16 + leap__attn_ldsm_a_col(lane), BROWS));
      leap__attn_mma(out[2 * dp], pa, b[0], b[1]);
      leap__attn_mma(out[2 * dp + 1], pa, b[2], b[3]);
    }
  }
}

/* ---- dK, dV ----------------------------------------------------------------------------------------------------- */

/* Starts copying query tile qt (rows, dO rows, lse, D_i) into stage `stage`. */
template <int D>
__device__ __forceinline__ void dkv_load_query_tile(const leap__attn_bwd_args &a, __nv_bfloat16 *Qs, __nv_bfloat16 *Gs,
                                                    float *Ls, float *Ds, int64_t b, int64_t h, int64_t qt) {
  constexpr int BQ = LEAP_ATTN_DKV_BQ;
  const leap_attention_shape &s = a.s;
  const int64_t q0 = qt * BQ, bh = b * s.H + h;
  const __nv_bfloat16 *q = static_cast<const __nv_bfloat16 *>(a.q) + (b * s.Tq + q0) * s.ldq + h * D;
  const __nv_bfloat16 *g = static_cast<const __nv_bfloat16 *>(a.dout) + (b * s.Tq + q0) * s.ldo + h * D;
  leap__attn_load_tile<D, BQ, THREADS_DKV>(Qs, q, s.ldq, s.Tq - q0);
  leap__attn_load_tile<D, BQ, THREADS_DKV>(Gs, g, s.ldo, s.Tq - q0);
  static_assert(BQ <= THREADS_DKV, "one thread per row of lse and D_i");
  if (threadIdx.x < BQ) {
    const int64_t i = q0 + threadIdx.x;
    const bool ok = i < s.Tq;
    leap__attn_cp4(Ls + threadIdx.x, a.lse + bh * s.Tq + (ok ? i : 0), ok);
    leap__attn_cp4(Ds + threadIdx.x, a.Dvec + bh * s.Tq + (ok ? i : 0), ok);
  }
}

template <int D>
__global__ void __launch_bounds__(THREADS_DKV) attn_dkv_kernel(leap__attn_bwd_args a) {
  constexpr int BK = LEAP_ATTN_DKV_BK, BQ = LEAP_ATTN_DKV_BQ, NT = BQ / 8;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const leap_attention_shape &s = a.s;
  const int warp = (int)threadIdx.x / LEAP_ATTN_WARP, lane = (int)threadIdx.x % LEAP_ATTN_WARP;
  int64_t bh, tile;
  leap__attn_block_tile(s, bh, tile);
  const int64_t b = bh / s.H, h = bh % s.H, j0 = tile * BK;
  const int64_t klim = leap__attn_klim(s, a.key_len, b);
  const int64_t first = leap__attn_first_query_tile(s.causal, s.Tq, s.Tk, klim, j0, BQ);
  const int64_t nqt = leap__attn_query_tiles(s.Tq, BQ);
  if (first >= nqt) return; /* no query sees these keys: their gradients gain nothing */

  __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(smem_raw), *Vs = Ks + BK * D, *Qs = Vs + BK * D;
  __nv_bfloat16 *Gs = Qs + 2 * BQ * D;
  float *Ls = reinterpret_cast<float *>(Gs + 2 * BQ * D), *Ds = Ls + 2 * BQ;
  const __nv_bfloat16 *kp = static_cast<const __nv_bfloat16 *>(a.k) + (b * s.Tk + j0) * s.ldk + h * D;
  const __nv_bfloat16 *vp = static_cast<const __nv_bfloat16 *>(a.v) + (b * s.Tk + j0) * s.ldv + h * D;
  leap__attn_load_tile<D, BK, THREADS_DKV>(Ks, kp, s.ldk, klim - j0);
  leap__attn_load_tile<D, BK, THREADS_DKV>(Vs, vp, s.ldv, klim - j0);
  dkv_load_query_tile<D>(a, Qs, Gs, Ls, Ds, b, h, first);
  leap__attn_cp_commit();

  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++)
#pragma unroll
    for (int e = 0; e < 4; e++) dk[dt][e] = dv[dt][e] = 0.0f;
  int64_t key[2];
#pragma unroll
  for (int rr = 0; rr < 2; rr++) key[rr] = j0 + warp * LEAP_ATTN_WARP_ROWS + leap__attn_c_row(lane, 2 * rr);
  const float scale_log2 = s.scale * LEAP_ATTN_LOG2E;

  for (int64_t qt = first; qt < nqt; qt++) {
    const int stage = (int)((qt - first) & 1), next = stage ^ 1;
    if (qt + 1 < nqt) {
      dkv_load_query_tile<D>(a, Qs + next * BQ * D, Gs + next * BQ * D, Ls + next * BQ, Ds + next * BQ, b, h, qt + 1);
      leap__attn_cp_commit();
      leap__attn_cp_wait<1>();
    } else {
      leap__attn_cp_wait<0>();
    }
    __syncthreads();
    const __nv_bfloat16 *Qt = Qs + stage * BQ * D, *Gt = Gs + stage * BQ * D;
    const float *Lt = Ls + stage * BQ, *Dt = Ds + stage * BQ;
    float st[NT][4], dpt[NT][4];
    rows_dot_mma<D, BQ, BK, BQ>(st, Ks, warp * LEAP_ATTN_WARP_ROWS, Qt, lane);
    rows_dot_mma<D, BQ, BK, BQ>(dpt, Vs, warp * LEAP_ATTN_WARP_ROWS, Gt, lane);
    const int64_t q0 = qt * BQ;
    const bool full = leap__attn_tile_full(s.causal, s.Tq, s.Tk, klim, q0, BQ, j0, BK);
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int c = nt * 8 + leap__attn_c_col(lane, e);
        const bool seen = full || key[e >> 1] < leap__attn_visible(s.causal, s.Tq, s.Tk, klim, q0 + c);
        const float p = seen ? exp2f(st[nt][e] * scale_log2 - Lt[c] * LEAP_ATTN_LOG2E) : 0.0f;
        st[nt][e] = p;
        dpt[nt][e] = p * (dpt[nt][e] - Dt[c]);
      }
    accumulate_mma<D, BQ, BQ>(dv, st, Gt, lane);
    accumulate_mma<D, BQ, BQ>(dk, dpt, Qt, lane);
    /* The next iteration's copy overwrites the stage this one read. */
    __syncthreads();
  }
  const int64_t row0 = j0 + warp * LEAP_ATTN_WARP_ROWS;
  if (a.dv)
    add_rows<D>(static_cast<__nv_bfloat16 *>(a.dv) + b * s.Tk * s.ldv + h * D, s.ldv, klim, row0, dv, 1.0f, lane);
  if (a.dk)
    add_rows<D>(static_cast<__nv_bfloat16 *>(a.dk) + b * s.Tk * s.ldk + h * D, s.ldk, klim, row0, dk, s.scale, lane);
}

/* ---- dQ --------------------------------------------------------------------------------------------------------- */

template <int D>
__global__ void __launch_bounds__(THREADS_DQ) attn_dq_kernel(leap__attn_bwd_args a) {
  constexpr int BQ = LEAP_ATTN_DQ_BQ, BK = LEAP_ATTN_DQ_BK, NT = BK / 8;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const leap_attention_shape &s = a.s;
  const int warp = (int)threadIdx.x / LEAP_ATTN_WARP, lane = (int)threadIdx.x % LEAP_ATTN_WARP;
  int64_t bh, tile;
  leap__attn_block_tile(s, bh, tile);
  const int64_t b = bh / s.H, h = bh % s.H, i0 = (leap__attn_query_tiles(s.Tq, BQ) - 1 - tile) * BQ;
  const int64_t klim = leap__attn_klim(s, a.key_len, b);
  const int64_t ntiles = leap__attn_key_tiles(s.causal, s.Tq, s.Tk, klim, i0, BQ, BK);
  if (ntiles == 0) return; /* these rows see no key: dq gains nothing */
  const int64_t last = i0 + BQ - 1 < s.Tq - 1 ? i0 + BQ - 1 : s.Tq - 1;
  const int64_t nkeys = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, last);

  __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(smem_raw), *Gs = Qs + BQ * D, *Ks = Gs + BQ * D;
  __nv_bfloat16 *Vs = Ks + 2 * BK * D;
  const __nv_bfloat16 *kp = static_cast<const __nv_bfloat16 *>(a.k) + b * s.Tk * s.ldk + h * D;
  const __nv_bfloat16 *vp = static_cast<const __nv_bfloat16 *>(a.v) + b * s.Tk * s.ldv + h * D;
  const __nv_bfloat16 *qp = static_cast<const __nv_bfloat16 *>(a.q) + (b * s.Tq + i0) * s.ldq + h * D;
  const __nv_bfloat16 *gp = static_cast<const __nv_bfloat16 *>(a.dout) + (b * s.Tq + i0) * s.ldo + h * D;
  leap__attn_load_tile<D, BQ, THREADS_DQ>(Qs, qp, s.ldq, s.Tq - i0);
  leap__attn_load_tile<D, BQ, THREADS_DQ>(Gs, gp, s.ldo, s.Tq - i0);
  leap__attn_load_tile<D, BK, THREADS_DQ>(Ks, kp, s.ldk, nkeys);
  leap__attn_load_tile<D, BK, THREADS_DQ>(Vs, vp, s.ldv, nkeys);
  leap__attn_cp_commit();

  float lse2[2], Di[2];
  int64_t visible[2];
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const int64_t i = i0 + warp * LEAP_ATTN_WARP_ROWS + leap__attn_c_row(lane, 2 * rr);
    visible[rr] = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, i);
    lse2[rr] = visible[rr] > 0 ? a.lse[bh * s.Tq + i] * LEAP_ATTN_LOG2E : 0.0f;
    Di[rr] = i < s.Tq ? a.Dvec[bh * s.Tq + i] : 0.0f;
  }
  float dq[D / 8][4];
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++) dq[dt][0] = dq[dt][1] = dq[dt][2] = dq[dt][3] = 0.0f;
  const float scale_log2 = s.scale * LEAP_ATTN_LOG2E;

  for (int64_t t = 0; t < ntiles; t++) {
    const int stage = (int)(t & 1);
    if (t + 1 < ntiles) {
      const int64_t j1 = (t + 1) * BK;
      leap__attn_load_tile<D, BK, THREADS_DQ>(Ks + (stage ^ 1) * BK * D, kp + j1 * s.ldk, s.ldk, nkeys - j1);
      leap__attn_load_tile<D, BK, THREADS_DQ>(Vs + (stage ^ 1) * BK * D, vp + j1 * s.ldv, s.ldv, nkeys - j1);
      leap__attn_cp_commit();
      leap__attn_cp_wait<1>();
    } else {
      leap__attn_cp_wait<0>();
    }
    __syncthreads();
    const __nv_bfloat16 *Kt = Ks + stage * BK * D, *Vt = Vs + stage * BK * D;
    float sc[NT][4], dp[NT][4];
    rows_dot_mma<D, BK, BQ, BK>(sc, Qs, warp * LEAP_ATTN_WARP_ROWS, Kt, lane);
    rows_dot_mma<D, BK, BQ, BK>(dp, Gs, warp * LEAP_ATTN_WARP_ROWS, Vt, lane);
    const int64_t j0 = t * BK;
    const bool full = leap__attn_tile_full(s.causal, s.Tq, s.Tk, klim, i0, BQ, j0, BK);
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int rr = e >> 1;
        const bool seen = full || j0 + nt * 8 + leap__attn_c_col(lane, e) < visible[rr];
        const float p = seen ? exp2f(sc[nt][e] * scale_log2 - lse2[rr]) : 0.0f;
        sc[nt][e] = p * (dp[nt][e] - Di[rr]);
      }
    accumulate_mma<D, BK, BK>(dq, sc, Kt, lane);
    /* The next iteration's copy overwrites the stage this one read. */
    __syncthreads();
  }
  add_rows<D>(static_cast<__nv_bfloat16 *>(a.dq) + (b * s.Tq + i0) * s.ldq + h * D, s.ldq, s.Tq - i0,
              warp * LEAP_ATTN_WARP_ROWS, dq, s.scale, lane);
}

template <int D>
void launch(const leap__attn_bwd_args &a, cudaStream_t stream) {
  const leap_attention_shape &s = a.s;
  if (a.dk || a.dv) {
    const size_t bytes = dkv_smem_bytes<D>();
    LEAP_CUDA_CHECK(cudaFuncSetAttribute(attn_dkv_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    const int64_t blocks = s.B * s.H * ((s.Tk + LEAP_ATTN_DKV_BK - 1) / LEAP_ATTN_DKV_BK);
    if (blocks == 0) return; /* no keys, so nothing for dk, dv or dq */
    LEAP_LAUNCH((unsigned)blocks, THREADS_DKV, bytes, stream, attn_dkv_kernel<D>)(a);
    LEAP_CUDA_LAUNCH_CHECK();
  }
  if (a.dq) {
    const size_t bytes = dq_smem_bytes<D>();
    LEAP_CUDA_CHECK(cudaFuncSetAttribute(attn_dq_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    const int64_t blocks = s.B * s.H * leap__attn_query_tiles(s.Tq, LEAP_ATTN_DQ_BQ);
    LEAP_LAUNCH((unsigned)blocks, THREADS_DQ, bytes, stream, attn_dq_kernel<D>)(a);
    LEAP_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace

void leap__attn_row_dot(const leap__attn_bwd_args &a, leap_dtype act, cudaStream_t stream) {
  const leap_attention_shape &s = a.s;
  const int64_t rows = s.B * s.H * s.Tq;
  const unsigned blocks = (unsigned)((rows + ROW_DOT_WARPS - 1) / ROW_DOT_WARPS);
  LEAP_DISPATCH_ACT(act, T, {
    LEAP_LAUNCH(blocks, ROW_DOT_WARPS * LEAP_ATTN_WARP, 0, stream, attn_row_dot_kernel<T>)(
        a.Dvec, static_cast<const T *>(a.dout), static_cast<const T *>(a.out), s);
    LEAP_CUDA_LAUNCH_CHECK();
  });
}

void leap__attn_backward_mma(const leap__attn_bwd_args &a, cudaStream_t stream) {
  if (a.s.D == 64)
    launch<64>(a, stream);
  else if (a.s.D == 128)
    launch<128>(a, stream);
  else {
    fprintf(stderr, "leap: fatal at %s:%d: flash attention mma path with head size %lld\n", __FILE__, __LINE__,
            (long long)a.s.D);
    abort();
  }
}
