/* The implicit-GEMM convolution's index arithmetic (kernels/conv2d/conv2d_tiles.h), proven on the CPU with the very
 * functions the CUDA kernels call:
 *
 * 1. Fragments: the header's mma.m16n8k16 A/B/C maps against a transcription of the PTX ISA's tables ("Matrix
 *    Fragments for mma.m16n8k16 with floating point type"), each covering its matrix exactly once; and a warp's
 *    MMA emulated from the header's maps (registers filled through them, multiplied the way the PTX ISA lays them
 *    out) against a plain product.
 * 2. ldmatrix: every operand layout the bf16 kernels use (K-major and MN-major, A and B, each pass), a tile filled
 *    through the swizzle, read back through the header's lane addresses and an emulation of ldmatrix.x4 (plain and
 *    .trans, as the PTX ISA describes them), must give exactly the mma fragments; each 8-lane phase of every
 *    ldmatrix and every quarter-warp of the loaders' 16-byte stores must hit 8 different bank groups.
 * 3. Swizzle: a bijection of every tile shape onto its stage.
 * 4. Passes: forward (with bias, with and without the fused ReLU), backward-data and backward-filter (split into
 *    slices where the shape asks for it) run on the CPU block tile by block tile, stage by stage, thread by thread,
 *    through the same loaders (slots, decoding, vector chunks or gathers), the same multiply (the tensor-core
 *    configuration through emulated ldmatrix + mma; the fp32 configuration through the FMA loop) and the same
 *    epilogue (fragment C map), against leap_conv2d_*_cpu, over a table of shapes: odd sizes, stride 2, 1x1, 7x7,
 *    C = 3, C and K multiples of 8 (vector path) and not (gather path), several tiles in each GEMM dimension. Tiles
 *    start as NaN so a read of anything the loaders did not write fails; every C element must be written exactly
 *    once per slice; a vector chunk must be contiguous in its tensor (checked element by element).
 * The emulation computes in fp32 (not bf16): what it proves is the indexing, which is the same in both. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_tiles.h"
#include "tests/common/leap_test.h"

#define WARPS (LEAP_CONV_THREADS / LEAP_CONV_WARP_SIZE)
#define LANES LEAP_CONV_WARP_SIZE

/* ---- the PTX ISA's tables, transcribed independently of the header ---------------------------------------------- */

/* Element i (0..7) of the A fragment: row groupID for i in {0,1,4,5}, else groupID + 8; column
 * threadID_in_group * 2 + (i & 1), plus 8 for i >= 4. */
static void doc_a(int lane, int i, int *row, int *col) {
  int group = lane >> 2, tig = lane % 4;
  *row = (i < 2 || (i >= 4 && i < 6)) ? group : group + 8;
  *col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
}

/* Element i (0..3) of the B fragment: row threadID_in_group * 2 + (i & 1), plus 8 for i >= 2; column groupID. */
static void doc_b(int lane, int i, int *row, int *col) {
  int group = lane >> 2, tig = lane % 4;
  *row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0);
  *col = group;
}

/* Element i (0..3) of the C/D fragment: row groupID for i < 2, else groupID + 8; column threadID_in_group * 2 +
 * (i & 1). */
static void doc_c(int lane, int i, int *row, int *col) {
  int group = lane >> 2, tig = lane % 4;
  *row = i < 2 ? group : group + 8;
  *col = tig * 2 + (i & 1);
}

/* ldmatrix.sync.aligned.m8n8.x4[.trans].b16: matrix q's row r starts at the address lane 8q + r gives (here an
 * element index into smem, rows of 8 elements). Without .trans lane l receives row l / 4, elements 2 (l % 4) and
 * 2 (l % 4) + 1 of each matrix; with .trans, element l / 4 of rows 2 (l % 4) and 2 (l % 4) + 1. */
/* Shared-memory reads outside their tile, counted rather than made (a wrong layout must fail, not crash). */
static int g_range_faults;

static float tile_at(const float *tile, int i, int n) {
  if (i >= 0 && i < n) return tile[i];
  g_range_faults++;
  return NAN;
}

static void emu_ldmatrix_x4(float out[LANES][4][2], const float *smem, int n, const int addr[LANES], bool trans) {
  for (int q = 0; q < 4; q++)
    for (int l = 0; l < LANES; l++)
      for (int h = 0; h < 2; h++)
        out[l][q][h] = trans ? tile_at(smem, addr[8 * q + 2 * (l % 4) + h] + l / 4, n)
                             : tile_at(smem, addr[8 * q + l / 4] + 2 * (l % 4) + h, n);
}

/* mma.m16n8k16 as the PTX ISA lays out its registers: a[l][i], b[l][i], c[l][i] the elements of lane l. */
static void emu_mma(float d[LANES][4], const float a[LANES][8], const float b[LANES][4], const float c[LANES][4]) {
  float A[16][16], B[16][8], D[16][8];
  for (int l = 0; l < LANES; l++) {
    int r, k;
    for (int i = 0; i < 8; i++) doc_a(l, i, &r, &k), A[r][k] = a[l][i];
    for (int i = 0; i < 4; i++) doc_b(l, i, &k, &r), B[k][r] = b[l][i];
    for (int i = 0; i < 4; i++) doc_c(l, i, &r, &k), D[r][k] = c[l][i];
  }
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < 8; n++)
      for (int k = 0; k < 16; k++) D[r][n] += A[r][k] * B[k][n];
  for (int l = 0; l < LANES; l++)
    for (int i = 0; i < 4; i++) {
      int r, n;
      doc_c(l, i, &r, &n);
      d[l][i] = D[r][n];
    }
}

