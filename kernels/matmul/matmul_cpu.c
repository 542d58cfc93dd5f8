/* Batched matrix product (matmul.h), expressed as tiled sgemm calls.
 *
 * With a, b stored as described in matmul.h, write A = op_a(a[i]) (M,K), B = op_b(b[i]) (K,N), C = out[i]. Then
 *   dA = dC B^T  and  dB = A^T dC,
 * and each is turned back into the stored layout: when a is stored transposed, da[i] = dA^T = B dC^T; when b is,
 * db[i] = dB^T = dC^T A. Where a broadcast b meets an untransposed a, the batch folds into the rows: the whole
 * batch is one (batch*M, K) matrix, forward and dA become single products, and dB becomes one product whose inner
 * dimension batch*M runs over the batch.
 *
 * leap_sgemm_tiled_cpu: C is cut into tiles whose sizes depend on the shape only (tile_sizes). Each
 * (batch entry, tile) task is one OpenBLAS call made inside an OpenMP parallel region, where OpenBLAS runs on the
 * calling thread alone; with one OpenMP thread it runs on one thread anyway. Either way a tile's bits depend only on
 * its inputs. */
#include "kernels/matmul/matmul.h"

#include "kernels/blas/blas.h"
#include "kernels/common/kernel_common.h"

/* Products below this many multiply-adds are not worth splitting (OpenBLAS itself runs them on one thread). */
#define SPLIT_MIN_MACS (64 * 64 * 64)
/* Tiles are cut along the longer side of C into at most SPLIT_TASKS pieces of at least SPLIT_TILE rows or columns;
 * a product with fewer than MIN_TASKS tiles then has both sides halved, down to MIN_TILE. Tile sides are multiples
 * of TILE_ALIGN, the width of OpenBLAS's micro-kernels. */
#define SPLIT_TASKS 16
#define SPLIT_TILE 512
#define MIN_TASKS 4
#define MIN_TILE 64
#define TILE_ALIGN 16

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/* Tile sizes for an (M,N) output with inner dimension K: a function of the shape only.
 *
 * Each tile's OpenBLAS call packs its own copies of the panels of A and B it reads, so cutting C into tiles of side
 * t along one dimension repacks the other operand once per tile: about 1/t of the work, but packing moves one float
 * in the time the micro-kernel does some 30 multiply-adds, so tiles of 512 cost about 6% and are the smallest
 * taken while the product can be shared with fewer, larger tiles. */
static void tile_sizes(int64_t M, int64_t N, int64_t K, int64_t *tm, int64_t *tn) {
  int64_t mt = 1, nt = 1;
  if (M * N * K >= SPLIT_MIN_MACS * MIN_TASKS * 2) {
    if (M >= N)
      mt = ceil_div(M, ceil_div(M, SPLIT_TASKS) > SPLIT_TILE ? ceil_div(M, SPLIT_TASKS) : SPLIT_TILE);
    else
      nt = ceil_div(N, ceil_div(N, SPLIT_TASKS) > SPLIT_TILE ? ceil_div(N, SPLIT_TASKS) : SPLIT_TILE);
    while (mt * nt < MIN_TASKS) {
      if (M / mt >= N / nt && M / (2 * mt) >= MIN_TILE)
        mt *= 2;
      else if (N / (2 * nt) >= MIN_TILE)
        nt *= 2;
      else
        break;
    }
  }
  *tm = mt == 1 ? M : round_up(ceil_div(M, mt), TILE_ALIGN);
  *tn = nt == 1 ? N : round_up(ceil_div(N, nt), TILE_ALIGN);
}

typedef struct gemm_job {
  bool ta, tb;
  int64_t M, N, K, tm, tn, mt, nt;
  float alpha, beta;
  const float *A;
  int64_t lda, stride_a;
  const float *B;
  int64_t ldb, stride_b;
  float *C;
  int64_t ldc, stride_c;
} gemm_job;

/* Tile `tile` of product i, or of all products in order when they share C. */
static void run_tile(const gemm_job *g, int64_t i, int64_t tile, int64_t count) {
  int64_t i0 = tile / g->nt * g->tm, j0 = tile % g->nt * g->tn;
  int64_t m = g->M - i0 < g->tm ? g->M - i0 : g->tm, n = g->N - j0 < g->tn ? g->N - j0 : g->tn;
  for (int64_t k = i; k < i + count; k++) {
    const float *a = g->A + k * g->stride_a + (g->ta ? i0 : i0 * g->lda);
    const float *b = g->B + k * g->stride_b + (g->tb ? j0 * g->ldb : j0);
    float *c = g->C + k * g->stride_c + i0 * g->ldc + j0;
    leap_sgemm_cpu(g->ta, g->tb, m, n, g->K, g->alpha, a, g->lda, b, g->ldb, k == i ? g->beta : 1.0f, c, g->ldc);
  }
}

