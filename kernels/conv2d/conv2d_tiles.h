/* The index arithmetic of the implicit-GEMM convolution kernels (conv2d_cuda.cu), as small functions that C and
 * CUDA share: the kernels call them, and tests/kernels/conv2d/test_conv2d_tiles.c runs the very same functions on
 * the CPU (block tile by block tile, k-slice by k-slice, lane by lane) against leap_conv2d_*_cpu, emulating
 * ldmatrix and mma.sync from the PTX ISA's documented layouts. Nothing here touches memory.
 *
 * GEMM view (NHWC input (N,H,W,C), weight (K,R,S,C), output (N,P,Q,K)); C (M,Ng) = A (M,Kg) x B (Kg,Ng):
 *
 *   pass             M          Ng         Kg         A(m,kk)                       B(kk,n)
 *   forward          N*P*Q      K          R*S*C      im2col(inp)[m][kk]            weight[n][kk]
 *   backward-data    N*H*W      C          R*S*K      dout at the pixel that reads  weight[k][r][s][n]
 *                                                     input pixel m through (r,s)   with kk = (r,s,k)
 *   backward-filter  K          R*S*C      N*P*Q      dout[kk][m]                   im2col(inp)[kk][n]
 *
 * Every C matrix is row-major and contiguous: element (row, col) sits at row * Ng + col of out, dinp or dweight.
 *
 * Decoding. An operand element is found in two halves, so that a kernel decodes each half only as often as it
 * changes: leap_conv_decode_row(pass, op, index) for the operand's row (A: m, B: n), which a loader thread keeps for
 * the whole reduction, and leap_conv_decode_k(pass, op, kk) for the reduction index, which changes every k-slice;
 * leap_conv_offset() joins them into the element's offset in its tensor, or -1 when the element is zero (padding,
 * a backward-data tap that no output pixel reads with this stride, or an index past the operand's extent).
 * Backward-data handles the stride by predicated gathers: input pixel (h,w) and tap (r,s) read output pixel
 * p = (h + pad_h - r) / stride_h when that division is exact and p is in range (likewise q), and zero otherwise.
 *
 * Shared-memory tiles. Each operand's block tile (BM or BN rows by BK reduction indices) is stored in one of two
 * layouts, whichever keeps a 16-byte global chunk (8 bf16 or 4 floats) contiguous:
 *   K-major  (stored row = operand row, BK elements long): forward A and B, backward-data A; ldmatrix plain;
 *   MN-major (stored row = reduction index, BM or BN long): backward-data B, backward-filter A and B;
 *            ldmatrix .trans.
 * A stored row holds cpr 16-byte chunks. Chunk c of stored row r is placed at chunk leap_conv_swizzle(r, c, cpr): an
 * XOR with bits of the row, chosen so that the 8 rows one ldmatrix phase reads (8 consecutive stored rows, one
 * chunk column) and the 8 chunks a quarter-warp stores fall in 8 different 16-byte bank groups of a 128-byte line.
 *
 * Loading. Thread tid fills `slots` chunks of each tile: chunk i = tid + slot * LEAP_CONV_THREADS, stored row
 * i / cpr, chunk column i % cpr (the same column for all its slots, because LEAP_CONV_THREADS is a multiple of cpr).
 * On the vector path a chunk is one 16-byte cp.async whose source is contiguous (C and K multiples of the chunk
 * length, checked by leap_conv_vector_ok); otherwise each element is gathered on its own (the first layer, C = 3).
 *
 * Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"; g = lane / 4, t = lane % 4):
 *   A 16x16 bf16, 4 registers of 2:  reg j, half h holds A[g + 8 (j & 1)][2t + h + 8 (j >> 1)]
 *   B 16x8 bf16, 2 registers of 2:   reg j, half h holds B[2t + h + 8 j][g]
 *   C 16x8 f32, 4 registers:         element e holds C[g + 8 (e >> 1)][2t + (e & 1)]
 * ldmatrix.x4 loads four 8x8 b16 matrices, matrix q from the 8 row addresses of lanes 8q .. 8q+7; lane l receives
 * row l/4, columns 2(l%4) and 2(l%4)+1 of each (.trans: column l/4, rows 2(l%4) and 2(l%4)+1).
 * leap_conv_ldsm_a/_b give the stored (row, column) each lane passes so that the four registers come back as the
 * A fragment a0..a3, or as the B fragments b0, b1 of two adjacent n8 tiles. */