/* ---- 1. fragments ----------------------------------------------------------------------------------------------- */

static void test_fragment_maps(void) {
  int seen_a[16][16] = {{0}}, seen_b[16][8] = {{0}}, seen_c[16][8] = {{0}}, bad = 0;
  for (int l = 0; l < LANES; l++) {
    for (int reg = 0; reg < 4; reg++)
      for (int h = 0; h < 2; h++) {
        int r, c, dr, dc;
        leap_conv_frag_a(l, reg, h, &r, &c);
        doc_a(l, 2 * reg + h, &dr, &dc);
        bad += r != dr || c != dc;
        if (r >= 0 && r < 16 && c >= 0 && c < 16) seen_a[r][c]++;
      }
    for (int reg = 0; reg < 2; reg++)
      for (int h = 0; h < 2; h++) {
        int k, n, dk, dn;
        leap_conv_frag_b(l, reg, h, &k, &n);
        doc_b(l, 2 * reg + h, &dk, &dn);
        bad += k != dk || n != dn;
        if (k >= 0 && k < 16 && n >= 0 && n < 8) seen_b[k][n]++;
      }
    for (int e = 0; e < 4; e++) {
      int r, c, dr, dc;
      leap_conv_frag_c(l, e, &r, &c);
      doc_c(l, e, &dr, &dc);
      bad += r != dr || c != dc;
      if (r >= 0 && r < 16 && c >= 0 && c < 8) seen_c[r][c]++;
    }
  }
  int uncovered = 0;
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) uncovered += seen_a[r][c] != 1 || (c < 8 && (seen_b[r][c] != 1 || seen_c[r][c] != 1));
  LEAP_TEST_ASSERT(bad == 0, "%d fragment elements differ from the PTX ISA's tables", bad);
  LEAP_TEST_ASSERT(uncovered == 0, "%d matrix elements are not held by exactly one lane", uncovered);
}

/* A warp's MMA with registers filled through the header's maps, against a plain product. */
static void test_warp_mma(void) {
  float A[16][16], B[16][8], C[16][8];
  leap_test_fill_uniform(&A[0][0], 256, -1.0f, 1.0f, 11);
  leap_test_fill_uniform(&B[0][0], 128, -1.0f, 1.0f, 12);
  leap_test_fill_uniform(&C[0][0], 128, -1.0f, 1.0f, 13);
  float a[LANES][8], b[LANES][4], c[LANES][4], d[LANES][4];
  for (int l = 0; l < LANES; l++) {
    int r, k;
    for (int reg = 0; reg < 4; reg++)
      for (int h = 0; h < 2; h++) leap_conv_frag_a(l, reg, h, &r, &k), a[l][2 * reg + h] = A[r][k];
    for (int reg = 0; reg < 2; reg++)
      for (int h = 0; h < 2; h++) leap_conv_frag_b(l, reg, h, &k, &r), b[l][2 * reg + h] = B[k][r];
    for (int e = 0; e < 4; e++) leap_conv_frag_c(l, e, &r, &k), c[l][e] = C[r][k];
  }
  emu_mma(d, a, b, c);
  float got[128], want[128];
  for (int l = 0; l < LANES; l++)
    for (int e = 0; e < 4; e++) {
      int r, n;
      leap_conv_frag_c(l, e, &r, &n);
      got[r * 8 + n] = d[l][e];
    }
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < 8; n++) {
      double s = C[r][n];
      for (int k = 0; k < 16; k++) s += (double)A[r][k] * B[k][n];
      want[r * 8 + n] = (float)s;
    }
  leap_test_allclose("warp mma from the header's fragments", got, want, 128, 1e-5, 1e-5);
}

/* ---- 2. ldmatrix, bank conflicts -------------------------------------------------------------------------------- */

/* Whether the 8 16-byte chunks at these element offsets (ch elements per chunk) fall in 8 different bank groups. */
static bool conflict_free(const int *offsets, int ch) {
  int used = 0;
  for (int i = 0; i < 8; i++) used |= 1 << (offsets[i] / ch % LEAP_CONV_BANK_GROUPS);
  return used == 0xff;
}

/* One bf16 operand layout: fill a stage through the swizzle with value(row, kk) = row * 1000 + kk, read each warp's
 * fragments through ldmatrix, compare with the fragment maps; check the bank groups of reads and stores. */
