/* Flash-attention forward on the tensor cores: bf16 q, k, v with D = 64 or 128, fp32 softmax and accumulation.
 *
 * Algorithm (FlashAttention-2). A block owns FWD_BQ = 64 query rows of one (batch, head) and walks the key tiles
 * of FWD_BK = 64 keys that its rows can see (leap__attn_key_tiles: under the causal mask the tiles past the last
 * row's diagonal are never loaded). For each key tile:
 *   S = Q K^T             mma.sync m16n8k16, Q's A fragments held in registers for the whole walk;
 *   mask                  only on tiles that leap__attn_tile_full says are not wholly visible (the diagonal tile,
 *                         the key_len edge, the last partial tiles): a hidden score becomes -inf;
 *   online softmax        in base 2: m_new = max(m, rowmax(S * scale * log2 e)), the old O and l scaled by
 *                         2^(m - m_new), P = 2^(S * scale * log2 e - m_new), l += rowsum(P). A row that has seen
 *                         nothing yet uses 0 in place of m_new, so that -inf - -inf never makes a NaN;
 *   O += P V              P goes from the score accumulators straight into A fragments (bf16), V is read with
 *                         ldmatrix.trans.
 * At the end O / l is written as bf16 (staged through shared memory for 16-byte stores) and
 * lse = (m + log2 l) * ln 2; a row that saw no key writes O = 0 and lse = -inf, as the CPU does. The T x T scores
 * never leave registers.
 *
 * Tiling and memory. 4 warps, warp w owns query rows 16w .. 16w + 15 of the block (one MMA's M). Shared memory:
 * Q (64 x D), K and V (2 stages of 64 x D each) in bf16, swizzled (attention_tiles.h: 128-byte XOR swizzle in
 * 64-column panels, conflict-free for ldmatrix and cp.async); 40 KB for D = 64, 80 KB for D = 128. Key tile t + 1
 * is copied by cp.async while tile t is computed (double buffering). Rows past Tq or past the last visible key
 * are zero-filled, never read from memory.
 *
 * Fragments (m16n8k16, attention_tiles.h): per warp S is 16 x 64 = 8 n-tiles x 4 fp32 per lane; O is 16 x D =
 * D / 8 n-tiles x 4 fp32 per lane; Q is D / 16 k-steps x 4 registers. A lane holds rows g and g + 8 (g = lane / 4)
 * of its warp's 16, so row maxima and sums reduce over the 4 lanes of a quad.
 *
 * On sm_90a the same kernel computes S and O with wgmma instead (scores_wgmma and output_wgmma below, and
 * attention_wgmma.cuh): one warpgroup (the block's 4 warps) issues m64n64k16 for S = Q K^T with Q and K read from
 * shared memory through descriptors, and m64nDk16 for O += P V with P from registers (the same fragments) and V
 * through a transposed descriptor. Tiles, copies, masks and softmax are shared with the mma.sync path; only the
 * products differ, and sm_80 (and the compute_90 PTX) keep mma.sync. The loads stay cp.async issued by every
 * thread: no tensor memory accelerator and no warp specialisation yet (docs/attention-kernels.md). */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/attention/attention_flash.cuh"
#include "kernels/attention/attention_wgmma.cuh"

namespace {

constexpr int BQ = LEAP_ATTN_FWD_BQ;
constexpr int BK = LEAP_ATTN_FWD_BK;
constexpr int WARPS = LEAP_ATTN_FWD_WARPS;
constexpr int THREADS = WARPS * LEAP_ATTN_WARP;

/* Slack so that the tiles can start on a 1024-byte boundary, as wgmma's 128-byte swizzle needs. */
constexpr int SMEM_ALIGN = LEAP_ATTN_WGMMA_GROUP_BYTES;

template <int D>
constexpr size_t smem_bytes() {
  return (size_t)(BQ + 4 * BK) * D * sizeof(__nv_bfloat16) + SMEM_ALIGN;
}
static_assert(BQ * 64 * sizeof(__nv_bfloat16) % LEAP_ATTN_WGMMA_GROUP_BYTES == 0 &&
                  BK * 64 * sizeof(__nv_bfloat16) % LEAP_ATTN_WGMMA_GROUP_BYTES == 0,
              "every tile and panel starts on a 1024-byte boundary");

/* The per-row softmax state of a lane: rows g and g + 8 of its warp. */
struct row_state {
  float m[2], l[2];
  int64_t visible[2];
};

/* Scales the scores to base 2 and hides the keys a row may not see (only when the tile is not wholly visible). */
template <int NT>
__device__ __forceinline__ void scale_and_mask(float (&sc)[NT][4], float scale_log2, bool full, int64_t j0,
                                               const row_state &st, int lane) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      float x = sc[nt][e] * scale_log2;
      if (!full && j0 + nt * LEAP_ATTN_MMA_N + leap__attn_c_col(lane, e) >= st.visible[e >> 1]) x = -INFINITY;
      sc[nt][e] = x;
    }
}

