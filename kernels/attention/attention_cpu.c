/* Fused multi-head attention on the CPU.
 *
 * Algorithm. Each (batch, head) pair is cut into blocks of ATTN_BLOCK_Q query rows. For a block, the scores
 * against every key the block's last row may see are computed at once by one sgemm (rows x nk, nk <= Tk), so the
 * softmax is exact and two-pass rather than online: the row maximum, then exp and its sum, then one sgemm
 * P V straight into out's rows, which are finally divided by the sums. Keys past what the last row sees are never
 * touched, which skips the hidden upper triangle of a causal mask block by block; inside the block, entries a row
 * may not see are set to zero probability.
 *
 * Backward recomputes P = exp(scale * Q K^T - lse) block by block and, with D_i = rowsum(dO * O) and
 * dS = P * (dO V^T - D_i), accumulates dV += P^T dO, dQ += scale * dS K and dK += scale * dS^T Q by sgemm.
 *
 * Threads. The forward's blocks are independent and are spread over threads. The backward's key gradients sum over
 * all query blocks of a (batch, head), so each pair belongs to one thread, which adds its blocks in order; the pairs
 * write disjoint slices of dq, dk and dv (they interleave in memory with a fused layout but never overlap). Every
 * result therefore has one summation order, whatever the thread count. Inside the parallel region OpenBLAS runs
 * single-threaded, which suits these small products.
 *
 * Workspace, per thread: two ATTN_BLOCK_Q x Tk score blocks (P, and dS in backward), of which forward uses the
 * first and, behind it, ATTN_BLOCK_Q reciprocal row sums. */
#include "kernels/attention/attention.h"

#include <math.h>
#include <string.h>

#include "kernels/blas/blas.h"
#include "kernels/common/kernel_common.h"

/* Query rows per block: large enough for efficient sgemm, small enough that the score block stays in L2 and the
 * wasted half of the causal diagonal block stays small. */
#define ATTN_BLOCK_Q 64
/* Independent accumulator lanes for row reductions; one AVX-512 register, and a fixed summation order. */
#define ATTN_LANES 16
/* Float workspace slices start on 64-byte boundaries so that threads never share a cache line. */
#define ATTN_ALIGN_FLOATS 16

typedef struct attn_ptrs {
  const float *q, *k, *v;
} attn_ptrs;

static int64_t block_rows(const leap_attention_shape *s) { return s->Tq < ATTN_BLOCK_Q ? s->Tq : ATTN_BLOCK_Q; }

static int64_t thread_floats(const leap_attention_shape *s) {
  int64_t n = 2 * block_rows(s) * s->Tk + block_rows(s);
  return (n + ATTN_ALIGN_FLOATS - 1) / ATTN_ALIGN_FLOATS * ATTN_ALIGN_FLOATS;
}

size_t leap_attention_workspace_floats(const leap_attention_shape *s, int threads) {
  return (size_t)(threads < 1 ? 1 : threads) * (size_t)thread_floats(s);
}

/* Keys batch b exposes at all: Tk, cut to key_len[b] when given. */
static int64_t key_limit(const leap_attention_shape *s, const int32_t *key_len, int64_t b) {
  if (!key_len) return s->Tk;
  int64_t n = key_len[b];
  return n < 0 ? 0 : (n > s->Tk ? s->Tk : n);
}

/* Number of leading keys query i sees (a prefix 0..n-1 under both masks). */
static int64_t visible_keys(const leap_attention_shape *s, int64_t klim, int64_t i) {
  if (!s->causal) return klim;
  int64_t n = i + (s->Tk - s->Tq) + 1;
  return n < 0 ? 0 : (n > klim ? klim : n);
}

/* exp(x) for x <= 0 with about 1e-7 relative error, written without branches so that loops over it vectorise
 * (glibc's expf does not without -ffast-math). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then Cephes'
 * degree-7 polynomial for exp(r) and 2^n built in the exponent bits. Inputs below -88 give exactly 0. */