static void test_ldmatrix_layout(int pass, int op) {
  const int bk = LEAP_CONV_BK_BF16, ch = LEAP_CONV_CH_BF16;
  const bool kmajor = leap_conv_kmajor(pass, op);
  const int cpr = leap_conv_cpr(pass, op, bk, ch), rows = leap_conv_tile_rows(op);
  const int n = rows * bk;
  float *tile = malloc(sizeof(float) * n);
  for (int i = 0; i < n; i++) tile[i] = NAN;
  for (int srow = 0; srow < leap_conv_stored_rows(pass, op, bk); srow++)
    for (int scol = 0; scol < cpr * ch; scol++) {
      int32_t row, kk;
      leap_conv_stored_element(kmajor, srow, scol, 0, 0, &row, &kk);
      int i = leap_conv_smem_index(srow, scol, cpr, ch);
      if (i >= 0 && i < n) tile[i] = (float)(row * 1000 + kk);
      else g_range_faults++;
    }
  int wrong = 0, conflicts = 0, misaligned = 0;
  for (int warp = 0; warp < WARPS; warp++) {
    int wm0, wn0;
    leap_conv_warp_origin(warp, &wm0, &wn0);
    for (int ks = 0; ks < bk; ks += LEAP_CONV_MMA_K) {
      int frags = op == LEAP_CONV_A ? LEAP_CONV_MI : LEAP_CONV_NI / 2;
      for (int f = 0; f < frags; f++) {
        int addr[LANES];
        int base = op == LEAP_CONV_A ? wm0 + f * LEAP_CONV_MMA_M : wn0 + f * 2 * LEAP_CONV_MMA_N;
        for (int l = 0; l < LANES; l++) {
          int sr, sc;
          if (op == LEAP_CONV_A) leap_conv_ldsm_a(l, kmajor, base, ks, &sr, &sc);
          else leap_conv_ldsm_b(l, kmajor, base, ks, &sr, &sc);
          addr[l] = leap_conv_smem_index(sr, sc, cpr, ch);
          misaligned += addr[l] % ch != 0;
        }
        for (int q = 0; q < 4; q++) conflicts += !conflict_free(addr + 8 * q, ch);
        float out[LANES][4][2];
        emu_ldmatrix_x4(out, tile, n, addr, !kmajor);
        for (int l = 0; l < LANES; l++)
          for (int reg = 0; reg < 4; reg++)
            for (int h = 0; h < 2; h++) {
              int r, k;
              if (op == LEAP_CONV_A) {
                leap_conv_frag_a(l, reg, h, &r, &k);
                r += base;
              } else {
                leap_conv_frag_b(l, reg % 2, h, &k, &r);
                r += base + (reg / 2) * LEAP_CONV_MMA_N;
              }
              wrong += out[l][reg][h] != (float)(r * 1000 + ks + k);
            }
      }
    }
  }
  /* The loaders' stores: a quarter-warp's 8 chunks of one slot. */
  for (int slot = 0; slot < leap_conv_slots(op, bk, ch); slot++)
    for (int t0 = 0; t0 < LEAP_CONV_THREADS; t0 += 8) {
      int offs[8];
      for (int i = 0; i < 8; i++) {
        int srow, chunk;
        leap_conv_slot(t0 + i, slot, cpr, &srow, &chunk);
        offs[i] = leap_conv_smem_index(srow, chunk * ch, cpr, ch);
      }
      conflicts += !conflict_free(offs, ch);
    }
  LEAP_TEST_ASSERT(wrong == 0, "pass %d operand %d: %d fragment elements wrong after ldmatrix", pass, op, wrong);
  LEAP_TEST_ASSERT(misaligned == 0, "pass %d operand %d: %d ldmatrix rows not 16-byte aligned", pass, op, misaligned);
  LEAP_TEST_ASSERT(conflicts == 0, "pass %d operand %d: %d shared-memory phases with bank conflicts", pass, op,
                   conflicts);
  free(tile);
}

/* ---- 3. swizzle ------------------------------------------------------------------------------------------------- */

static void test_swizzle_bijection(void) {
  static const int cprs[] = {1, 2, 4, 8, 16, 32}, chs[] = {4, 8}, rowss[] = {8, 16, 32, 64, 128};
  for (size_t a = 0; a < sizeof cprs / sizeof *cprs; a++)
    for (size_t b = 0; b < sizeof chs / sizeof *chs; b++)
      for (size_t c = 0; c < sizeof rowss / sizeof *rowss; c++) {
        int cpr = cprs[a], ch = chs[b], rows = rowss[c], n = rows * cpr * ch, bad = 0;
        int *hits = calloc((size_t)n, sizeof *hits);
        for (int r = 0; r < rows; r++)
          for (int col = 0; col < cpr * ch; col++) {
            int i = leap_conv_smem_index(r, col, cpr, ch);
            if (i < 0 || i >= n) bad++;
            else hits[i]++;
            /* A chunk stays whole and in its own row: the swizzle only permutes chunks within a row. */
            bad += i / (cpr * ch) != r || i % ch != col % ch;
          }
        for (int i = 0; i < n; i++) bad += hits[i] != 1;
        LEAP_TEST_ASSERT(bad == 0, "swizzle of %d rows x %d chunks of %d is not a bijection (%d faults)", rows, cpr,
                         ch, bad);
        free(hits);
      }
}

/* ---- 4. the passes through the kernels' loops ------------------------------------------------------------------- */