/* The online-softmax step of the file comment: turns sc into P in place and rescales o, m and l. */
template <int NT, int NO>
__device__ __forceinline__ void online_softmax(float (&sc)[NT][4], float (&o)[NO][4], row_state &st) {
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    float mx = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) mx = fmaxf(mx, fmaxf(sc[nt][2 * rr], sc[nt][2 * rr + 1]));
    const float m_new = fmaxf(st.m[rr], leap__attn_quad_max(mx));
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;
    const float corr = exp2f(st.m[rr] - m_use);
    st.m[rr] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 2 * rr; e < 2 * rr + 2; e++) {
        sc[nt][e] = exp2f(sc[nt][e] - m_use);
        sum += sc[nt][e];
      }
    st.l[rr] = st.l[rr] * corr + sum;
#pragma unroll
    for (int dt = 0; dt < NO; dt++) o[dt][2 * rr] *= corr, o[dt][2 * rr + 1] *= corr;
  }
}

/* The probabilities of k-step kk (keys 16 kk .. 16 kk + 15) as an A fragment, straight from the accumulators. */
template <int NT>
__device__ __forceinline__ void probs_fragment(uint32_t (&pa)[4], const float (&sc)[NT][4], int kk) {
#pragma unroll
  for (int r = 0; r < 4; r++) {
    const int nt = leap__attn_c2a_ntile(kk, r), e = leap__attn_c2a_elem(r);
    pa[r] = leap__attn_pack(sc[nt][e], sc[nt][e + 1]);
  }
}

/* S = Q K^T for this warp's 16 rows against the 64 keys of the tile Ks. */
template <int D>
__device__ __forceinline__ void scores_mma(float (&sc)[BK / LEAP_ATTN_MMA_N][4],
                                           const uint32_t (&qf)[D / LEAP_ATTN_MMA_K][4], const __nv_bfloat16 *Ks,
                                           int lane) {
#pragma unroll
  for (int nt = 0; nt < BK / LEAP_ATTN_MMA_N; nt++) sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.0f;
#pragma unroll
  for (int np = 0; np < BK / 16; np++)
#pragma unroll
    for (int ks = 0; ks < D / LEAP_ATTN_MMA_K; ks++) {
      uint32_t b[4];
      leap__attn_ldsm(b, Ks + leap__attn_swizzle(np * 16 + leap__attn_ldsm_b_row(lane),
                                                 ks * LEAP_ATTN_MMA_K + leap__attn_ldsm_b_col(lane), BK));
      leap__attn_mma(sc[2 * np], qf[ks], b[0], b[1]);
      leap__attn_mma(sc[2 * np + 1], qf[ks], b[2], b[3]);
    }
}

/* O += P V for this warp's rows, P from the score accumulators, V from the tile Vs (keys x D). */
template <int D>
__device__ __forceinline__ void output_mma(float (&o)[D / LEAP_ATTN_MMA_N][4],
                                           const float (&sc)[BK / LEAP_ATTN_MMA_N][4], const __nv_bfloat16 *Vs,
                                           int lane) {
#pragma unroll
  for (int kk = 0; kk < BK / LEAP_ATTN_MMA_K; kk++) {
    uint32_t pa[4];
    probs_fragment(pa, sc, kk);
#pragma unroll
    for (int dp = 0; dp < D / 16; dp++) {
      uint32_t b[4];
      leap__attn_ldsm_trans(b, Vs + leap__attn_swizzle(kk * LEAP_ATTN_MMA_K + leap__attn_ldsm_a_row(lane),
                                                       dp * 16 + leap__attn_ldsm_a_col(lane), BK));
      leap__attn_mma(o[2 * dp], pa, b[0], b[1]);
      leap__attn_mma(o[2 * dp + 1], pa, b[2], b[3]);
    }
  }
}

