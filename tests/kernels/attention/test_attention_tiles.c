/* Host-side proof of the flash-attention kernels' index arithmetic (kernels/attention/attention_tiles.h), which the
 * CUDA kernels use unchanged; runs on any machine.
 *
 * 1. Fragments. The PTX ISA's layouts of mma.sync m16n8k16 (A row, B col, C/D) and of ldmatrix (.x4, with and
 *    without .trans) are written out here as a model of the hardware, independently of the header. On it, one
 *    warp's products are emulated exactly as the kernels issue them: tiles stored with the header's swizzle,
 *    fragments loaded by ldmatrix from the header's row addresses, probabilities moved from C to A fragments by
 *    the header's mapping, results read back through the header's C layout. Every product shape the kernels use
 *    (S = Q K^T, O = P V in the forward; S^T = K Q^T, dV += P^T dO, dQ += dS K in the backward) must equal a plain
 *    matrix product. The header's fragment functions are also compared with the model's tables entry by entry.
 * 2. Tiling. The forward and both backward kernels are emulated on the CPU in fp32 with the same tile constants,
 *    block bounds (key tiles per query tile, the first query tile of a key block), full-tile test, zero-filled
 *    rows past the loaded range, base-2 online softmax and update order, and compared with the CPU reference
 *    (leap_attention_*_cpu) for odd T, causal and not, cross-attention both ways, key_len (a batch with no keys).
 *    A full tile that holds a hidden (query, key) pair fails the test on its own.
 * 3. Swizzle. A bijection onto the tile, chunks kept contiguous, conflict-free for every ldmatrix phase and every
 *    cp.async phase the kernels issue, and equal to Hopper's 128-byte swizzle on 1024-byte aligned tiles. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_tiles.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

#define WARP 32

/* ---- 1. The hardware model (PTX ISA) ------------------------------------------------------------------------- */

/* mma.m16n8k16 .bf16 fragments, from the PTX ISA tables ("Matrix Fragments for mma.m16n8k16 with floating point
 * type"), with groupID = lane >> 2 and threadID_in_group = lane % 4:
 *   A: row = groupID for a0, a1, a4, a5 and groupID + 8 for a2, a3, a6, a7;
 *      col = threadID_in_group * 2 + (i & 1), plus 8 for a4 .. a7.
 *   B: row = threadID_in_group * 2 + (i & 1), plus 8 for b2, b3; col = groupID.
 *   C: row = groupID for c0, c1 and groupID + 8 for c2, c3; col = threadID_in_group * 2 + (i & 1). */
static int ptx_a_row(int lane, int i) { return (lane >> 2) + ((i == 2 || i == 3 || i == 6 || i == 7) ? 8 : 0); }
static int ptx_a_col(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0); }
static int ptx_b_row(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0); }
static int ptx_b_col(int lane, int i) { return lane >> 2; }
static int ptx_c_row(int lane, int i) { return (lane >> 2) + (i >= 2 ? 8 : 0); }
static int ptx_c_col(int lane, int i) { return (lane % 4) * 2 + (i & 1); }

/* One warp's registers: up to 4 registers of 2 bf16 (kept as floats), per lane. */
typedef struct frag {
  float x[WARP][4][2];
} frag;

/* ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lanes 8m .. 8m + 7 give the addresses (element offsets into
 * sm) of the 8 rows of matrix m, each row 8 contiguous elements; register m of lane L receives, without .trans,
 * row L / 4, elements 2 (L % 4) and 2 (L % 4) + 1 of matrix m, and with .trans the elements (2 (L % 4), L / 4) and
 * (2 (L % 4) + 1, L / 4), i.e. row L / 4 of the transposed matrix. */
static void ptx_ldmatrix(frag *f, const float *sm, const int *addr, bool trans) {
  for (int lane = 0; lane < WARP; lane++)
    for (int m = 0; m < 4; m++)
      for (int h = 0; h < 2; h++) {
        int row = trans ? 2 * (lane % 4) + h : lane / 4, col = trans ? lane / 4 : 2 * (lane % 4) + h;
        f->x[lane][m][h] = sm[addr[8 * m + row] + col];
      }
}