typedef struct emu_cfg {
  const char *name;
  int bk, ch;
  bool mma; /* the tensor-core multiply (bf16 kernels) or the FMA loop (fp32 kernels) */
  bool vec; /* cp.async chunks or per-element gathers */
} emu_cfg;

/* What a pass reads and writes, in fp32. */
typedef struct emu_pass {
  int pass;
  const leap_conv_geom *g;
  const float *a, *b;  /* A's and B's tensors */
  int64_t a_n, b_n;    /* their elements */
  float *c;            /* out, dinp or dweight */
  const float *bias;   /* forward */
  bool relu;           /* forward */
} emu_pass;

typedef float emu_acc[LEAP_CONV_MI][LEAP_CONV_NI][4];

/* The rows a loader thread decodes once per block (conv_operand::init). */
static void emu_loader_rows(leap_conv_ix *rows, const emu_pass *e, const emu_cfg *cfg, int op, int tid, int32_t row0) {
  const bool kmajor = leap_conv_kmajor(e->pass, op);
  const int cpr = leap_conv_cpr(e->pass, op, cfg->bk, cfg->ch);
  const int32_t extent = op == LEAP_CONV_A ? leap_conv_gemm_m(e->g, e->pass) : leap_conv_gemm_n(e->g, e->pass);
  for (int s = 0; s < (kmajor ? leap_conv_slots(op, cfg->bk, cfg->ch) : 1); s++) {
    int srow, chunk;
    int32_t row, kk;
    leap_conv_slot(tid, s, cpr, &srow, &chunk);
    leap_conv_stored_element(kmajor, srow, chunk * cfg->ch, row0, 0, &row, &kk);
    rows[s] = leap_conv_decode_row(e->g, e->pass, op, row, extent);
  }
}

/* One thread's share of one stage (conv_operand::load); returns the number of vector chunks that were not
 * contiguous in their tensor. */
static int emu_load(float *tile, const emu_pass *e, const emu_cfg *cfg, int op, int tid, const leap_conv_ix *rows,
                    int32_t row0, int32_t k0, int32_t k_end) {
  const bool kmajor = leap_conv_kmajor(e->pass, op);
  const int cpr = leap_conv_cpr(e->pass, op, cfg->bk, cfg->ch);
  const int32_t extent = op == LEAP_CONV_A ? leap_conv_gemm_m(e->g, e->pass) : leap_conv_gemm_n(e->g, e->pass);
  const float *src = op == LEAP_CONV_A ? e->a : e->b;
  const int64_t src_n = op == LEAP_CONV_A ? e->a_n : e->b_n;
  const int tile_n = leap_conv_tile_rows(op) * cfg->bk;
  int faults = 0;
  for (int s = 0; s < leap_conv_slots(op, cfg->bk, cfg->ch); s++) {
    int srow, chunk;
    leap_conv_slot(tid, s, cpr, &srow, &chunk);
    int at = leap_conv_smem_index(srow, chunk * cfg->ch, cpr, cfg->ch);
    if (at < 0 || at + cfg->ch > tile_n) {
      faults++;
      continue;
    }
    float *dst = tile + at;
    if (cfg->vec) {
      int32_t row, kk;
      leap_conv_stored_element(kmajor, srow, chunk * cfg->ch, row0, k0, &row, &kk);
      int64_t off = leap_conv_offset(e->g, e->pass, op, rows[kmajor ? s : 0],
                                     leap_conv_decode_k(e->g, e->pass, op, kk, k_end));
      for (int i = 0; i < cfg->ch; i++) {
        /* What a cp.async of the chunk copies must be what a per-element gather would (checked before reading, so
         * that a wrong chunk fails the test instead of reading outside the tensor). */
        int32_t ri, ki;
        leap_conv_stored_element(kmajor, srow, chunk * cfg->ch + i, row0, k0, &ri, &ki);
        int64_t want = leap_conv_element(e->g, e->pass, op, ri, extent, ki, k_end);
        bool fault = off >= 0 ? want != off + i || off + i >= src_n : want != -1;
        faults += fault;
        dst[i] = fault ? NAN : off >= 0 ? src[off + i] : 0.0f;
      }
    } else {
      for (int i = 0; i < cfg->ch; i++) {
        int32_t row, kk;
        leap_conv_stored_element(kmajor, srow, chunk * cfg->ch + i, row0, k0, &row, &kk);
        leap_conv_ix rd = kmajor ? rows[s] : leap_conv_decode_row(e->g, e->pass, op, row, extent);
        int64_t off = leap_conv_offset(e->g, e->pass, op, rd, leap_conv_decode_k(e->g, e->pass, op, kk, k_end));
        /* An offset past the tensor would be a read out of bounds on the device. */
        faults += off >= src_n;
        dst[i] = off >= 0 && off < src_n ? src[off] : off >= 0 ? NAN : 0.0f;
      }
    }
  }
  return faults;
}