#ifndef LEAP_KERNELS_CONV2D_CONV2D_TILES_H
#define LEAP_KERNELS_CONV2D_CONV2D_TILES_H

#include <stdbool.h>
#include <stdint.h>

/* __host__ __device__ constexpr under nvcc (so that templates can use the layout functions as constants), plain
 * static inline in C. The bodies keep to what both C11 and C++17 constexpr accept. The CPU emulator of tests/emu/
 * (LEAP_CUDA_EMU) compiles the kernels as host C++ and needs the constexpr form too. */
#if defined(__CUDACC__) || defined(LEAP_CUDA_EMU)
#define LEAP_CONV_FN static __host__ __device__ __forceinline__ constexpr
#define LEAP_CONV_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define LEAP_CONV_FN static inline
#define LEAP_CONV_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Block tile: BM x BN outputs per block of LEAP_CONV_WARPS_M x LEAP_CONV_WARPS_N warps, each computing a
 * LEAP_CONV_WM x LEAP_CONV_WN warp tile as LEAP_CONV_MI x LEAP_CONV_NI mma tiles of 16x8. */
#define LEAP_CONV_BM 128
#define LEAP_CONV_BN 64
#define LEAP_CONV_WARPS_M 2
#define LEAP_CONV_WARPS_N 2
#define LEAP_CONV_WARP_SIZE 32
#define LEAP_CONV_THREADS (LEAP_CONV_WARPS_M * LEAP_CONV_WARPS_N * LEAP_CONV_WARP_SIZE)
#define LEAP_CONV_WM (LEAP_CONV_BM / LEAP_CONV_WARPS_M)
#define LEAP_CONV_WN (LEAP_CONV_BN / LEAP_CONV_WARPS_N)
#define LEAP_CONV_MMA_M 16
#define LEAP_CONV_MMA_N 8
#define LEAP_CONV_MMA_K 16
#define LEAP_CONV_MI (LEAP_CONV_WM / LEAP_CONV_MMA_M)
#define LEAP_CONV_NI (LEAP_CONV_WN / LEAP_CONV_MMA_N)
/* Reduction depth of one shared-memory stage: bf16 tiles (tensor cores) and fp32 tiles (the FMA path of the fp32
 * mode), both 16-byte chunks of LEAP_CONV_CHUNK_BYTES / element size elements; LEAP_CONV_STAGES stages in flight. */
#define LEAP_CONV_BK_BF16 32
#define LEAP_CONV_BK_F32 16
#define LEAP_CONV_CHUNK_BYTES 16
#define LEAP_CONV_CH_BF16 (LEAP_CONV_CHUNK_BYTES / 2)
#define LEAP_CONV_CH_F32 (LEAP_CONV_CHUNK_BYTES / 4)
#define LEAP_CONV_STAGES 3
/* 16-byte bank groups in one 128-byte line of shared memory (32 banks of 4 bytes). */
#define LEAP_CONV_BANK_GROUPS 8
/* Backward-filter reduction slices (split-K over the N*P*Q pixels): slice lengths are multiples of
 * LEAP_CONV_SLICE_ALIGN (a multiple of both BKs, so a slice is whole k-tiles in either precision), at least
 * LEAP_CONV_SLICE_MIN long; enough slices that about LEAP_CONV_TARGET_BLOCKS blocks run (two waves of a 132-SM
 * H100, fixed so that the split, and so the result's bits, depend on the shape only), at most
 * LEAP_CONV_MAX_SPLITS of them and LEAP_CONV_MAX_PARTIAL_FLOATS floats of partial products. */