/* d (16x8, C layout in c[lane][e]) += A (16x16, registers a[0..3]) B (16x8, registers b0, b1). */
static void ptx_mma(float c[WARP][4], const frag *a, int a_reg0, const frag *b, int b_reg0, int b_reg1) {
  float A[16][16], Bm[16][8];
  for (int lane = 0; lane < WARP; lane++) {
    for (int i = 0; i < 8; i++) A[ptx_a_row(lane, i)][ptx_a_col(lane, i)] = a->x[lane][a_reg0 + i / 2][i % 2];
    for (int i = 0; i < 4; i++) Bm[ptx_b_row(lane, i)][ptx_b_col(lane, i)] = b->x[lane][i < 2 ? b_reg0 : b_reg1][i % 2];
  }
  for (int lane = 0; lane < WARP; lane++)
    for (int e = 0; e < 4; e++) {
      double acc = c[lane][e];
      for (int k = 0; k < 16; k++) acc += (double)A[ptx_c_row(lane, e)][k] * Bm[k][ptx_c_col(lane, e)];
      c[lane][e] = (float)acc;
    }
}

/* The header's fragment functions are the model's tables. */
static void check_fragment_tables(void) {
  int bad = 0;
  for (int lane = 0; lane < WARP; lane++) {
    for (int i = 0; i < 8; i++)
      bad += leap__attn_a_row(lane, i) != ptx_a_row(lane, i) || leap__attn_a_col(lane, i) != ptx_a_col(lane, i);
    for (int i = 0; i < 4; i++) {
      bad += leap__attn_b_k(lane, i) != ptx_b_row(lane, i) || leap__attn_b_n(lane, i) != ptx_b_col(lane, i);
      bad += leap__attn_c_row(lane, i) != ptx_c_row(lane, i) || leap__attn_c_col(lane, i) != ptx_c_col(lane, i);
    }
  }
  LEAP_TEST_ASSERT(bad == 0, "%d fragment table entries differ from the PTX ISA's", bad);
  /* The C -> A reuse: A element i of k-step kk is C element (row, col) of the score tile it claims to be. */
  bad = 0;
  for (int kk = 0; kk < 4; kk++)
    for (int lane = 0; lane < WARP; lane++)
      for (int i = 0; i < 8; i++) {
        int r = i / 2, nt = leap__attn_c2a_ntile(kk, r), e = leap__attn_c2a_elem(r) + (i & 1);
        bad += ptx_a_row(lane, i) != ptx_c_row(lane, e) || 16 * kk + ptx_a_col(lane, i) != 8 * nt + ptx_c_col(lane, e);
      }
  LEAP_TEST_ASSERT(bad == 0, "%d probabilities land in the wrong A fragment element", bad);
}

/* A rows x D tile stored with the header's swizzle. */
static float *swizzled(const float *m, int rows, int D) {
  float *sm = malloc(sizeof(float) * (size_t)rows * (size_t)D);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < D; c++) sm[leap__attn_swizzle(r, c, rows)] = m[r * D + c];
  return sm;
}

/* acc (16 x NB as NB/8 C fragments) = A[arow0 .. +15] B^T over D, as rows_dot_mma / scores_mma do it: A fragments
 * by ldmatrix (A order), B fragments by ldmatrix (B order), two MMAs per pair of n-tiles. */
static void emulate_rows_dot(float acc[][WARP][4], int NB, const float *As, int arows, int arow0, const float *Bs,
                             int brows, int D) {
  for (int nt = 0; nt < NB / 8; nt++) memset(acc[nt], 0, sizeof acc[nt]);
  for (int ks = 0; ks < D / 16; ks++) {
    frag a, b;
    int addr[WARP];
    for (int l = 0; l < WARP; l++)
      addr[l] = leap__attn_swizzle(arow0 + leap__attn_ldsm_a_row(l), ks * 16 + leap__attn_ldsm_a_col(l), arows);
    ptx_ldmatrix(&a, As, addr, false);
    for (int np = 0; np < NB / 16; np++) {
      for (int l = 0; l < WARP; l++)
        addr[l] = leap__attn_swizzle(np * 16 + leap__attn_ldsm_b_row(l), ks * 16 + leap__attn_ldsm_b_col(l), brows);
      ptx_ldmatrix(&b, Bs, addr, false);
      ptx_mma(acc[2 * np], &a, 0, &b, 0, 1);
      ptx_mma(acc[2 * np + 1], &a, 0, &b, 2, 3);
    }
  }
}

/* out (16 x D as D/8 C fragments) += P Bs, P the accumulators p (16 x NK) moved into A fragments by the header's
 * C -> A mapping, Bs (NK x D, brows rows) by ldmatrix.trans (A order), as accumulate_mma / output_mma do it. */