/* Writes O / l (bf16, through the shared tile Qs for 16-byte stores) and lse for the block's rows. */
template <int D>
__device__ __forceinline__ void write_output(const leap__attn_fwd_args &a, __nv_bfloat16 *Qs, float (&o)[D / 8][4],
                                             const row_state &st, int64_t bh, int64_t i0, int warp, int lane) {
  const leap_attention_shape &s = a.s;
  float inv[2];
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const float l = leap__attn_quad_sum(st.l[rr]);
    inv[rr] = l > 0.0f ? 1.0f / l : 0.0f;
    const int64_t i = i0 + warp * LEAP_ATTN_WARP_ROWS + leap__attn_c_row(lane, 2 * rr);
    if (leap__attn_quad(lane) == 0 && i < s.Tq)
      a.lse[bh * s.Tq + i] = l > 0.0f ? (st.m[rr] + log2f(l)) * LEAP_ATTN_LN2 : -INFINITY;
  }
  /* Every warp is done with K, V and its own Q rows; Q's copy may still be in flight when there were no tiles. */
  leap__attn_cp_wait<0>();
  __syncthreads();
#pragma unroll
  for (int dt = 0; dt < D / 8; dt++)
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      const int row = warp * LEAP_ATTN_WARP_ROWS + leap__attn_c_row(lane, 2 * rr);
      const int col = dt * 8 + leap__attn_c_col(lane, 0);
      *reinterpret_cast<uint32_t *>(Qs + leap__attn_swizzle(row, col, BQ)) =
          leap__attn_pack(o[dt][2 * rr] * inv[rr], o[dt][2 * rr + 1] * inv[rr]);
    }
  __syncthreads();
  const int64_t b = bh / s.H, h = bh % s.H;
  __nv_bfloat16 *out = static_cast<__nv_bfloat16 *>(a.out) + (b * s.Tq + i0) * s.ldo + h * D;
  constexpr int CPR = D / LEAP_ATTN_CHUNK;
#pragma unroll
  for (int it = 0; it < BQ * CPR / THREADS; it++) {
    const int c = (int)threadIdx.x + it * THREADS, r = c / CPR, col = (c % CPR) * LEAP_ATTN_CHUNK;
    if (i0 + r < s.Tq)
      *reinterpret_cast<uint4 *>(out + r * s.ldo + col) =
          *reinterpret_cast<const uint4 *>(Qs + leap__attn_swizzle(r, col, BQ));
  }
}

/* S = Q K^T for the whole block (64 x 64) as one warpgroup: D / 16 wgmma with both operands in shared memory. */
template <int D>
__device__ __forceinline__ void scores_wgmma(float (&sc)[BK / LEAP_ATTN_MMA_N][4], const __nv_bfloat16 *Qs,
                                             const __nv_bfloat16 *Ks) {
#pragma unroll
  for (int nt = 0; nt < BK / LEAP_ATTN_MMA_N; nt++) sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.0f;
  leap__attn_wgmma_fence();
#pragma unroll
  for (int ks = 0; ks < D / LEAP_ATTN_MMA_K; ks++) {
    /* Element (0, 16 ks) of each tile: the panel of column 16 ks, then 32 bytes per k-step inside its rows. */
    const int panel = ks * LEAP_ATTN_MMA_K / LEAP_ATTN_PANEL, col = ks * LEAP_ATTN_MMA_K % LEAP_ATTN_PANEL;
    const uint64_t da = leap__attn_wgmma_desc(Qs + panel * BQ * LEAP_ATTN_PANEL + col, LEAP_ATTN_WGMMA_KMAJOR_LEADING,
                                              LEAP_ATTN_WGMMA_GROUP_BYTES);
    const uint64_t db = leap__attn_wgmma_desc(Ks + panel * BK * LEAP_ATTN_PANEL + col, LEAP_ATTN_WGMMA_KMAJOR_LEADING,
                                              LEAP_ATTN_WGMMA_GROUP_BYTES);
    leap__attn_wgmma_ss_n64(sc, da, db);
  }
  leap__attn_wgmma_commit();
  leap__attn_wgmma_wait();
}