/* One warp's multiply of one stage on the tensor cores (conv_multiply for bf16), every lane at once. */
static void emu_multiply_mma(emu_acc acc[LANES], const float *As, const float *Bs, const emu_pass *e,
                             const emu_cfg *cfg, int wm0, int wn0) {
  const bool ka = leap_conv_kmajor(e->pass, LEAP_CONV_A), kb = leap_conv_kmajor(e->pass, LEAP_CONV_B);
  const int cpra = leap_conv_cpr(e->pass, LEAP_CONV_A, cfg->bk, cfg->ch);
  const int cprb = leap_conv_cpr(e->pass, LEAP_CONV_B, cfg->bk, cfg->ch);
  for (int ks = 0; ks < cfg->bk; ks += LEAP_CONV_MMA_K) {
    static float af[LEAP_CONV_MI][LANES][4][2], bq[LEAP_CONV_NI / 2][LANES][4][2];
    int addr[LANES];
    for (int mi = 0; mi < LEAP_CONV_MI; mi++) {
      for (int l = 0; l < LANES; l++) {
        int sr, sc;
        leap_conv_ldsm_a(l, ka, wm0 + mi * LEAP_CONV_MMA_M, ks, &sr, &sc);
        addr[l] = leap_conv_smem_index(sr, sc, cpra, cfg->ch);
      }
      emu_ldmatrix_x4(af[mi], As, LEAP_CONV_BM * cfg->bk, addr, !ka);
    }
    for (int nj = 0; nj < LEAP_CONV_NI / 2; nj++) {
      for (int l = 0; l < LANES; l++) {
        int sr, sc;
        leap_conv_ldsm_b(l, kb, wn0 + nj * 2 * LEAP_CONV_MMA_N, ks, &sr, &sc);
        addr[l] = leap_conv_smem_index(sr, sc, cprb, cfg->ch);
      }
      emu_ldmatrix_x4(bq[nj], Bs, LEAP_CONV_BN * cfg->bk, addr, !kb);
    }
    for (int mi = 0; mi < LEAP_CONV_MI; mi++)
      for (int ni = 0; ni < LEAP_CONV_NI; ni++) {
        float a[LANES][8], b[LANES][4], c[LANES][4], d[LANES][4];
        for (int l = 0; l < LANES; l++) {
          for (int reg = 0; reg < 4; reg++) a[l][2 * reg] = af[mi][l][reg][0], a[l][2 * reg + 1] = af[mi][l][reg][1];
          /* ldmatrix register 2 (ni % 2) + j is b_j of n8 tile ni. */
          for (int j = 0; j < 2; j++)
            b[l][2 * j] = bq[ni / 2][l][2 * (ni % 2) + j][0], b[l][2 * j + 1] = bq[ni / 2][l][2 * (ni % 2) + j][1];
          for (int i = 0; i < 4; i++) c[l][i] = acc[l][mi][ni][i];
        }
        emu_mma(d, a, b, c);
        for (int l = 0; l < LANES; l++)
          for (int i = 0; i < 4; i++) acc[l][mi][ni][i] = d[l][i];
      }
  }
}

/* One lane's multiply of one fp32 stage (conv_multiply for float). */
static void emu_multiply_fma(emu_acc acc, const float *As, const float *Bs, const emu_pass *e, const emu_cfg *cfg,
                             int lane, int wm0, int wn0) {
  const bool ka = leap_conv_kmajor(e->pass, LEAP_CONV_A), kb = leap_conv_kmajor(e->pass, LEAP_CONV_B);
  const int cpra = leap_conv_cpr(e->pass, LEAP_CONV_A, cfg->bk, cfg->ch);
  const int cprb = leap_conv_cpr(e->pass, LEAP_CONV_B, cfg->bk, cfg->ch);
  for (int kk = 0; kk < cfg->bk; kk++) {
    float a[LEAP_CONV_MI][2], b[LEAP_CONV_NI][2];
    for (int h = 0; h < 2; h++) {
      int r, c;
      leap_conv_frag_c(lane, 2 * h, &r, &c);
      for (int mi = 0; mi < LEAP_CONV_MI; mi++) {
        int row = wm0 + mi * LEAP_CONV_MMA_M + r;
        int i = ka ? leap_conv_smem_index(row, kk, cpra, cfg->ch) : leap_conv_smem_index(kk, row, cpra, cfg->ch);
        a[mi][h] = tile_at(As, i, LEAP_CONV_BM * cfg->bk);
      }
      leap_conv_frag_c(lane, h, &r, &c);
      for (int ni = 0; ni < LEAP_CONV_NI; ni++) {
        int col = wn0 + ni * LEAP_CONV_MMA_N + c;
        int i = kb ? leap_conv_smem_index(col, kk, cprb, cfg->ch) : leap_conv_smem_index(kk, col, cprb, cfg->ch);
        b[ni][h] = tile_at(Bs, i, LEAP_CONV_BN * cfg->bk);
      }
    }
    for (int mi = 0; mi < LEAP_CONV_MI; mi++)
      for (int ni = 0; ni < LEAP_CONV_NI; ni++)
        for (int q = 0; q < 4; q++) acc[mi][ni][q] = fmaf(a[mi][q >> 1], b[ni][q & 1], acc[mi][ni][q]);
  }
}