static void emulate_accumulate(float out[][WARP][4], int D, float p[][WARP][4], int NK, const float *Bs, int brows) {
  for (int kk = 0; kk < NK / 16; kk++) {
    frag a, b;
    for (int l = 0; l < WARP; l++)
      for (int r = 0; r < 4; r++)
        for (int h = 0; h < 2; h++)
          a.x[l][r][h] = p[leap__attn_c2a_ntile(kk, r)][l][leap__attn_c2a_elem(r) + h];
    for (int dp = 0; dp < D / 16; dp++) {
      int addr[WARP];
      for (int l = 0; l < WARP; l++)
        addr[l] = leap__attn_swizzle(kk * 16 + leap__attn_ldsm_a_row(l), dp * 16 + leap__attn_ldsm_a_col(l), brows);
      ptx_ldmatrix(&b, Bs, addr, true);
      ptx_mma(out[2 * dp], &a, 0, &b, 0, 1);
      ptx_mma(out[2 * dp + 1], &a, 0, &b, 2, 3);
    }
  }
}

/* Fragments (16 x 8n) back into a dense 16 x 8n matrix through the header's C layout. */
static void gather(float *m, int n8, float f[][WARP][4]) {
  for (int nt = 0; nt < n8; nt++)
    for (int l = 0; l < WARP; l++)
      for (int e = 0; e < 4; e++) m[leap__attn_c_row(l, e) * 8 * n8 + nt * 8 + leap__attn_c_col(l, e)] = f[nt][l][e];
}

/* One warp (rows arow0 ..) of the product A B^T (A: arows x D, B: brows x D, NB = brows), then (A B^T) C with
 * C: NB x D: the shapes of S = Q K^T, O = P V (and S^T = K Q^T, dV += P^T dO; dQ += dS K). */
static void check_warp_products(int D, int arows, int brows, int arow0, uint64_t seed) {
  const int NB = brows;
  float *A = malloc(sizeof(float) * (size_t)arows * D), *Bm = malloc(sizeof(float) * (size_t)brows * D);
  float *C = malloc(sizeof(float) * (size_t)brows * D);
  leap_test_fill_uniform(A, arows * D, -1, 1, seed);
  leap_test_fill_uniform(Bm, brows * D, -1, 1, seed + 1);
  leap_test_fill_uniform(C, brows * D, -1, 1, seed + 2);
  float *As = swizzled(A, arows, D), *Bs = swizzled(Bm, brows, D), *Cs = swizzled(C, brows, D);
  float(*acc)[WARP][4] = calloc((size_t)NB / 8, sizeof *acc);
  float(*out)[WARP][4] = calloc((size_t)D / 8, sizeof *out);
  emulate_rows_dot(acc, NB, As, arows, arow0, Bs, brows, D);
  emulate_accumulate(out, D, acc, NB, Cs, brows);
  float *got = malloc(sizeof(float) * 16 * (size_t)(NB > D ? NB : D)), *want = malloc(sizeof(float) * 16 * (size_t)NB);
  float *want2 = malloc(sizeof(float) * 16 * (size_t)D);
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < NB; n++) {
      double x = 0;
      for (int d = 0; d < D; d++) x += (double)A[(arow0 + r) * D + d] * Bm[n * D + d];
      want[r * NB + n] = (float)x;
    }
  for (int r = 0; r < 16; r++)
    for (int d = 0; d < D; d++) {
      double x = 0;
      for (int n = 0; n < NB; n++) x += (double)want[r * NB + n] * C[n * D + d];
      want2[r * D + d] = (float)x;
    }
  char what[128];
  gather(got, NB / 8, acc);
  snprintf(what, sizeof what, "warp rows %d.. of A B^T, D %d, %d x %d tiles", arow0, D, arows, brows);
  leap_test_allclose(what, got, want, 16 * NB, 1e-5, 1e-5);
  gather(got, D / 8, out);
  snprintf(what, sizeof what, "warp rows %d.. of (A B^T) C, D %d, %d x %d tiles", arow0, D, arows, brows);
  leap_test_allclose(what, got, want2, 16 * D, 1e-4, 1e-5);
  free(A), free(Bm), free(C), free(As), free(Bs), free(Cs), free(acc), free(out), free(got), free(want), free(want2);
}

static void check_fragments(void) {
  check_fragment_tables();
  const int Ds[2] = {64, 128};
  for (int di = 0; di < 2; di++) {
    int D = Ds[di];
    for (int w = 0; w < LEAP_ATTN_FWD_WARPS; w++) /* forward: S = Q K^T, O = P V */
      check_warp_products(D, LEAP_ATTN_FWD_BQ, LEAP_ATTN_FWD_BK, 16 * w, 10 + (uint64_t)w);
    for (int w = 0; w < LEAP_ATTN_DKV_WARPS; w++) /* dK/dV: S^T = K Q^T, dV += P^T dO, dK += dS^T Q */
      check_warp_products(D, LEAP_ATTN_DKV_BK, LEAP_ATTN_DKV_BQ, 16 * w, 20 + (uint64_t)w);
    for (int w = 0; w < LEAP_ATTN_DQ_WARPS; w++) /* dQ: S = Q K^T, dP = dO V^T, dQ += dS K */
      check_warp_products(D, LEAP_ATTN_DQ_BQ, LEAP_ATTN_DQ_BK, 16 * w, 30 + (uint64_t)w);
  }
}