/* O += P V as one warpgroup: BK / 16 wgmma with P from registers and V (keys x D) through an MN-major descriptor. */
template <int D>
__device__ __forceinline__ void output_wgmma(float (&o)[D / LEAP_ATTN_MMA_N][4],
                                             const float (&sc)[BK / LEAP_ATTN_MMA_N][4], const __nv_bfloat16 *Vs) {
  static_assert(D == 64 || D == 128, "wgmma N is the head size");
  uint32_t pa[BK / LEAP_ATTN_MMA_K][4];
#pragma unroll
  for (int kk = 0; kk < BK / LEAP_ATTN_MMA_K; kk++) probs_fragment(pa[kk], sc, kk);
  leap__attn_wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < BK / LEAP_ATTN_MMA_K; kk++) {
    const uint64_t db = leap__attn_wgmma_desc(Vs + kk * LEAP_ATTN_MMA_K * LEAP_ATTN_PANEL,
                                              BK * LEAP_ATTN_PANEL * (uint32_t)sizeof(__nv_bfloat16),
                                              LEAP_ATTN_WGMMA_GROUP_BYTES);
    if constexpr (D == 64)
      leap__attn_wgmma_rs_n64(o, pa[kk], db);
    else
      leap__attn_wgmma_rs_n128(o, pa[kk], db);
  }
  leap__attn_wgmma_commit();
  leap__attn_wgmma_wait();
}

/* The products by wgmma when the kernel is asked for them (WG) and sm_90a code is being compiled; mma.sync
 * otherwise (sm_80, and compute_90 PTX that a newer chip compiles for itself). */
template <bool WG>
__host__ __device__ constexpr bool use_wgmma() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  return WG;
#else
  return false;
#endif
}

template <int D, bool WG>
__device__ __forceinline__ void forward(const leap__attn_fwd_args &a, __nv_bfloat16 *smem) {
  const leap_attention_shape &s = a.s;
  const int warp = (int)threadIdx.x / LEAP_ATTN_WARP, lane = (int)threadIdx.x % LEAP_ATTN_WARP;
  int64_t bh, tile;
  leap__attn_block_tile(s, bh, tile);
  const int64_t b = bh / s.H, h = bh % s.H, i0 = (leap__attn_query_tiles(s.Tq, BQ) - 1 - tile) * BQ;
  const int64_t klim = leap__attn_klim(s, a.key_len, b);
  const int64_t ntiles = leap__attn_key_tiles(s.causal, s.Tq, s.Tk, klim, i0, BQ, BK);
  const int64_t last = i0 + BQ - 1 < s.Tq - 1 ? i0 + BQ - 1 : s.Tq - 1;
  const int64_t nkeys = leap__attn_visible(s.causal, s.Tq, s.Tk, klim, last);
  const __nv_bfloat16 *qp = static_cast<const __nv_bfloat16 *>(a.q) + (b * s.Tq + i0) * s.ldq + h * D;
  const __nv_bfloat16 *kp = static_cast<const __nv_bfloat16 *>(a.k) + b * s.Tk * s.ldk + h * D;
  const __nv_bfloat16 *vp = static_cast<const __nv_bfloat16 *>(a.v) + b * s.Tk * s.ldv + h * D;
  __nv_bfloat16 *Qs = smem, *Ks = Qs + BQ * D, *Vs = Ks + 2 * BK * D;

  leap__attn_load_tile<D, BQ, THREADS>(Qs, qp, s.ldq, s.Tq - i0);
  if (ntiles > 0) {
    leap__attn_load_tile<D, BK, THREADS>(Ks, kp, s.ldk, nkeys);
    leap__attn_load_tile<D, BK, THREADS>(Vs, vp, s.ldv, nkeys);
  }
  leap__attn_cp_commit();

  row_state st;
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    st.m[rr] = -INFINITY, st.l[rr] = 0.0f;
    st.visible[rr] = leap__attn_visible(s.causal, s.Tq, s.Tk, klim,
                                        i0 + warp * LEAP_ATTN_WARP_ROWS + leap__attn_c_row(lane, 2 * rr));
  }
  float o[D / LEAP_ATTN_MMA_N][4];