#define LEAP_CONV_SLICE_ALIGN 32
#define LEAP_CONV_SLICE_MIN 256
#define LEAP_CONV_TARGET_BLOCKS 264
#define LEAP_CONV_MAX_SPLITS 64
#define LEAP_CONV_MAX_PARTIAL_FLOATS ((int64_t)1 << 24)

LEAP_CONV_STATIC_ASSERT(LEAP_CONV_WM % LEAP_CONV_MMA_M == 0 && LEAP_CONV_WN % (2 * LEAP_CONV_MMA_N) == 0,
                        "warp tiles are whole mma tiles, and B fragments are loaded for pairs of n8 tiles");
LEAP_CONV_STATIC_ASSERT(LEAP_CONV_BK_BF16 % LEAP_CONV_MMA_K == 0, "a bf16 stage is whole k16 mma steps");
LEAP_CONV_STATIC_ASSERT(LEAP_CONV_SLICE_ALIGN % LEAP_CONV_BK_BF16 == 0 && LEAP_CONV_SLICE_ALIGN % LEAP_CONV_BK_F32 == 0,
                        "reduction slices are whole stages in both precisions");
LEAP_CONV_STATIC_ASSERT(LEAP_CONV_SLICE_MIN % LEAP_CONV_SLICE_ALIGN == 0, "the shortest slice is aligned");
LEAP_CONV_STATIC_ASSERT((LEAP_CONV_BM * LEAP_CONV_BK_BF16 / LEAP_CONV_CH_BF16) % LEAP_CONV_THREADS == 0 &&
                            (LEAP_CONV_BN * LEAP_CONV_BK_BF16 / LEAP_CONV_CH_BF16) % LEAP_CONV_THREADS == 0 &&
                            (LEAP_CONV_BM * LEAP_CONV_BK_F32 / LEAP_CONV_CH_F32) % LEAP_CONV_THREADS == 0 &&
                            (LEAP_CONV_BN * LEAP_CONV_BK_F32 / LEAP_CONV_CH_F32) % LEAP_CONV_THREADS == 0,
                        "every thread loads the same number of chunks of each tile");
LEAP_CONV_STATIC_ASSERT(LEAP_CONV_THREADS % (LEAP_CONV_BM / LEAP_CONV_CH_F32) == 0 &&
                            LEAP_CONV_THREADS % (LEAP_CONV_BM / LEAP_CONV_CH_BF16) == 0 &&
                            LEAP_CONV_THREADS % (LEAP_CONV_BK_BF16 / LEAP_CONV_CH_BF16) == 0 &&
                            LEAP_CONV_THREADS % (LEAP_CONV_BK_F32 / LEAP_CONV_CH_F32) == 0,
                        "a thread's chunks share one chunk column (threads are a multiple of chunks per row)");
LEAP_CONV_STATIC_ASSERT(LEAP_CONV_BK_BF16 * LEAP_CONV_CH_F32 == LEAP_CONV_BK_F32 * LEAP_CONV_CH_BF16,
                        "bf16 and fp32 stages take the same bytes of shared memory");

enum { LEAP_CONV_FWD = 0, LEAP_CONV_DGRAD = 1, LEAP_CONV_WGRAD = 2 };
enum { LEAP_CONV_A = 0, LEAP_CONV_B = 1 };

/* The convolution's sizes in 32-bit integers (the launcher checks that every GEMM size and extent fits). */
typedef struct leap_conv_geom {
  int32_t N, H, W, C, K, R, S, sh, sw, ph, pw, P, Q;
} leap_conv_geom;

/* One decoded index: lin is the index itself, or -1 when it is past its extent (the element is zero); i0..i2 its
 * parts (a pixel or a kernel tap, see the decode functions). */