static inline float fast_expf(float x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  x = x < -88.0f ? -88.0f : (x > 88.0f ? 88.0f : x);
  float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float two_n;
  memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

/* The largest of x[0..n-1]. A maximum does not depend on the order it is taken in, so the simd reduction (which
 * GCC does not otherwise vectorise without -ffast-math) keeps results independent of vector width and threads. */
static float row_max(const float *LEAP_RESTRICT x, int64_t n) {
  float m = -INFINITY;
#ifdef LEAP_WITH_OPENMP
#pragma omp simd reduction(max : m)
#endif
  for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* x[j] = exp(x[j] - shift) for j < n; returns the sum of the results, added in a fixed lane order. */
static float exp_shift_sum(float *LEAP_RESTRICT x, int64_t n, float shift) {
  float acc[ATTN_LANES] = {0};
  int64_t j = 0;
  for (; j + ATTN_LANES <= n; j += ATTN_LANES)
    for (int l = 0; l < ATTN_LANES; l++) {
      float e = fast_expf(x[j + l] - shift);
      x[j + l] = e;
      acc[l] += e;
    }
  for (; j < n; j++) {
    x[j] = fast_expf(x[j] - shift);
    acc[0] += x[j];
  }
  float sum = 0.0f;
  for (int l = 0; l < ATTN_LANES; l++) sum += acc[l];
  return sum;
}

/* Softmax of each row of the score block S (rows x nk) in place, row r seeing its first visible_keys(i0 + r)
 * keys; writes lse and the reciprocal row sums inv (0 for a row that sees nothing). */
static void softmax_rows(float *S, float *lse, float *inv, const leap_attention_shape *s, int64_t klim, int64_t i0,
                         int64_t rows, int64_t nk) {
  for (int64_t r = 0; r < rows; r++) {
    float *row = S + r * nk;
    int64_t c = visible_keys(s, klim, i0 + r);
    memset(row + c, 0, (size_t)(nk - c) * sizeof *row);
    if (c == 0) {
      lse[r] = -INFINITY;
      inv[r] = 0.0f;
      continue;
    }
    float m = row_max(row, c);
    float sum = exp_shift_sum(row, c, m);
    lse[r] = m + logf(sum);
    inv[r] = 1.0f / sum;
  }
}

/* One query block of one (batch, head): rows i0 .. i0+rows-1. q and out point at row i0 of this head; k and v at
 * key 0 of this head; lse at this head's entry for row i0. */
static void forward_block(float *out, float *lse, attn_ptrs in, const leap_attention_shape *s, int64_t klim,
                          int64_t i0, int64_t rows, float *ws) {
  int64_t D = s->D;
  int64_t nk = visible_keys(s, klim, i0 + rows - 1);
  float *S = ws, *inv = ws + block_rows(s) * s->Tk;
  if (nk == 0) {
    for (int64_t r = 0; r < rows; r++) {
      memset(out + r * s->ldo, 0, (size_t)D * sizeof *out);
      lse[r] = -INFINITY;
    }
    return;
  }
  leap_sgemm_cpu(false, true, rows, nk, D, s->scale, in.q, s->ldq, in.k, s->ldk, 0.0f, S, nk);
  softmax_rows(S, lse, inv, s, klim, i0, rows, nk);
  leap_sgemm_cpu(false, false, rows, D, nk, 1.0f, S, nk, in.v, s->ldv, 0.0f, out, s->ldo);
  for (int64_t r = 0; r < rows; r++) {
    float *o = out + r * s->ldo;
    float f = inv[r];
    for (int64_t d = 0; d < D; d++) o[d] *= f;
  }
}

/* Offset of token t, head h of batch b in a (B,T,H,D) tensor with row stride ld. */
static int64_t token_offset(const leap_attention_shape *s, int64_t b, int64_t T, int64_t t, int64_t h, int64_t ld) {
  return (b * T + t) * ld + h * s->D;
}

void leap_attention_forward_cpu(float *out, float *lse, const float *q, const float *k, const float *v,
                                const int32_t *key_len, const leap_attention_shape *s, float *workspace) {
  if (s->B <= 0 || s->H <= 0 || s->Tq <= 0) return;
  int64_t bq = block_rows(s);
  int64_t nblocks = (s->Tq + bq - 1) / bq;
  int64_t items = s->B * s->H * nblocks;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel num_threads(leap_kernels_threads())
#endif
  {
#ifdef LEAP_WITH_OPENMP
    float *ws = workspace + (int64_t)omp_get_thread_num() * thread_floats(s);
#pragma omp for schedule(dynamic, 1)
#else
    float *ws = workspace;
#endif
    for (int64_t it = 0; it < items; it++) {
      int64_t bh = it / nblocks, blk = it % nblocks, b = bh / s->H, h = bh % s->H;
      int64_t i0 = blk * bq, rows = s->Tq - i0 < bq ? s->Tq - i0 : bq;
      attn_ptrs in = {q + token_offset(s, b, s->Tq, i0, h, s->ldq), k + token_offset(s, b, s->Tk, 0, h, s->ldk),
                      v + token_offset(s, b, s->Tk, 0, h, s->ldv)};
      forward_block(out + token_offset(s, b, s->Tq, i0, h, s->ldo), lse + bh * s->Tq + i0, in, s,
                    key_limit(s, key_len, b), i0, rows, ws);
    }
  }
}

/* The backward's per-(batch, head) pointers: gradients (any NULL) and the saved tensors, all at row 0 of the head. */
typedef struct attn_grads {
  float *dq, *dk, *dv;
  const float *dout, *out, *lse;
} attn_grads;

/* P = exp(S - lse) in place over the rows x nk score block, zero where a row may not see the key. */
static void recompute_probs(float *S, const float *lse, const leap_attention_shape *s, int64_t klim, int64_t i0,
                            int64_t rows, int64_t nk) {
  for (int64_t r = 0; r < rows; r++) {
    float *LEAP_RESTRICT row = S + r * nk;
    int64_t c = visible_keys(s, klim, i0 + r);
    float l = lse[r];
    for (int64_t j = 0; j < c; j++) row[j] = fast_expf(row[j] - l);
    memset(row + c, 0, (size_t)(nk - c) * sizeof *row);
  }
}

/* dS = P * (dP - D_i) in place over dP, with D_i = rowsum(dO * O) for row i. */
static void probs_to_score_grad(float *dP, const float *P, const float *dout, const float *out,
                                const leap_attention_shape *s, int64_t rows, int64_t nk) {
  for (int64_t r = 0; r < rows; r++) {
    const float *o = out + r * s->ldo, *g = dout + r * s->ldo;
    float acc[ATTN_LANES] = {0};
    int64_t d = 0;
    for (; d + ATTN_LANES <= s->D; d += ATTN_LANES)
      for (int l = 0; l < ATTN_LANES; l++) acc[l] += g[d + l] * o[d + l];
    for (; d < s->D; d++) acc[0] += g[d] * o[d];
    float Di = 0.0f;
    for (int l = 0; l < ATTN_LANES; l++) Di += acc[l];
    float *LEAP_RESTRICT ds = dP + r * nk;
    const float *LEAP_RESTRICT p = P + r * nk;
    for (int64_t j = 0; j < nk; j++) ds[j] = p[j] * (ds[j] - Di);
  }
}

/* One query block of one (batch, head) in backward; pointers as in forward_block, g's at row i0 of this head. */
static void backward_block(attn_grads g, attn_ptrs in, const leap_attention_shape *s, int64_t klim, int64_t i0,
                           int64_t rows, float *ws) {
  int64_t D = s->D;
  int64_t nk = visible_keys(s, klim, i0 + rows - 1);
  if (nk == 0) return;
  float *P = ws, *dS = ws + block_rows(s) * s->Tk;
  leap_sgemm_cpu(false, true, rows, nk, D, s->scale, in.q, s->ldq, in.k, s->ldk, 0.0f, P, nk);
  recompute_probs(P, g.lse, s, klim, i0, rows, nk);
  if (g.dv) leap_sgemm_cpu(true, false, nk, D, rows, 1.0f, P, nk, g.dout, s->ldo, 1.0f, g.dv, s->ldv);
  if (!g.dq && !g.dk) return;
  leap_sgemm_cpu(false, true, rows, nk, D, 1.0f, g.dout, s->ldo, in.v, s->ldv, 0.0f, dS, nk);
  probs_to_score_grad(dS, P, g.dout, g.out, s, rows, nk);
  if (g.dq) leap_sgemm_cpu(false, false, rows, D, nk, s->scale, dS, nk, in.k, s->ldk, 1.0f, g.dq, s->ldq);
  if (g.dk) leap_sgemm_cpu(true, false, nk, D, rows, s->scale, dS, nk, in.q, s->ldq, 1.0f, g.dk, s->ldk);
}

/* All query blocks of one (batch, head), in order, so that dk and dv sum them in a fixed order. */
static void backward_head(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                          const float *v, const float *out, const float *lse, const int32_t *key_len,
                          const leap_attention_shape *s, int64_t b, int64_t h, float *ws) {
  int64_t bq = block_rows(s), klim = key_limit(s, key_len, b);
  int64_t k0 = token_offset(s, b, s->Tk, 0, h, s->ldk), v0 = token_offset(s, b, s->Tk, 0, h, s->ldv);
  for (int64_t i0 = 0; i0 < s->Tq; i0 += bq) {
    int64_t rows = s->Tq - i0 < bq ? s->Tq - i0 : bq;
    int64_t q0 = token_offset(s, b, s->Tq, i0, h, s->ldq), o0 = token_offset(s, b, s->Tq, i0, h, s->ldo);
    attn_grads g = {dq ? dq + q0 : NULL, dk ? dk + k0 : NULL, dv ? dv + v0 : NULL,
                    dout + o0,           out + o0,            lse + (b * s->H + h) * s->Tq + i0};
    attn_ptrs in = {q + q0, k + k0, v + v0};
    backward_block(g, in, s, klim, i0, rows, ws);
  }
}

void leap_attention_backward_cpu(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                 const float *v, const float *out, const float *lse, const int32_t *key_len,
                                 const leap_attention_shape *s, float *workspace) {
  if ((!dq && !dk && !dv) || s->B <= 0 || s->H <= 0 || s->Tq <= 0) return;
  int64_t pairs = s->B * s->H;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel num_threads(leap_kernels_threads())
#endif
  {
#ifdef LEAP_WITH_OPENMP
    float *ws = workspace + (int64_t)omp_get_thread_num() * thread_floats(s);
#pragma omp for schedule(dynamic, 1)
#else
    float *ws = workspace;
#endif
    for (int64_t bh = 0; bh < pairs; bh++)
      backward_head(dq, dk, dv, dout, q, k, v, out, lse, key_len, s, bh / s->H, bh % s->H, ws);
  }
}
