/* The index arithmetic of the flash-attention CUDA kernels, in one place that both the kernels (nvcc) and the
 * host-side tests (plain C) compile: the tile sizes, which lane holds which element of an mma.sync fragment, the
 * ldmatrix row addresses, the swizzle of the shared-memory tiles, and the bounds that decide which tiles a block
 * visits and which of them need the causal/padding mask. tests/kernels/attention/test_attention_tiles.c emulates
 * a warp's m16n8k16 MMA and the whole tiled forward and backward on the CPU with exactly these functions, so an
 * error here fails a test on any machine, GPU or not. docs/attention-kernels.md explains the design.
 *
 * Fragment layouts are those of the PTX ISA for mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, with
 * g = lane / 4 (the "groupID") and t = lane % 4 (the "threadID_in_group"):
 *   A (16x16, row-major, 4 registers of 2 bf16, elements e = 0..7):
 *       row = g + 8 * ((e / 2) % 2),    col = 2t + (e % 2) + 8 * (e / 4)
 *   B (16x8 = K x N, "col": element (k, n), 2 registers of 2 bf16, e = 0..3):
 *       k = 2t + (e % 2) + 8 * (e / 2), n = g
 *   C/D (16x8 fp32, e = 0..3):
 *       row = g + 8 * (e / 2),          col = 2t + (e % 2)
 * The row of A and of C is a query row (or a key row in the dK/dV kernel); the n of B and C is a key (scores) or
 * an element of the head (outputs). */
#ifndef LEAP_KERNELS_ATTENTION_ATTENTION_TILES_H
#define LEAP_KERNELS_ATTENTION_ATTENTION_TILES_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __CUDACC__
#define LEAP_ATTN_HD __host__ __device__
#define LEAP_ATTN_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define LEAP_ATTN_HD
#define LEAP_ATTN_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---- Tile sizes ---------------------------------------------------------------------------------------------- */

#define LEAP_ATTN_WARP 32
/* The tensor-core instruction's shape. */
#define LEAP_ATTN_MMA_M 16
#define LEAP_ATTN_MMA_N 8
#define LEAP_ATTN_MMA_K 16
/* Rows of a tile that one warp owns in the mma kernels: one MMA's M. */
#define LEAP_ATTN_WARP_ROWS LEAP_ATTN_MMA_M
/* bf16 elements in one 16-byte chunk: the unit of cp.async, of an ldmatrix row and of the swizzle. */
#define LEAP_ATTN_CHUNK 8
/* Rows after which the swizzle pattern repeats: 8 chunks of 16 bytes cover the 32 banks once. */
#define LEAP_ATTN_SWIZZLE_ROWS 8

/* Forward (mma.sync): a block of FWD_BQ query rows, FWD_BQ / 16 warps of 16 rows, walks key tiles of FWD_BK. */
#define LEAP_ATTN_FWD_BQ 64
#define LEAP_ATTN_FWD_BK 64
#define LEAP_ATTN_FWD_WARPS (LEAP_ATTN_FWD_BQ / LEAP_ATTN_WARP_ROWS)
/* Backward dQ (mma.sync): a block of DQ_BQ query rows walks key tiles of DQ_BK. */
#define LEAP_ATTN_DQ_BQ 64
#define LEAP_ATTN_DQ_BK 64
#define LEAP_ATTN_DQ_WARPS (LEAP_ATTN_DQ_BQ / LEAP_ATTN_WARP_ROWS)
/* Backward dK, dV (mma.sync): a block of DKV_BK keys, 16 per warp, walks query tiles of DKV_BQ rows. */
#define LEAP_ATTN_DKV_BK 64
#define LEAP_ATTN_DKV_BQ 32
#define LEAP_ATTN_DKV_WARPS (LEAP_ATTN_DKV_BK / LEAP_ATTN_WARP_ROWS)
/* The generic kernels (fp32, and bf16 head sizes other than 64 and 128), plain FMA: GEN_TPR threads share a row
 * (query row, or key row in dK/dV), element d of the head on thread d % GEN_TPR; blocks of GEN_BQ rows walk tiles
 * of GEN_BK rows of the other side. */
#define LEAP_ATTN_GEN_BQ 64
#define LEAP_ATTN_GEN_BK 32
#define LEAP_ATTN_GEN_TPR 4
#define LEAP_ATTN_GEN_THREADS (LEAP_ATTN_GEN_BQ * LEAP_ATTN_GEN_TPR)
/* The largest head size of the CUDA kernels. */
#define LEAP_ATTN_MAX_D 256

LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_FWD_BQ % LEAP_ATTN_WARP_ROWS == 0, "forward query tile: whole warps");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_FWD_BK % (2 * LEAP_ATTN_MMA_N) == 0,
                        "forward key tile: whole ldmatrix.x4 pairs of n-tiles, and whole k-steps of P V");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_DQ_BQ % LEAP_ATTN_WARP_ROWS == 0, "dQ query tile: whole warps");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_DQ_BK % (2 * LEAP_ATTN_MMA_N) == 0, "dQ key tile: whole pairs of n-tiles");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_DKV_BK % LEAP_ATTN_WARP_ROWS == 0, "dK/dV key tile: whole warps");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_DKV_BQ % LEAP_ATTN_MMA_K == 0, "dK/dV query tile: whole k-steps of P^T dO");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_FWD_BQ % LEAP_ATTN_SWIZZLE_ROWS == 0 &&
                            LEAP_ATTN_FWD_BK % LEAP_ATTN_SWIZZLE_ROWS == 0 &&
                            LEAP_ATTN_DQ_BK % LEAP_ATTN_SWIZZLE_ROWS == 0 &&
                            LEAP_ATTN_DKV_BQ % LEAP_ATTN_SWIZZLE_ROWS == 0,
                        "every shared tile holds whole swizzle periods");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_WARP % LEAP_ATTN_GEN_TPR == 0, "generic kernels: a row's threads share a warp");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_GEN_TPR == 4, "generic kernels: the row reduction is two butterfly steps");
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_MAX_D % LEAP_ATTN_GEN_TPR == 0, "generic kernels: whole elements per thread");

/* ---- mma.sync m16n8k16 fragments (PTX ISA layouts, see the file comment) -------------------------------------- */

static inline LEAP_ATTN_HD int leap__attn_group(int lane) { return lane >> 2; }
static inline LEAP_ATTN_HD int leap__attn_quad(int lane) { return lane & 3; }

/* Element e (0..7; register e / 2, half e % 2) of lane's A fragment. */
static inline LEAP_ATTN_HD int leap__attn_a_row(int lane, int e) {
  return leap__attn_group(lane) + 8 * ((e >> 1) & 1);
}
static inline LEAP_ATTN_HD int leap__attn_a_col(int lane, int e) {
  return 2 * leap__attn_quad(lane) + (e & 1) + 8 * (e >> 2);
}
/* Element e (0..3; register e / 2) of lane's B fragment: its k (row of B) and n (column of B). */
static inline LEAP_ATTN_HD int leap__attn_b_k(int lane, int e) {
  return 2 * leap__attn_quad(lane) + (e & 1) + 8 * (e >> 1);
}
static inline LEAP_ATTN_HD int leap__attn_b_n(int lane, int e) { return leap__attn_group(lane); }
/* Element e (0..3) of lane's C/D fragment. */
static inline LEAP_ATTN_HD int leap__attn_c_row(int lane, int e) { return leap__attn_group(lane) + 8 * (e >> 1); }
static inline LEAP_ATTN_HD int leap__attn_c_col(int lane, int e) { return 2 * leap__attn_quad(lane) + (e & 1); }

/* The probabilities go from the score MMA's C fragments straight into the next MMA's A fragments, without a trip
 * through shared memory: A register r of k-step kk (columns 16 kk .. 16 kk + 15) packs C elements
 * c2a_elem(r) and c2a_elem(r) + 1 of the score n-tile c2a_ntile(kk, r). The A layout above shows why: register r
 * covers row g + 8 (r % 2) and columns 2t, 2t + 1 of the k-step's half r / 2, which is exactly what C elements
 * 2 (r % 2), 2 (r % 2) + 1 of n-tile 2 kk + r / 2 hold. */
static inline LEAP_ATTN_HD int leap__attn_c2a_ntile(int kk, int r) { return 2 * kk + (r >> 1); }
static inline LEAP_ATTN_HD int leap__attn_c2a_elem(int r) { return 2 * (r & 1); }

/* ---- ldmatrix.x4 row addresses -------------------------------------------------------------------------------- */
/* ldmatrix.x4 loads four 8x8 bf16 matrices; lanes 8m .. 8m + 7 give the addresses of matrix m's eight rows, and
 * register m of every lane receives matrix m. Two orders of the four matrices over a 16x16 block are used:
 *   "A order": m0 = rows 0-7 / columns 0-7, m1 = rows 8-15 / columns 0-7, m2 = rows 0-7 / columns 8-15,
 *              m3 = rows 8-15 / columns 8-15. Without .trans these are the four registers of an A fragment whose
 *              rows are the block's rows; with .trans (the block stored k-major: rows = k) they are the B fragments
 *              (b0 b1) of the n-tiles at columns 0-7 (m0, m1) and 8-15 (m2, m3).
 *   "B order": m0 = rows 0-7 / columns 0-7, m1 = rows 0-7 / columns 8-15, m2 = rows 8-15 / columns 0-7,
 *              m3 = rows 8-15 / columns 8-15. Without .trans, with the block stored n-major (rows = n, columns = k)
 *              as K is for Q K^T, these are the B fragments (b0 b1) of the n-tiles at rows 0-7 (m0, m1) and
 *              8-15 (m2, m3).
 * The functions give the row and column (a multiple of 8) within the 16x16 block that lane addresses. */
static inline LEAP_ATTN_HD int leap__attn_ldsm_a_row(int lane) { return (lane & 7) + 8 * ((lane >> 3) & 1); }
static inline LEAP_ATTN_HD int leap__attn_ldsm_a_col(int lane) { return 8 * (lane >> 4); }
static inline LEAP_ATTN_HD int leap__attn_ldsm_b_row(int lane) { return (lane & 7) + 8 * (lane >> 4); }
static inline LEAP_ATTN_HD int leap__attn_ldsm_b_col(int lane) { return 8 * ((lane >> 3) & 1); }