typedef struct leap_conv_ix {
  int32_t i0, i1, i2, lin;
} leap_conv_ix;

LEAP_CONV_FN int32_t leap_conv_gemm_m(const leap_conv_geom *g, int pass) {
  return pass == LEAP_CONV_FWD ? g->N * g->P * g->Q : pass == LEAP_CONV_DGRAD ? g->N * g->H * g->W : g->K;
}
LEAP_CONV_FN int32_t leap_conv_gemm_n(const leap_conv_geom *g, int pass) {
  return pass == LEAP_CONV_FWD ? g->K : pass == LEAP_CONV_DGRAD ? g->C : g->R * g->S * g->C;
}
LEAP_CONV_FN int32_t leap_conv_gemm_k(const leap_conv_geom *g, int pass) {
  return pass == LEAP_CONV_FWD ? g->R * g->S * g->C : pass == LEAP_CONV_DGRAD ? g->R * g->S * g->K
                                                                              : g->N * g->P * g->Q;
}

/* Output pixel m = (n,p,q) -> (n, p*sh - ph, q*sw - pw): its image and the top-left input pixel of its field. */
LEAP_CONV_FN leap_conv_ix leap_conv_out_pixel(const leap_conv_geom *g, int32_t m, int32_t extent) {
  leap_conv_ix x = {0, 0, 0, -1};
  if (m < 0 || m >= extent) return x;
  int32_t q = m % g->Q, t = m / g->Q;
  x.i0 = t / g->P;
  x.i1 = (t % g->P) * g->sh - g->ph;
  x.i2 = q * g->sw - g->pw;
  x.lin = m;
  return x;
}

/* Input pixel m = (n,h,w) -> (n, h + ph, w + pw): its image and its position in the padded input. */
LEAP_CONV_FN leap_conv_ix leap_conv_in_pixel(const leap_conv_geom *g, int32_t m, int32_t extent) {
  leap_conv_ix x = {0, 0, 0, -1};
  if (m < 0 || m >= extent) return x;
  int32_t w = m % g->W, t = m / g->W;
  x.i0 = t / g->H;
  x.i1 = t % g->H + g->ph;
  x.i2 = w + g->pw;
  x.lin = m;
  return x;
}

/* Tap index j = (r,s,x) with x in [0, inner) -> (r, s, x). */
LEAP_CONV_FN leap_conv_ix leap_conv_tap(const leap_conv_geom *g, int32_t j, int32_t inner, int32_t extent) {
  leap_conv_ix x = {0, 0, 0, -1};
  if (j < 0 || j >= extent) return x;
  int32_t u = j / inner;
  x.i0 = u / g->S;
  x.i1 = u % g->S;
  x.i2 = j % inner;
  x.lin = j;
  return x;
}

/* A plain index: only its range is checked. */
LEAP_CONV_FN leap_conv_ix leap_conv_plain(int32_t i, int32_t extent) {
  leap_conv_ix x = {0, 0, 0, -1};
  if (i >= 0 && i < extent) x.lin = i;
  return x;
}

/* The operand row (A: m, B: n) of a pass, decoded; extent is the GEMM's M (A) or Ng (B). */
LEAP_CONV_FN leap_conv_ix leap_conv_decode_row(const leap_conv_geom *g, int pass, int op, int32_t i, int32_t extent) {
  if (pass == LEAP_CONV_FWD)
    return op == LEAP_CONV_A ? leap_conv_out_pixel(g, i, extent) : leap_conv_plain(i, extent);
  if (pass == LEAP_CONV_DGRAD)
    return op == LEAP_CONV_A ? leap_conv_in_pixel(g, i, extent) : leap_conv_plain(i, extent);
  return op == LEAP_CONV_A ? leap_conv_plain(i, extent) : leap_conv_tap(g, i, g->C, extent);
}