/* One lane's epilogue (conv_epilogue): partial, when not NULL, receives backward-filter's slice z plane. */
static void emu_epilogue(const emu_pass *e, emu_acc acc, int lane, int32_t m0, int32_t n0, float *partial, int z,
                         int *writes) {
  const int32_t M = leap_conv_gemm_m(e->g, e->pass), N = leap_conv_gemm_n(e->g, e->pass);
  for (int mi = 0; mi < LEAP_CONV_MI; mi++)
    for (int ni = 0; ni < LEAP_CONV_NI; ni++)
      for (int q = 0; q < 4; q++) {
        int r, c;
        leap_conv_frag_c(lane, q, &r, &c);
        int32_t row = m0 + mi * LEAP_CONV_MMA_M + r, col = n0 + ni * LEAP_CONV_MMA_N + c;
        if (row >= M || col >= N) continue;
        size_t i = (size_t)row * (size_t)N + (size_t)col;
        float v = acc[mi][ni][q];
        writes[i]++;
        if (e->pass == LEAP_CONV_FWD) {
          if (e->bias) v += e->bias[col];
          if (e->relu) v = v < 0.0f ? 0.0f : v;
          e->c[i] = v;
        } else if (partial) {
          partial[(size_t)z * M * N + i] = v;
        } else {
          e->c[i] += v;
        }
      }
}

/* The whole pass; returns the number of faults found on the way (non-contiguous vector chunks, C elements not
 * written exactly once per slice). */
static int emu_run(const emu_pass *e, const emu_cfg *cfg) {
  const int32_t M = leap_conv_gemm_m(e->g, e->pass), N = leap_conv_gemm_n(e->g, e->pass);
  const int32_t Kg = leap_conv_gemm_k(e->g, e->pass);
  int32_t slice = Kg, splits = 1;
  if (e->pass == LEAP_CONV_WGRAD) splits = leap_conv_wgrad_splits(e->g, &slice);
  const int a_elems = LEAP_CONV_BM * cfg->bk, b_elems = LEAP_CONV_BN * cfg->bk;
  float *As = malloc(sizeof(float) * a_elems), *Bs = malloc(sizeof(float) * b_elems);
  float *partial = splits > 1 ? malloc(sizeof(float) * (size_t)splits * M * N) : NULL;
  int *writes = calloc((size_t)M * N + 1, sizeof *writes);
  static emu_acc acc[LEAP_CONV_THREADS];
  static leap_conv_ix rows_a[LEAP_CONV_THREADS][16], rows_b[LEAP_CONV_THREADS][16];
  int faults = 0;
  for (int32_t z = 0; z < splits; z++) {
    memset(writes, 0, sizeof *writes * ((size_t)M * N + 1));
    const int32_t kbeg = z * slice, kend = Kg - kbeg < slice ? Kg : kbeg + slice;
    const int ntiles = kend > kbeg ? (kend - kbeg + cfg->bk - 1) / cfg->bk : 0;
    for (int32_t m0 = 0; m0 < M; m0 += LEAP_CONV_BM)
      for (int32_t n0 = 0; n0 < N; n0 += LEAP_CONV_BN) {
        memset(acc, 0, sizeof acc);
        for (int tid = 0; tid < LEAP_CONV_THREADS; tid++) {
          emu_loader_rows(rows_a[tid], e, cfg, LEAP_CONV_A, tid, m0);
          emu_loader_rows(rows_b[tid], e, cfg, LEAP_CONV_B, tid, n0);
        }
        for (int t = 0; t < ntiles; t++) {
          for (int i = 0; i < a_elems; i++) As[i] = NAN;
          for (int i = 0; i < b_elems; i++) Bs[i] = NAN;
          int32_t k0 = kbeg + t * cfg->bk;
          for (int tid = 0; tid < LEAP_CONV_THREADS; tid++) {
            faults += emu_load(As, e, cfg, LEAP_CONV_A, tid, rows_a[tid], m0, k0, kend);
            faults += emu_load(Bs, e, cfg, LEAP_CONV_B, tid, rows_b[tid], n0, k0, kend);
          }
          for (int w = 0; w < WARPS; w++) {
            int wm0, wn0;
            leap_conv_warp_origin(w, &wm0, &wn0);
            if (cfg->mma) emu_multiply_mma(acc + w * LANES, As, Bs, e, cfg, wm0, wn0);
            else
              for (int l = 0; l < LANES; l++) emu_multiply_fma(acc[w * LANES + l], As, Bs, e, cfg, l, wm0, wn0);
          }
        }
        for (int w = 0; w < WARPS; w++) {
          int wm0, wn0;
          leap_conv_warp_origin(w, &wm0, &wn0);
          for (int l = 0; l < LANES; l++)
            emu_epilogue(e, acc[w * LANES + l], l, m0 + wm0, n0 + wn0, partial, z, writes);
        }
      }
    for (int64_t i = 0; i < (int64_t)M * N; i++) faults += writes[i] != 1;
  }
  if (partial) {
    /* leap_conv_sum_splits_kernel: the slices in order. */
    for (int64_t i = 0; i < (int64_t)M * N; i++) {
      float s = 0.0f;
      for (int32_t z = 0; z < splits; z++) s += partial[(size_t)z * M * N + i];
      e->c[i] += s;
    }
  }
  free(As), free(Bs), free(partial), free(writes);
  return faults;
}