#pragma unroll
  for (int dt = 0; dt < D / LEAP_ATTN_MMA_N; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  uint32_t qf[D / LEAP_ATTN_MMA_K][4]; /* Q's A fragments for mma.sync (unused by wgmma, which reads Q in place) */
  const float scale_log2 = s.scale * LEAP_ATTN_LOG2E;

  for (int64_t t = 0; t < ntiles; t++) {
    if (t + 1 < ntiles) {
      const int64_t j1 = (t + 1) * BK;
      const int stage = (int)((t + 1) & 1);
      leap__attn_load_tile<D, BK, THREADS>(Ks + stage * BK * D, kp + j1 * s.ldk, s.ldk, nkeys - j1);
      leap__attn_load_tile<D, BK, THREADS>(Vs + stage * BK * D, vp + j1 * s.ldv, s.ldv, nkeys - j1);
      leap__attn_cp_commit();
      leap__attn_cp_wait<1>();
    } else {
      leap__attn_cp_wait<0>();
    }
    if constexpr (use_wgmma<WG>()) leap__attn_fence_async_shared();
    __syncthreads();
    const int stage = (int)(t & 1);
    float sc[BK / LEAP_ATTN_MMA_N][4];
    if constexpr (use_wgmma<WG>()) {
      scores_wgmma<D>(sc, Qs, Ks + stage * BK * D);
    } else {
      if (t == 0) {
#pragma unroll
        for (int ks = 0; ks < D / LEAP_ATTN_MMA_K; ks++)
          leap__attn_ldsm(qf[ks], Qs + leap__attn_swizzle(warp * LEAP_ATTN_WARP_ROWS + leap__attn_ldsm_a_row(lane),
                                                         ks * LEAP_ATTN_MMA_K + leap__attn_ldsm_a_col(lane), BQ));
      }
      scores_mma<D>(sc, qf, Ks + stage * BK * D, lane);
    }
    const bool full = leap__attn_tile_full(s.causal, s.Tq, s.Tk, klim, i0, BQ, t * BK, BK);
    scale_and_mask(sc, scale_log2, full, t * BK, st, lane);
    online_softmax(sc, o, st);
    if constexpr (use_wgmma<WG>())
      output_wgmma<D>(o, sc, Vs + stage * BK * D);
    else
      output_mma<D>(o, sc, Vs + stage * BK * D, lane);
    /* The next iteration's copy overwrites the stage this one read. */
    __syncthreads();
  }
  write_output<D>(a, Qs, o, st, bh, i0, warp, lane);
}

/* The forward of the file comment; WG asks for the wgmma products (see use_wgmma). */
template <int D, bool WG>
__global__ void __launch_bounds__(THREADS) attn_fwd_kernel(leap__attn_fwd_args a) {
  extern __shared__ unsigned char smem_raw[];
  __nv_bfloat16 *smem = reinterpret_cast<__nv_bfloat16 *>(
      (reinterpret_cast<uintptr_t>(smem_raw) + SMEM_ALIGN - 1) / SMEM_ALIGN * SMEM_ALIGN);
  forward<D, WG>(a, smem);
}

template <int D, bool WG>
void launch(const leap__attn_fwd_args &a, cudaStream_t stream) {
  const size_t bytes = smem_bytes<D>();
  LEAP_CUDA_CHECK(
      cudaFuncSetAttribute(attn_fwd_kernel<D, WG>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  const int64_t blocks = a.s.B * a.s.H * leap__attn_query_tiles(a.s.Tq, BQ);
  LEAP_LAUNCH((unsigned)blocks, THREADS, bytes, stream, attn_fwd_kernel<D, WG>)(a);
  LEAP_CUDA_LAUNCH_CHECK();
}

}  // namespace

void leap__attn_forward_mma(const leap__attn_fwd_args &a, bool wgmma, cudaStream_t stream) {
  if (a.s.D == 64)
    wgmma ? launch<64, true>(a, stream) : launch<64, false>(a, stream);
  else if (a.s.D == 128)
    wgmma ? launch<128, true>(a, stream) : launch<128, false>(a, stream);
  else {
    fprintf(stderr, "leap: fatal at %s:%d: flash attention mma path with head size %lld\n", __FILE__, __LINE__,
            (long long)a.s.D);
    abort();
  }
}