/* The reduction index kk of a pass, decoded; extent is where the block's reduction ends (Kg, or its slice's end). */
LEAP_CONV_FN leap_conv_ix leap_conv_decode_k(const leap_conv_geom *g, int pass, int op, int32_t kk, int32_t extent) {
  if (pass == LEAP_CONV_FWD)
    return op == LEAP_CONV_A ? leap_conv_tap(g, kk, g->C, extent) : leap_conv_plain(kk, extent);
  if (pass == LEAP_CONV_DGRAD) return leap_conv_tap(g, kk, g->K, extent);
  return op == LEAP_CONV_A ? leap_conv_plain(kk, extent) : leap_conv_out_pixel(g, kk, extent);
}

/* Offset in the input of im2col element (output pixel pix, tap (r,s,c)), or -1 in the padding. */
LEAP_CONV_FN int64_t leap_conv_im2col_offset(const leap_conv_geom *g, leap_conv_ix pix, leap_conv_ix tap) {
  int32_t y = pix.i1 + tap.i0, x = pix.i2 + tap.i1;
  if (y < 0 || y >= g->H || x < 0 || x >= g->W) return -1;
  return (((int64_t)pix.i0 * g->H + y) * g->W + x) * g->C + tap.i2;
}

/* Offset in dout of the element that input pixel pix receives through tap (r,s,k), or -1 when no output pixel
 * reads pix through (r,s) (outside the output, or between the stride's steps). */
LEAP_CONV_FN int64_t leap_conv_dgrad_offset(const leap_conv_geom *g, leap_conv_ix pix, leap_conv_ix tap) {
  int32_t y = pix.i1 - tap.i0, x = pix.i2 - tap.i1;
  if (y < 0 || x < 0 || y % g->sh != 0 || x % g->sw != 0) return -1;
  int32_t p = y / g->sh, q = x / g->sw;
  if (p >= g->P || q >= g->Q) return -1;
  return (((int64_t)pix.i0 * g->P + p) * g->Q + q) * g->K + tap.i2;
}

/* The element's offset in its operand's tensor (A: inp or dout; B: weight or inp), or -1 for a zero. */
LEAP_CONV_FN int64_t leap_conv_offset(const leap_conv_geom *g, int pass, int op, leap_conv_ix row, leap_conv_ix k) {
  if (row.lin < 0 || k.lin < 0) return -1;
  if (pass == LEAP_CONV_FWD)
    return op == LEAP_CONV_A ? leap_conv_im2col_offset(g, row, k)
                             : (int64_t)row.lin * (g->R * g->S * g->C) + k.lin;
  if (pass == LEAP_CONV_DGRAD)
    return op == LEAP_CONV_A ? leap_conv_dgrad_offset(g, row, k)
                             : (((int64_t)k.i2 * g->R + k.i0) * g->S + k.i1) * g->C + row.lin;
  return op == LEAP_CONV_A ? (int64_t)k.lin * g->K + row.lin : leap_conv_im2col_offset(g, k, row);
}

/* The offset of operand element (row, kk), decoding both halves. */
LEAP_CONV_FN int64_t leap_conv_element(const leap_conv_geom *g, int pass, int op, int32_t row, int32_t row_extent,
                                       int32_t kk, int32_t k_extent) {
  return leap_conv_offset(g, pass, op, leap_conv_decode_row(g, pass, op, row, row_extent),
                          leap_conv_decode_k(g, pass, op, kk, k_extent));
}

/* Whether every 16-byte chunk of ch elements a loader reads is contiguous in its tensor and lies wholly inside or
 * wholly outside the operand: the channel counts the chunks run along are multiples of ch. (The launcher also
 * checks that the tensors are 16-byte aligned.) */
LEAP_CONV_FN bool leap_conv_vector_ok(const leap_conv_geom *g, int pass, int ch) {
  if (pass == LEAP_CONV_FWD) return g->C % ch == 0;
  return g->C % ch == 0 && g->K % ch == 0;
}