/* ---- Shared-memory swizzle ------------------------------------------------------------------------------------ */
/* A shared tile of `rows` rows of D bf16 (D a multiple of 64) is stored as D / 64 panels of 64 columns, each
 * [rows][64] (128 bytes per row), and within a panel the 16-byte chunk c (0..7) of row r sits at chunk c ^ (r % 8).
 * The eight rows that an ldmatrix phase reads at one logical chunk, and the eight consecutive chunks of a row that
 * eight lanes of cp.async write, then fall into eight different groups of four banks: no bank conflicts and no
 * padding. It is also the layout of Hopper's 128-byte swizzle mode, so a wgmma descriptor can point straight at
 * a panel. Element offset of (row, col) in the tile: */
#define LEAP_ATTN_PANEL 64
static inline LEAP_ATTN_HD int leap__attn_swizzle(int row, int col, int rows) {
  int panel = col / LEAP_ATTN_PANEL, chunk = (col % LEAP_ATTN_PANEL) / LEAP_ATTN_CHUNK;
  return (panel * rows + row) * LEAP_ATTN_PANEL + (chunk ^ (row % LEAP_ATTN_SWIZZLE_ROWS)) * LEAP_ATTN_CHUNK +
         col % LEAP_ATTN_CHUNK;
}
LEAP_ATTN_STATIC_ASSERT(LEAP_ATTN_PANEL / LEAP_ATTN_CHUNK == LEAP_ATTN_SWIZZLE_ROWS,
                        "a panel row is one 128-byte bank period of 8 chunks, permuted by the row's XOR");

/* ---- Mask bounds ---------------------------------------------------------------------------------------------- */
/* What query i may see is always a prefix of the keys, 0 .. visible - 1 (attention.h: causal bottom-right aligned,
 * keys from key_len on hidden), and the prefix never shrinks as i grows. Every bound below rests on that. */

/* Keys a batch exposes: key_len clamped to 0..Tk (pass Tk when there is no key_len). */
static inline LEAP_ATTN_HD int64_t leap__attn_key_limit(int64_t key_len, int64_t Tk) {
  return key_len < 0 ? 0 : (key_len > Tk ? Tk : key_len);
}

/* Keys query i sees; 0 for a row outside 0..Tq-1 (the padding rows of a partial tile). */
static inline LEAP_ATTN_HD int64_t leap__attn_visible(bool causal, int64_t Tq, int64_t Tk, int64_t klim, int64_t i) {
  if (i < 0 || i >= Tq) return 0;
  if (!causal) return klim;
  int64_t n = i + (Tk - Tq) + 1;
  return n < 0 ? 0 : (n > klim ? klim : n);
}

/* Key tiles of size bk that query rows i0 .. i0 + bq - 1 need: enough to cover what their last real row sees. */
static inline LEAP_ATTN_HD int64_t leap__attn_key_tiles(bool causal, int64_t Tq, int64_t Tk, int64_t klim, int64_t i0,
                                                        int64_t bq, int64_t bk) {
  int64_t last = i0 + bq - 1 < Tq - 1 ? i0 + bq - 1 : Tq - 1;
  return (leap__attn_visible(causal, Tq, Tk, klim, last) + bk - 1) / bk;
}

/* Whether every query row i0 .. i0 + bq - 1 exists and sees every key j0 .. j0 + bk - 1, so that the tile needs no
 * mask. The first row sees the least, so it decides. */
static inline LEAP_ATTN_HD bool leap__attn_tile_full(bool causal, int64_t Tq, int64_t Tk, int64_t klim, int64_t i0,
                                                     int64_t bq, int64_t j0, int64_t bk) {
  return i0 + bq <= Tq && j0 + bk <= leap__attn_visible(causal, Tq, Tk, klim, i0);
}

/* Query tiles of size bq over Tq rows. */
static inline LEAP_ATTN_HD int64_t leap__attn_query_tiles(int64_t Tq, int64_t bq) { return (Tq + bq - 1) / bq; }

/* The first query tile (size bq) with a row that sees key j0, the first key of a key block; query_tiles(Tq, bq)
 * when no row sees it (then no row sees any later key either). Every later tile has such rows too. */
static inline LEAP_ATTN_HD int64_t leap__attn_first_query_tile(bool causal, int64_t Tq, int64_t Tk, int64_t klim,
                                                               int64_t j0, int64_t bq) {
  int64_t none = leap__attn_query_tiles(Tq, bq);
  if (j0 >= klim) return none;
  if (!causal) return 0;
  int64_t i = j0 - (Tk - Tq);
  if (i < 0) i = 0;
  return i >= Tq ? none : i / bq;
}

/* ---- The generic kernels' element ownership ------------------------------------------------------------------- */

/* Head element of chunk c on the thread `sub` (0 .. GEN_TPR - 1) of a row. */
static inline LEAP_ATTN_HD int leap__attn_gen_dim(int sub, int c) { return sub + LEAP_ATTN_GEN_TPR * c; }

#endif