typedef struct conv_case {
  const char *name;
  int64_t N, H, W, C, K, R, S, sh, sw, ph, pw;
} conv_case;

static const conv_case CASES[] = {
    {"3x3 pad 1 C3", 2, 13, 11, 3, 17, 3, 3, 1, 1, 1, 1},
    {"7x7 stride 2 pad 3 C3", 1, 23, 19, 3, 20, 7, 7, 2, 2, 3, 3},
    {"1x1 C16 K24", 2, 7, 9, 16, 24, 1, 1, 1, 1, 0, 0},
    {"1x1 stride 2", 2, 9, 7, 21, 13, 1, 1, 2, 2, 0, 0},
    {"3x3 stride 2 C16 K72", 2, 15, 17, 16, 72, 3, 3, 2, 2, 1, 1},
    {"5x5 pad 2", 1, 9, 11, 5, 67, 5, 5, 1, 1, 2, 2},
    {"3x5 stride (2,1) pad (0,2)", 2, 8, 7, 3, 5, 3, 5, 2, 1, 0, 2},
    {"2x2 stride 3", 2, 8, 8, 3, 4, 2, 2, 3, 3, 0, 0},
    {"3x3 pad 2 (beyond kernel)", 1, 4, 5, 2, 3, 3, 3, 1, 1, 2, 2},
    {"3x3 C8 K8, backward-filter in slices", 2, 20, 20, 8, 8, 3, 3, 1, 1, 1, 1},
    {"3x3 C24 K136 (tiles in every dim)", 1, 6, 7, 24, 136, 3, 3, 1, 1, 1, 1},
    {"4x4 stride 2 C8 K16", 2, 9, 10, 8, 16, 4, 4, 2, 2, 1, 1},
    {"7x7 stride 2 C8 K8", 1, 17, 15, 8, 8, 7, 7, 2, 2, 3, 3},
    {"C8 K13 (vector forward only)", 2, 11, 10, 8, 13, 3, 3, 1, 1, 1, 1},
    {"3x3 C16 K16, 8 images (long reduction)", 8, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1},
};

static const emu_cfg CONFIGS[] = {
    {"bf16 tensor cores, cp.async chunks", LEAP_CONV_BK_BF16, LEAP_CONV_CH_BF16, true, true},
    {"bf16 tensor cores, gathers", LEAP_CONV_BK_BF16, LEAP_CONV_CH_BF16, true, false},
    {"fp32 FMA, cp.async chunks", LEAP_CONV_BK_F32, LEAP_CONV_CH_F32, false, true},
    {"fp32 FMA, gathers", LEAP_CONV_BK_F32, LEAP_CONV_CH_F32, false, false},
};

static float *random_floats(int64_t n, float lo, float hi, uint64_t seed) {
  float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  leap_test_fill_uniform(x, n, lo, hi, seed);
  return x;
}

static float *copy_floats(const float *x, int64_t n) {
  float *y = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  memcpy(y, x, sizeof(float) * (size_t)n);
  return y;
}