/* ---- 2. The tiling, emulated on the CPU ------------------------------------------------------------------------ */

typedef struct shape_case {
  const char *name;
  int64_t B, H, Tq, Tk, D;
  bool causal;
  int32_t key_len[2]; /* {-1}: none */
} shape_case;

static const shape_case SHAPES[] = {
    {"self causal T1", 1, 1, 1, 1, 8, true, {-1}},
    {"self causal T17", 2, 1, 17, 17, 8, true, {-1}},
    {"self full T130", 1, 2, 130, 130, 12, false, {-1}},
    {"self causal T200", 1, 1, 200, 200, 8, true, {-1}},
    {"self causal T129 key_len", 2, 1, 129, 129, 8, true, {100, 0}},
    {"cross causal 70x197 (key tiles past the diagonal)", 1, 1, 70, 197, 8, true, {-1}},
    {"cross causal 197x70 (rows that see nothing)", 1, 1, 197, 70, 8, true, {-1}},
    {"cross full 33x150 key_len", 2, 1, 33, 150, 8, false, {150, 65}},
    {"cross causal 65x140 key_len", 2, 1, 65, 140, 8, true, {64, 139}},
    {"self full T64 key_len 63/1", 2, 1, 64, 64, 8, false, {63, 1}},
};

typedef struct tiles {
  int64_t fwd_bq, fwd_bk, dq_bq, dq_bk, dkv_bk, dkv_bq;
  const char *name;
} tiles;

/* The mma kernels' tiles and the generic kernels' (whose dK/dV blocks own GEN_BQ keys and walk GEN_BK queries). */
static const tiles TILES[] = {
    {LEAP_ATTN_FWD_BQ, LEAP_ATTN_FWD_BK, LEAP_ATTN_DQ_BQ, LEAP_ATTN_DQ_BK, LEAP_ATTN_DKV_BK, LEAP_ATTN_DKV_BQ, "mma"},
    {LEAP_ATTN_GEN_BQ, LEAP_ATTN_GEN_BK, LEAP_ATTN_GEN_BQ, LEAP_ATTN_GEN_BK, LEAP_ATTN_GEN_BQ, LEAP_ATTN_GEN_BK,
     "generic"},
};

typedef struct problem {
  leap_attention_shape s;
  float *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv, *Dvec;
  int32_t *key_len;
  int64_t hidden_in_full; /* (query, key) pairs a full tile claimed visible but the mask hides */
} problem;

static int64_t klim_of(const problem *p, int64_t b) {
  return leap__attn_key_limit(p->key_len ? p->key_len[b] : p->s.Tk, p->s.Tk);
}
static const float *row_of(const float *x, const problem *p, int64_t b, int64_t T, int64_t t, int64_t h) {
  return x + (b * T + t) * p->s.H * p->s.D + h * p->s.D;
}
static float dotf(const float *a, const float *b, int64_t n) {
  float s = 0.0f;
  for (int64_t d = 0; d < n; d++) s += a[d] * b[d];
  return s;
}

/* Whether (i, j) may be used in a tile: everywhere when the tile is full (checked against the mask, counted in
 * hidden_in_full when wrong), else by the mask. Rows past the loaded range were zero-filled, so a full tile that
 * reaches them makes the result wrong rather than crash. */
static bool seen(problem *p, bool full, int64_t klim, int64_t i, int64_t j) {
  bool vis = j < leap__attn_visible(p->s.causal, p->s.Tq, p->s.Tk, klim, i);
  if (full && !vis) p->hidden_in_full++;
  return full || vis;
}

/* A key row as the kernel loaded it: zero past `loaded` keys. */
static void load_row(float *dst, const float *src, int64_t D, bool loaded) {
  for (int64_t d = 0; d < D; d++) dst[d] = loaded ? src[d] : 0.0f;
}