/* Whether operand op of a pass is stored K-major (reduction-contiguous) in shared memory; otherwise MN-major. */
LEAP_CONV_FN bool leap_conv_kmajor(int pass, int op) {
  return pass == LEAP_CONV_FWD || (pass == LEAP_CONV_DGRAD && op == LEAP_CONV_A);
}

/* Rows of operand op's block tile (BM for A, BN for B). */
LEAP_CONV_FN int leap_conv_tile_rows(int op) { return op == LEAP_CONV_A ? LEAP_CONV_BM : LEAP_CONV_BN; }

/* 16-byte chunks per stored row of operand op's tile, for stages bk deep of ch-element chunks. */
LEAP_CONV_FN int leap_conv_cpr(int pass, int op, int bk, int ch) {
  return (leap_conv_kmajor(pass, op) ? bk : leap_conv_tile_rows(op)) / ch;
}

/* Stored rows of operand op's tile. */
LEAP_CONV_FN int leap_conv_stored_rows(int pass, int op, int bk) {
  return leap_conv_kmajor(pass, op) ? leap_conv_tile_rows(op) : bk;
}

/* Chunks each thread loads per stage of operand op's tile. */
LEAP_CONV_FN int leap_conv_slots(int op, int bk, int ch) {
  return leap_conv_tile_rows(op) * bk / ch / LEAP_CONV_THREADS;
}

/* The stored row and chunk column that slot `slot` of thread tid fills. */
LEAP_CONV_FN void leap_conv_slot(int tid, int slot, int cpr, int *srow, int *chunk) {
  int i = tid + slot * LEAP_CONV_THREADS;
  *srow = i / cpr;
  *chunk = i % cpr;
}

/* The operand element held at stored (srow, scol) of a tile whose first operand row is row0 and first reduction
 * index k0. */
LEAP_CONV_FN void leap_conv_stored_element(bool kmajor, int srow, int scol, int32_t row0, int32_t k0, int32_t *row,
                                           int32_t *kk) {
  *row = kmajor ? row0 + srow : row0 + scol;
  *kk = kmajor ? k0 + scol : k0 + srow;
}

/* The physical chunk of logical chunk `chunk` in stored row srow of a tile with cpr chunks per row (a power of 2).
 * Rows of 8 or more chunks XOR the chunk with the row's low 3 bits; shorter rows share a 128-byte line with their
 * neighbours, and XOR with the line's index instead, so 8 consecutive rows at one chunk column still land in 8
 * different bank groups. */
LEAP_CONV_FN int leap_conv_swizzle(int srow, int chunk, int cpr) {
  if (cpr >= LEAP_CONV_BANK_GROUPS) return chunk ^ (srow & (LEAP_CONV_BANK_GROUPS - 1));
  return chunk ^ ((srow / (LEAP_CONV_BANK_GROUPS / cpr)) & (cpr - 1));
}

/* Element offset, within its stage, of stored (srow, scol) of a tile with cpr chunks of ch elements per row. */
LEAP_CONV_FN int leap_conv_smem_index(int srow, int scol, int cpr, int ch) {
  return (srow * cpr + leap_conv_swizzle(srow, scol / ch, cpr)) * ch + scol % ch;
}

/* Where warp `warp` computes within the block tile. */
LEAP_CONV_FN void leap_conv_warp_origin(int warp, int *wm0, int *wn0) {
  *wm0 = (warp % LEAP_CONV_WARPS_M) * LEAP_CONV_WM;
  *wn0 = (warp / LEAP_CONV_WARPS_M) * LEAP_CONV_WN;
}

/* ldmatrix.x4 for the A fragment of tile rows [m0, m0+16) and reduction [k0, k0+16): the stored (row, column) of
 * the 16 bytes this lane addresses. Matrix q = lane / 8 is register q of the fragment: rows m0 + 8 (q & 1), reduction
 * k0 + 8 (q >> 1). K-major tiles are read as they are; MN-major ones (stored rows = reduction) with .trans. */