void leap_sgemm_tiled_cpu(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                          int64_t lda, int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b, float beta,
                          float *C, int64_t ldc, int64_t stride_c) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  gemm_job g = {ta, tb, M, N, K, 0, 0, 0, 0, alpha, beta, A, lda, stride_a, B, ldb, stride_b, C, ldc, stride_c};
  tile_sizes(M, N, K, &g.tm, &g.tn);
  g.mt = ceil_div(M, g.tm), g.nt = ceil_div(N, g.tn);
  bool shared_c = stride_c == 0 && batch > 1;
  int64_t tiles = g.mt * g.nt, tasks = shared_c ? tiles : batch * tiles;
  /* A lone small product skips the parallel region (a few microseconds): OpenBLAS never threads a product of at
   * most 64^3 multiply-adds (its GEMM_MULTITHREAD_THRESHOLD), so it runs on one thread either way. */
  if (tasks == 1 && M * N * K <= SPLIT_MIN_MACS) {
    run_tile(&g, 0, 0, shared_c ? batch : 1);
    return;
  }
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
  for (int64_t t = 0; t < tasks; t++) {
    if (shared_c)
      run_tile(&g, 0, t, batch);
    else
      run_tile(&g, t / tiles, t % tiles, 1);
  }
}

static int64_t lda_of(const leap_matmul_shape *s) { return s->trans_a ? s->M : s->K; }
static int64_t ldb_of(const leap_matmul_shape *s) { return s->trans_b ? s->K : s->N; }
static int64_t stride_b_of(const leap_matmul_shape *s) { return s->broadcast_b ? 0 : s->K * s->N; }

void leap_matmul_forward_cpu(float *out, const float *a, const float *b, const leap_matmul_shape *s) {
  if (s->broadcast_b && !s->trans_a) {
    leap_sgemm_tiled_cpu(false, s->trans_b, 1, s->batch * s->M, s->N, s->K, 1.0f, a, s->K, 0, b, ldb_of(s), 0, 0.0f,
                         out, s->N, 0);
    return;
  }
  leap_sgemm_tiled_cpu(s->trans_a, s->trans_b, s->batch, s->M, s->N, s->K, 1.0f, a, lda_of(s), s->M * s->K, b,
                       ldb_of(s), stride_b_of(s), 0.0f, out, s->N, s->M * s->N);
}

static void backward_a(float *da, const float *dout, const float *b, const leap_matmul_shape *s) {
  int64_t so = s->M * s->N, sa = s->M * s->K;
  if (s->trans_a) {
    /* da[i] (K,M) += B (K,N) dC^T. */
    leap_sgemm_tiled_cpu(s->trans_b, true, s->batch, s->K, s->M, s->N, 1.0f, b, ldb_of(s), stride_b_of(s), dout, s->N,
                         so, 1.0f, da, s->M, sa);
  } else if (s->broadcast_b) {
    /* da (batch*M,K) += dC (batch*M,N) B^T. */
    leap_sgemm_tiled_cpu(false, !s->trans_b, 1, s->batch * s->M, s->K, s->N, 1.0f, dout, s->N, 0, b, ldb_of(s), 0, 1.0f,
                         da, s->K, 0);
  } else {
    /* da[i] (M,K) += dC (M,N) B^T. */
    leap_sgemm_tiled_cpu(false, !s->trans_b, s->batch, s->M, s->K, s->N, 1.0f, dout, s->N, so, b, ldb_of(s),
                         stride_b_of(s), 1.0f, da, s->K, sa);
  }
}

/* db (K,N) += A^T dC, or db (N,K) += dC^T A when b is stored transposed, over `batch` entries whose inner dimension
 * is M rows of a (lda) and dout; db_stride 0 accumulates every entry into one db. */
static void db_products(float *db, const float *dout, const float *a, int64_t batch, int64_t M, int64_t lda,
                        int64_t db_stride, const leap_matmul_shape *s) {
  int64_t so = s->M * s->N, sa = s->M * s->K;
  if (!s->trans_b)
    leap_sgemm_tiled_cpu(!s->trans_a, false, batch, s->K, s->N, M, 1.0f, a, lda, sa, dout, s->N, so, 1.0f, db, s->N,
                         db_stride);
  else
    leap_sgemm_tiled_cpu(true, s->trans_a, batch, s->N, s->K, M, 1.0f, dout, s->N, so, a, lda, sa, 1.0f, db, s->K,
                         db_stride);
}

static void backward_b(float *db, const float *dout, const float *a, const leap_matmul_shape *s) {
  if (!s->broadcast_b)
    db_products(db, dout, a, s->batch, s->M, lda_of(s), s->K * s->N, s);
  else if (!s->trans_a)
    db_products(db, dout, a, 1, s->batch * s->M, s->K, 0, s);
  else
    db_products(db, dout, a, s->batch, s->M, lda_of(s), 0, s);
}

void leap_matmul_backward_cpu(float *da, float *db, const float *dout, const float *a, const float *b,
                              const leap_matmul_shape *s) {
  if (da) backward_a(da, dout, b, s);
  if (db) backward_b(db, dout, a, s);
}