/* The forward kernels: per query tile, key tiles 0 .. key_tiles - 1, base-2 online softmax row by row. */
static void emulate_forward(problem *p, int64_t bq, int64_t bk) {
  const leap_attention_shape *s = &p->s;
  const float scale_log2 = s->scale * 1.4426950408889634f;
  float *kr = malloc(sizeof(float) * (size_t)s->D), *vr = malloc(sizeof(float) * (size_t)s->D);
  float *o = malloc(sizeof(float) * (size_t)s->D), *sc = malloc(sizeof(float) * (size_t)bk);
  for (int64_t b = 0; b < s->B; b++)
    for (int64_t h = 0; h < s->H; h++) {
      int64_t klim = klim_of(p, b);
      for (int64_t i0 = 0; i0 < s->Tq; i0 += bq) {
        int64_t ntiles = leap__attn_key_tiles(s->causal, s->Tq, s->Tk, klim, i0, bq, bk);
        int64_t last = i0 + bq - 1 < s->Tq - 1 ? i0 + bq - 1 : s->Tq - 1;
        int64_t nkeys = leap__attn_visible(s->causal, s->Tq, s->Tk, klim, last);
        for (int64_t i = i0; i < i0 + bq && i < s->Tq; i++) {
          const float *qi = row_of(p->q, p, b, s->Tq, i, h);
          float m = -INFINITY, l = 0.0f;
          for (int64_t d = 0; d < s->D; d++) o[d] = 0.0f;
          for (int64_t t = 0; t < ntiles; t++) {
            int64_t j0 = t * bk;
            bool full = leap__attn_tile_full(s->causal, s->Tq, s->Tk, klim, i0, bq, j0, bk);
            float mx = -INFINITY;
            for (int64_t jj = 0; jj < bk; jj++) {
              int64_t j = j0 + jj;
              load_row(kr, row_of(p->k, p, b, s->Tk, j < nkeys ? j : 0, h), s->D, j < nkeys);
              sc[jj] = seen(p, full, klim, i, j) ? dotf(qi, kr, s->D) * scale_log2 : -INFINITY;
              mx = fmaxf(mx, sc[jj]);
            }
            float m_new = fmaxf(m, mx), m_use = m_new == -INFINITY ? 0.0f : m_new, corr = exp2f(m - m_use);
            m = m_new;
            l *= corr;
            for (int64_t d = 0; d < s->D; d++) o[d] *= corr;
            for (int64_t jj = 0; jj < bk; jj++) {
              int64_t j = j0 + jj;
              float pr = exp2f(sc[jj] - m_use);
              l += pr;
              load_row(vr, row_of(p->v, p, b, s->Tk, j < nkeys ? j : 0, h), s->D, j < nkeys);
              for (int64_t d = 0; d < s->D; d++) o[d] += pr * vr[d];
            }
          }
          float *out = p->out + (b * s->Tq + i) * s->H * s->D + h * s->D;
          for (int64_t d = 0; d < s->D; d++) out[d] = l > 0.0f ? o[d] / l : 0.0f;
          p->lse[(b * s->H + h) * s->Tq + i] = l > 0.0f ? (m + log2f(l)) * 0.6931471805599453f : -INFINITY;
        }
      }
    }
  free(kr), free(vr), free(o), free(sc);
}

/* P and dS of (i, j) as the backward kernels recompute them (0 when hidden). */
static void probs(problem *p, bool full, int64_t klim, int64_t b, int64_t h, int64_t i, int64_t j, bool loaded,
                  float *P, float *dS) {
  const leap_attention_shape *s = &p->s;
  float *kr = malloc(sizeof(float) * (size_t)s->D), *vr = malloc(sizeof(float) * (size_t)s->D);
  load_row(kr, row_of(p->k, p, b, s->Tk, loaded ? j : 0, h), s->D, loaded);
  load_row(vr, row_of(p->v, p, b, s->Tk, loaded ? j : 0, h), s->D, loaded);
  const int64_t row = (b * s->H + h) * s->Tq + i;
  const float *qi = row_of(p->q, p, b, s->Tq, i, h), *gi = row_of(p->dout, p, b, s->Tq, i, h);
  bool ok = seen(p, full, klim, i, j);
  *P = ok ? exp2f(dotf(qi, kr, s->D) * s->scale * 1.4426950408889634f - p->lse[row] * 1.4426950408889634f) : 0.0f;
  *dS = *P * (dotf(gi, vr, s->D) - p->Dvec[row]);
  free(kr), free(vr);
}