static void check_case(const conv_case *c, const emu_cfg *cfg, uint64_t seed) {
  leap_conv2d_shape s;
  leap_conv2d_shape_init(&s, c->N, c->H, c->W, c->C, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw);
  const leap_conv_geom g = {(int32_t)s.N, (int32_t)s.H, (int32_t)s.W, (int32_t)s.C, (int32_t)s.K,
                            (int32_t)s.R, (int32_t)s.S, (int32_t)s.stride_h, (int32_t)s.stride_w,
                            (int32_t)s.pad_h, (int32_t)s.pad_w, (int32_t)s.P, (int32_t)s.Q};
  /* The launcher takes the vector path pass by pass, where leap_conv_vector_ok allows it. */
  bool run[3];
  for (int pass = LEAP_CONV_FWD; pass <= LEAP_CONV_WGRAD; pass++)
    run[pass] = !cfg->vec || leap_conv_vector_ok(&g, pass, cfg->ch);
  if (!run[LEAP_CONV_FWD] && !run[LEAP_CONV_DGRAD] && !run[LEAP_CONV_WGRAD]) return;
  const int64_t n_inp = s.N * s.H * s.W * s.C, n_w = s.K * s.R * s.S * s.C, n_out = s.N * s.P * s.Q * s.K;
  float *inp = random_floats(n_inp, -1.0f, 1.0f, seed), *w = random_floats(n_w, -0.5f, 0.5f, seed + 1);
  float *bias = random_floats(s.K, -1.0f, 1.0f, seed + 2), *dout = random_floats(n_out, -1.0f, 1.0f, seed + 3);
  float *dinp0 = random_floats(n_inp, -1.0f, 1.0f, seed + 4), *dw0 = random_floats(n_w, -1.0f, 1.0f, seed + 5);
  float *ws = malloc(sizeof(float) * leap_conv2d_workspace_floats(&s, leap_kernels_threads()));
  float *want = malloc(sizeof(float) * (size_t)n_out), *got = malloc(sizeof(float) * (size_t)n_out);
  char what[256];
  int faults;

  for (int relu = 0; relu < 2 && run[LEAP_CONV_FWD]; relu++) {
    leap_conv2d_forward_cpu(want, inp, w, bias, &s, ws);
    if (relu)
      for (int64_t i = 0; i < n_out; i++) want[i] = want[i] < 0.0f ? 0.0f : want[i];
    leap_test_poison(got, n_out);
    emu_pass e = {LEAP_CONV_FWD, &g, inp, w, n_inp, n_w, got, bias, relu != 0};
    faults = emu_run(&e, cfg);
    snprintf(what, sizeof what, "%s [%s]: forward%s", c->name, cfg->name, relu ? " + relu" : "");
    LEAP_TEST_ASSERT(faults == 0, "%s: %d index faults", what, faults);
    leap_test_allclose(what, got, want, n_out, 1e-4, 1e-4);
  }

  float *dinp_want = copy_floats(dinp0, n_inp), *dinp_got = copy_floats(dinp0, n_inp);
  if (run[LEAP_CONV_DGRAD]) {
    leap_conv2d_backward_cpu(dinp_want, NULL, NULL, dout, inp, w, &s, ws);
    emu_pass ed = {LEAP_CONV_DGRAD, &g, dout, w, n_out, n_w, dinp_got, NULL, false};
    faults = emu_run(&ed, cfg);
    snprintf(what, sizeof what, "%s [%s]: backward-data", c->name, cfg->name);
    LEAP_TEST_ASSERT(faults == 0, "%s: %d index faults", what, faults);
    leap_test_allclose(what, dinp_got, dinp_want, n_inp, 1e-4, 1e-4);
  }

  float *dw_want = copy_floats(dw0, n_w), *dw_got = copy_floats(dw0, n_w);
  if (run[LEAP_CONV_WGRAD]) {
    leap_conv2d_backward_cpu(NULL, dw_want, NULL, dout, inp, w, &s, ws);
    emu_pass ew = {LEAP_CONV_WGRAD, &g, dout, inp, n_out, n_inp, dw_got, NULL, false};
    faults = emu_run(&ew, cfg);
    snprintf(what, sizeof what, "%s [%s]: backward-filter", c->name, cfg->name);
    LEAP_TEST_ASSERT(faults == 0, "%s: %d index faults", what, faults);
    leap_test_allclose(what, dw_got, dw_want, n_w, 1e-3, 1e-4);
  }

  free(inp), free(w), free(bias), free(dout), free(dinp0), free(dw0), free(ws), free(want), free(got);
  free(dinp_want), free(dinp_got), free(dw_want), free(dw_got);
}

/* The split is what the workspace is sized for: slices are aligned, cover the reduction, and none is empty. */
static void test_wgrad_splits(void) {
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    const conv_case *c = &CASES[i];
    leap_conv2d_shape s;
    leap_conv2d_shape_init(&s, c->N, c->H, c->W, c->C, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw);
    leap_conv_geom g = {(int32_t)s.N, (int32_t)s.H, (int32_t)s.W, (int32_t)s.C, (int32_t)s.K,
                        (int32_t)s.R, (int32_t)s.S, (int32_t)s.stride_h, (int32_t)s.stride_w,
                        (int32_t)s.pad_h, (int32_t)s.pad_w, (int32_t)s.P, (int32_t)s.Q};
    int32_t slice, splits = leap_conv_wgrad_splits(&g, &slice), kg = leap_conv_gemm_k(&g, LEAP_CONV_WGRAD);
    LEAP_TEST_ASSERT(splits >= 1 && splits <= LEAP_CONV_MAX_SPLITS && slice % LEAP_CONV_SLICE_ALIGN == 0 &&
                         (int64_t)splits * slice >= kg && (int64_t)(splits - 1) * slice < kg,
                     "%s: %d slices of %d for %d pixels", c->name, splits, slice, kg);
  }
}

int main(void) {
  test_fragment_maps();
  test_warp_mma();
  for (int pass = LEAP_CONV_FWD; pass <= LEAP_CONV_WGRAD; pass++)
    for (int op = LEAP_CONV_A; op <= LEAP_CONV_B; op++) test_ldmatrix_layout(pass, op);
  test_swizzle_bijection();
  test_wgrad_splits();
  int vector_cases = 0;
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
    for (size_t k = 0; k < sizeof CONFIGS / sizeof *CONFIGS; k++) {
      check_case(&CASES[i], &CONFIGS[k], 100 + 10 * i);
      leap_conv2d_shape s;
      leap_conv2d_shape_init(&s, CASES[i].N, CASES[i].H, CASES[i].W, CASES[i].C, CASES[i].K, CASES[i].R, CASES[i].S,
                             CASES[i].sh, CASES[i].sw, CASES[i].ph, CASES[i].pw);
      vector_cases += CONFIGS[k].vec && s.C % CONFIGS[k].ch == 0;
    }
  LEAP_TEST_ASSERT(vector_cases >= 8, "only %d case/configuration pairs take the vector path", vector_cases);
  LEAP_TEST_ASSERT(g_range_faults == 0, "%d shared-memory accesses outside their tile", g_range_faults);
  return leap_test_finish();
}