LEAP_CONV_FN void leap_conv_ldsm_a(int lane, bool kmajor, int m0, int k0, int *srow, int *scol) {
  int r8 = lane & 7, q = lane >> 3, mo = (q & 1) * 8, ko = (q >> 1) * 8;
  *srow = kmajor ? m0 + mo + r8 : k0 + ko + r8;
  *scol = kmajor ? k0 + ko : m0 + mo;
}

/* ldmatrix.x4 for the B fragments of the two n8 tiles at tile columns n0 and n0+8, reduction [k0, k0+16):
 * registers 0, 1 are b0, b1 of the first tile and 2, 3 those of the second. Matrix q covers columns n0 + 8 (q >> 1),
 * reduction k0 + 8 (q & 1). */
LEAP_CONV_FN void leap_conv_ldsm_b(int lane, bool kmajor, int n0, int k0, int *srow, int *scol) {
  int r8 = lane & 7, q = lane >> 3, ko = (q & 1) * 8, no = (q >> 1) * 8;
  *srow = kmajor ? n0 + no + r8 : k0 + ko + r8;
  *scol = kmajor ? k0 + ko : n0 + no;
}

/* mma.m16n8k16 fragments: the A (16x16) element in half h of register reg, the B (16x8) element (k, n), and the
 * C/D (16x8, f32) element e. */
LEAP_CONV_FN void leap_conv_frag_a(int lane, int reg, int h, int *row, int *col) {
  *row = (lane >> 2) + (reg & 1) * 8;
  *col = (lane & 3) * 2 + h + (reg >> 1) * 8;
}
LEAP_CONV_FN void leap_conv_frag_b(int lane, int reg, int h, int *k, int *n) {
  *k = (lane & 3) * 2 + h + reg * 8;
  *n = lane >> 2;
}
LEAP_CONV_FN void leap_conv_frag_c(int lane, int e, int *row, int *col) {
  *row = (lane >> 2) + (e >> 1) * 8;
  *col = (lane & 3) * 2 + (e & 1);
}

/* The backward-filter reduction split: *slice pixels per slice (a multiple of LEAP_CONV_SLICE_ALIGN) and the number
 * of slices, from the shape alone. */
LEAP_CONV_FN int32_t leap_conv_wgrad_splits(const leap_conv_geom *g, int32_t *slice) {
  int64_t kg = leap_conv_gemm_k(g, LEAP_CONV_WGRAD), kn = (int64_t)g->K * g->R * g->S * g->C;
  int64_t tiles = ((int64_t)g->K + LEAP_CONV_BM - 1) / LEAP_CONV_BM *
                  (((int64_t)g->R * g->S * g->C + LEAP_CONV_BN - 1) / LEAP_CONV_BN);
  int64_t splits = (LEAP_CONV_TARGET_BLOCKS + tiles - 1) / (tiles > 0 ? tiles : 1);
  int64_t by_len = (kg + LEAP_CONV_SLICE_MIN - 1) / LEAP_CONV_SLICE_MIN;
  int64_t by_floats = LEAP_CONV_MAX_PARTIAL_FLOATS / (kn > 0 ? kn : 1);
  if (splits > by_len) splits = by_len;
  if (splits > LEAP_CONV_MAX_SPLITS) splits = LEAP_CONV_MAX_SPLITS;
  if (splits > by_floats) splits = by_floats;
  if (splits < 1) splits = 1;
  int64_t len = (kg + splits - 1) / splits;
  len = (len + LEAP_CONV_SLICE_ALIGN - 1) / LEAP_CONV_SLICE_ALIGN * LEAP_CONV_SLICE_ALIGN;
  if (len < LEAP_CONV_SLICE_ALIGN) len = LEAP_CONV_SLICE_ALIGN;
  *slice = (int32_t)len;
  return (int32_t)((kg + len - 1) / len > 0 ? (kg + len - 1) / len : 1);
}

#endif