/* The dQ kernels: per query tile, key tiles 0 .. key_tiles - 1. */
static void emulate_dq(problem *p, int64_t bq, int64_t bk) {
  const leap_attention_shape *s = &p->s;
  for (int64_t b = 0; b < s->B; b++)
    for (int64_t h = 0; h < s->H; h++) {
      int64_t klim = klim_of(p, b);
      for (int64_t i0 = 0; i0 < s->Tq; i0 += bq) {
        int64_t ntiles = leap__attn_key_tiles(s->causal, s->Tq, s->Tk, klim, i0, bq, bk);
        int64_t last = i0 + bq - 1 < s->Tq - 1 ? i0 + bq - 1 : s->Tq - 1;
        int64_t nkeys = leap__attn_visible(s->causal, s->Tq, s->Tk, klim, last);
        for (int64_t i = i0; i < i0 + bq && i < s->Tq; i++) {
          float *dq = p->dq + (b * s->Tq + i) * s->H * s->D + h * s->D;
          for (int64_t t = 0; t < ntiles; t++) {
            bool full = leap__attn_tile_full(s->causal, s->Tq, s->Tk, klim, i0, bq, t * bk, bk);
            for (int64_t j = t * bk; j < (t + 1) * bk; j++) {
              float P, dS;
              probs(p, full, klim, b, h, i, j, j < nkeys, &P, &dS);
              const float *kj = row_of(p->k, p, b, s->Tk, j < nkeys ? j : 0, h);
              for (int64_t d = 0; d < s->D; d++) dq[d] += s->scale * dS * (j < nkeys ? kj[d] : 0.0f);
            }
          }
        }
      }
    }
}

/* The dK/dV kernels: per key block, query tiles first_query_tile .. query_tiles - 1. */
static void emulate_dkv(problem *p, int64_t bk, int64_t bq) {
  const leap_attention_shape *s = &p->s;
  for (int64_t b = 0; b < s->B; b++)
    for (int64_t h = 0; h < s->H; h++) {
      int64_t klim = klim_of(p, b);
      for (int64_t j0 = 0; j0 < s->Tk; j0 += bk) {
        int64_t first = leap__attn_first_query_tile(s->causal, s->Tq, s->Tk, klim, j0, bq);
        for (int64_t j = j0; j < j0 + bk && j < klim; j++) {
          float *dk = p->dk + (b * s->Tk + j) * s->H * s->D + h * s->D;
          float *dv = p->dv + (b * s->Tk + j) * s->H * s->D + h * s->D;
          for (int64_t qt = first; qt < leap__attn_query_tiles(s->Tq, bq); qt++) {
            bool full = leap__attn_tile_full(s->causal, s->Tq, s->Tk, klim, qt * bq, bq, j0, bk);
            for (int64_t i = qt * bq; i < (qt + 1) * bq; i++) {
              if (i >= s->Tq) { /* a zero-filled row: the mask must hide it */
                p->hidden_in_full += full;
                continue;
              }
              float P, dS;
              probs(p, full, klim, b, h, i, j, true, &P, &dS);
              const float *qi = row_of(p->q, p, b, s->Tq, i, h), *gi = row_of(p->dout, p, b, s->Tq, i, h);
              for (int64_t d = 0; d < s->D; d++) dv[d] += P * gi[d], dk[d] += s->scale * dS * qi[d];
            }
          }
        }
      }
    }
}

static void check_tiling_case(const shape_case *c, const tiles *tl, uint64_t seed) {
  problem p;
  memset(&p, 0, sizeof p);
  leap_attention_shape s = {c->B, c->H, c->Tq, c->Tk, c->D, 0, 0, 0, 0, c->causal, 1.0f / sqrtf((float)c->D)};
  s.ldq = s.ldk = s.ldv = s.ldo = c->H * c->D;
  p.s = s;
  int64_t nq = c->B * c->Tq * c->H * c->D, nk = c->B * c->Tk * c->H * c->D, nl = c->B * c->H * c->Tq;
  p.q = malloc(sizeof(float) * (size_t)nq), p.k = malloc(sizeof(float) * (size_t)nk);
  p.v = malloc(sizeof(float) * (size_t)nk), p.dout = malloc(sizeof(float) * (size_t)nq);
  leap_test_fill_normal(p.q, nq, 1.0f, seed), leap_test_fill_normal(p.k, nk, 1.0f, seed + 1);
  leap_test_fill_normal(p.v, nk, 1.0f, seed + 2), leap_test_fill_uniform(p.dout, nq, -1, 1, seed + 3);
  if (c->key_len[0] >= 0) {
    p.key_len = malloc(sizeof(int32_t) * (size_t)c->B);
    memcpy(p.key_len, c->key_len, sizeof(int32_t) * (size_t)c->B);
  }
  float *ws = malloc(sizeof(float) * leap_attention_workspace_floats(&s, leap_kernels_threads()));
  float *want_out = malloc(sizeof(float) * (size_t)nq), *want_lse = malloc(sizeof(float) * (size_t)nl);
  leap_attention_forward_cpu(want_out, want_lse, p.q, p.k, p.v, p.key_len, &s, ws);
  p.out = malloc(sizeof(float) * (size_t)nq), p.lse = malloc(sizeof(float) * (size_t)nl);
  emulate_forward(&p, tl->fwd_bq, tl->fwd_bk);
  char what[256];
  snprintf(what, sizeof what, "%s [%s tiles]: forward out", c->name, tl->name);
  leap_test_allclose(what, p.out, want_out, nq, 1e-5, 1e-4);
  snprintf(what, sizeof what, "%s [%s tiles]: forward lse", c->name, tl->name);
  leap_test_allclose(what, p.lse, want_lse, nl, 1e-5, 1e-4);
  int64_t inf_mismatch = 0;
  for (int64_t r = 0; r < nl; r++) inf_mismatch += isinf(p.lse[r]) != isinf(want_lse[r]);
  LEAP_TEST_ASSERT(inf_mismatch == 0, "%s: %lld rows differ in seeing no key", what, (long long)inf_mismatch);

  /* Backward on the CPU reference's out and lse; gradients start from random values (they accumulate). */
  float *g0 = malloc(sizeof(float) * (size_t)(nq + 2 * nk)), *want_g = malloc(sizeof(float) * (size_t)(nq + 2 * nk));
  leap_test_fill_uniform(g0, nq + 2 * nk, -1, 1, seed + 4);
  memcpy(want_g, g0, sizeof(float) * (size_t)(nq + 2 * nk));
  leap_attention_backward_cpu(want_g, want_g + nq, want_g + nq + nk, p.dout, p.q, p.k, p.v, want_out, want_lse,
                              p.key_len, &s, ws);
  memcpy(p.lse, want_lse, sizeof(float) * (size_t)nl);
  p.Dvec = malloc(sizeof(float) * (size_t)nl);
  for (int64_t b = 0; b < s.B; b++)
    for (int64_t h = 0; h < s.H; h++)
      for (int64_t i = 0; i < s.Tq; i++)
        p.Dvec[(b * s.H + h) * s.Tq + i] =
            dotf(row_of(p.dout, &p, b, s.Tq, i, h), row_of(want_out, &p, b, s.Tq, i, h), s.D);
  float *g = malloc(sizeof(float) * (size_t)(nq + 2 * nk));
  memcpy(g, g0, sizeof(float) * (size_t)(nq + 2 * nk));
  p.dq = g, p.dk = g + nq, p.dv = g + nq + nk;
  emulate_dq(&p, tl->dq_bq, tl->dq_bk);
  emulate_dkv(&p, tl->dkv_bk, tl->dkv_bq);
  snprintf(what, sizeof what, "%s [%s tiles]: backward dq, dk, dv accumulated", c->name, tl->name);
  leap_test_allclose(what, g, want_g, nq + 2 * nk, 1e-4, 1e-4);
  LEAP_TEST_ASSERT(p.hidden_in_full == 0, "%s [%s tiles]: %lld hidden pairs inside tiles called full", c->name,
                   tl->name, (long long)p.hidden_in_full);

  free(p.q), free(p.k), free(p.v), free(p.dout), free(p.key_len), free(ws), free(want_out), free(want_lse);
  free(p.out), free(p.lse), free(g0), free(want_g), free(p.Dvec), free(g);
}

/* The bounds against brute force: the key tiles a query tile visits cover exactly the keys its rows see, the
 * padding rows of a partial tile (and row -1) see nothing, and the first query tile of a key block is the first
 * with a row that sees the block's first key. */
static void check_bounds(void) {
  int64_t bad = 0;
  for (int causal = 0; causal < 2; causal++)
    for (int64_t Tq = 1; Tq <= 70; Tq += 3)
      for (int64_t Tk = 1; Tk <= 70; Tk += 5)
        for (int64_t klim = 0; klim <= Tk; klim += 7) {
          const int64_t bq = 16, bk = 8;
          for (int64_t i0 = 0; i0 < Tq; i0 += bq) {
            int64_t most = 0;
            for (int64_t i = i0; i < i0 + bq && i < Tq; i++) {
              int64_t v = leap__attn_visible(causal, Tq, Tk, klim, i);
              most = v > most ? v : most;
            }
            bad += leap__attn_key_tiles(causal, Tq, Tk, klim, i0, bq, bk) != (most + bk - 1) / bk;
          }
          for (int64_t i = Tq; i < Tq + bq; i++) bad += leap__attn_visible(causal, Tq, Tk, klim, i) != 0;
          bad += leap__attn_visible(causal, Tq, Tk, klim, -1) != 0;
          for (int64_t j0 = 0; j0 < Tk; j0 += bk) {
            int64_t first = leap__attn_query_tiles(Tq, bq);
            for (int64_t i = Tq - 1; i >= 0; i--)
              if (j0 < leap__attn_visible(causal, Tq, Tk, klim, i)) first = i / bq;
            bad += leap__attn_first_query_tile(causal, Tq, Tk, klim, j0, bq) != first;
          }
        }
  LEAP_TEST_ASSERT(bad == 0, "%lld tile bounds differ from brute force", (long long)bad);
}

/* ---- 3. The swizzle -------------------------------------------------------------------------------------------- */

/* 4-byte bank group of an element offset: banks 4g .. 4g + 3 hold the 16-byte chunk. */
static int bank_group(int offset) { return (offset * 2 / 16) % 8; }

static void check_swizzle(int rows, int D) {
  int n = rows * D, bad_map = 0, bad_ldsm = 0, bad_cp = 0, bad_hw = 0;
  int *hits = calloc((size_t)n, sizeof(int));
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < D; c++) {
      int off = leap__attn_swizzle(r, c, rows);
      if (off < 0 || off >= n) {
        bad_map++;
        continue;
      }
      hits[off]++;
      bad_map += off != leap__attn_swizzle(r, c / 8 * 8, rows) + c % 8; /* chunks stay contiguous */
      /* Hopper's 128-byte swizzle on a 1024-byte aligned tile: byte address bits 4-6 are the logical chunk within
       * the 128-byte row XOR bits 7-9. */
      int byte = off * 2;
      bad_hw += ((byte >> 4) & 7) != (((c % 64) / 8) ^ ((byte >> 7) & 7));
    }
  for (int i = 0; i < n; i++) bad_map += hits[i] != 1;
  /* Every 16x16 block that an ldmatrix.x4 reads, in both orders: each 8-lane phase hits 8 distinct bank groups. */
  for (int r0 = 0; r0 < rows; r0 += 16)
    for (int c0 = 0; c0 < D; c0 += 16)
      for (int order = 0; order < 2; order++)
        for (int phase = 0; phase < 4; phase++) {
          int seen_groups = 0;
          for (int l = 8 * phase; l < 8 * phase + 8; l++) {
            int r = r0 + (order ? leap__attn_ldsm_b_row(l) : leap__attn_ldsm_a_row(l));
            int c = c0 + (order ? leap__attn_ldsm_b_col(l) : leap__attn_ldsm_a_col(l));
            seen_groups |= 1 << bank_group(leap__attn_swizzle(r, c, rows));
          }
          bad_ldsm += seen_groups != 0xff;
        }
  /* leap__attn_load_tile: thread c copies chunk c % (D/8) of row c / (D/8); 8 consecutive threads form a phase. */
  for (int c = 0; c < rows * D / 8; c += 8) {
    int seen_groups = 0;
    for (int t = c; t < c + 8; t++)
      seen_groups |= 1 << bank_group(leap__attn_swizzle(t / (D / 8), t % (D / 8) * 8, rows));
    bad_cp += seen_groups != 0xff;
  }
  LEAP_TEST_ASSERT(bad_map == 0, "swizzle %dx%d: %d offsets not a bijection of contiguous chunks", rows, D, bad_map);
  LEAP_TEST_ASSERT(bad_ldsm == 0, "swizzle %dx%d: %d ldmatrix phases with bank conflicts", rows, D, bad_ldsm);
  LEAP_TEST_ASSERT(bad_cp == 0, "swizzle %dx%d: %d cp.async phases with bank conflicts", rows, D, bad_cp);
  LEAP_TEST_ASSERT(bad_hw == 0, "swizzle %dx%d: %d elements off Hopper's 128-byte swizzle", rows, D, bad_hw);
  free(hits);
}

int main(void) {
  check_fragments();
  check_bounds();
  for (size_t t = 0; t < sizeof TILES / sizeof *TILES; t++)
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) check_tiling_case(&SHAPES[i], &TILES[t], 500 + 10 * i);
  const int rows[3] = {LEAP_ATTN_DKV_BQ, LEAP_ATTN_FWD_BQ, LEAP_ATTN_FWD_BK};
  for (int r = 0; r < 3; r++) {
    check_swizzle(rows[r], 64);
    check_swizzle(rows[r], 128);
  }
  return leap_test_finish();
}
