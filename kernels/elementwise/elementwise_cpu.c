/* Elementwise arithmetic with broadcasting (elementwise.h). Flat loops run over fixed chunks (vec_cpu.h); inside a
 * chunk a broadcast operation walks maximal runs that stay within one row of a, so that every inner loop is a
 * contiguous, vectorisable loop over a, b and out alike. */
#include "kernels/elementwise/elementwise.h"

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

/* Columns per task of the row sum: each task sums a block of rows over this many columns. */
#define SUM_ROWS_COL_CHUNK 1024

typedef enum binary_op { BINARY_ADD, BINARY_MUL, BINARY_MUL_ACC } binary_op;

/* One contiguous run: o = a + b, o = a * b, or o += a * b. o may equal a for the first two (in-place). */
static void run_binary(binary_op op, float *o, const float *a, const float *LEAP_RESTRICT b, int64_t len) {
  float *LEAP_RESTRICT w = o;
  const float *LEAP_RESTRICT r = a;
  switch (op) {
    case BINARY_ADD:
      if (o == a)
        for (int64_t k = 0; k < len; k++) w[k] += b[k];
      else
        for (int64_t k = 0; k < len; k++) w[k] = r[k] + b[k];
      break;
    case BINARY_MUL:
      if (o == a)
        for (int64_t k = 0; k < len; k++) w[k] *= b[k];
      else
        for (int64_t k = 0; k < len; k++) w[k] = r[k] * b[k];
      break;
    case BINARY_MUL_ACC:
      for (int64_t k = 0; k < len; k++) w[k] += r[k] * b[k];
      break;
  }
}

/* Applies op over a (n) and b (nb) broadcast along a's rows. */
static void broadcast_apply(binary_op op, float *o, const float *a, const float *b, int64_t n, int64_t nb) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t i = c * LEAP_VEC_CHUNK, end = leap_vec_min(i + LEAP_VEC_CHUNK, n);
    while (i < end) {
      int64_t j = i % nb, len = leap_vec_min(end - i, nb - j);
      run_binary(op, o + i, a + i, b + j, len);
      i += len;
    }
  }
}

size_t leap_sum_rows_workspace_floats(int64_t rows, int64_t cols) {
  return rows > 1 ? (size_t)(leap_reduce_blocks(rows) * cols) : 0;
}

/* dst += x * y (or x) for a single row: no reduction, just a chunked elementwise loop. */
static void sum_one_row(float *LEAP_RESTRICT dst, const float *LEAP_RESTRICT x, const float *LEAP_RESTRICT y,
                        int64_t cols) {
  int64_t chunks = leap_vec_chunks(cols);
  LEAP_VEC_OMP_FOR_IF(cols >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, cols);
    if (y)
      for (int64_t k = lo; k < hi; k++) dst[k] += x[k] * y[k];
    else
      for (int64_t k = lo; k < hi; k++) dst[k] += x[k];
  }
}

/* The partial sum of rows [r0, r1) over columns [c0, c1), written to p. */
static void block_partial(float *LEAP_RESTRICT p, const float *LEAP_RESTRICT x, const float *LEAP_RESTRICT y,
                          int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t cols) {
  for (int64_t c = c0; c < c1; c++) p[c] = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const float *xr = x + r * cols;
    if (y) {
      const float *yr = y + r * cols;
      for (int64_t c = c0; c < c1; c++) p[c] += xr[c] * yr[c];
    } else {
      for (int64_t c = c0; c < c1; c++) p[c] += xr[c];
    }
  }
}

void leap_sum_rows_cpu(float *dst, float *workspace, const float *x, const float *y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  if (rows == 1) {
    sum_one_row(dst, x, y, cols);
    return;
  }
  int64_t blocks = leap_reduce_blocks(rows);
  int64_t col_chunks = (cols + SUM_ROWS_COL_CHUNK - 1) / SUM_ROWS_COL_CHUNK;
  LEAP_VEC_OMP_FOR_IF(rows * cols >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t t = 0; t < blocks * col_chunks; t++) {
    int64_t b = t / col_chunks, c0 = (t % col_chunks) * SUM_ROWS_COL_CHUNK;
    block_partial(workspace + b * cols, x, y, b * LEAP_REDUCE_BLOCK, leap_vec_min((b + 1) * LEAP_REDUCE_BLOCK, rows),
                  c0, leap_vec_min(c0 + SUM_ROWS_COL_CHUNK, cols), cols);
  }
  /* The block partials are added into block 0's row in block order, one column chunk per task. */
  LEAP_VEC_OMP_FOR_IF(rows * cols >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t t = 0; t < col_chunks; t++) {
    int64_t c0 = t * SUM_ROWS_COL_CHUNK, c1 = leap_vec_min(c0 + SUM_ROWS_COL_CHUNK, cols);
    float *LEAP_RESTRICT acc = workspace;
    for (int64_t b = 1; b < blocks; b++) {
      const float *LEAP_RESTRICT p = workspace + b * cols;
      for (int64_t c = c0; c < c1; c++) acc[c] += p[c];
    }
    for (int64_t c = c0; c < c1; c++) dst[c] += acc[c];
  }
}

void leap_add_forward_cpu(float *out, const float *a, const float *b, int64_t n, int64_t nb) {
  broadcast_apply(BINARY_ADD, out, a, b, n, nb);
}

void leap_add_backward_cpu(float *da, float *db, float *workspace, const float *dout, int64_t n, int64_t nb) {
  if (da) leap_scale_backward_cpu(da, dout, 1.0f, n);
  if (db) leap_sum_rows_cpu(db, workspace, dout, NULL, n / nb, nb);
}

void leap_mul_forward_cpu(float *out, const float *a, const float *b, int64_t n, int64_t nb) {
  broadcast_apply(BINARY_MUL, out, a, b, n, nb);
}

void leap_mul_backward_cpu(float *da, float *db, float *workspace, const float *dout, const float *a, const float *b,
                           int64_t n, int64_t nb) {
  if (da) broadcast_apply(BINARY_MUL_ACC, da, dout, b, n, nb);
  if (db) leap_sum_rows_cpu(db, workspace, dout, a, n / nb, nb);
}

void leap_scale_forward_cpu(float *out, const float *a, float alpha, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, n);
    for (int64_t i = lo; i < hi; i++) out[i] = alpha * a[i];
  }
}

void leap_scale_backward_cpu(float *da, const float *dout, float alpha, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, n);
    float *LEAP_RESTRICT d = da;
    const float *LEAP_RESTRICT g = dout;
    if (alpha == 1.0f)
      for (int64_t i = lo; i < hi; i++) d[i] += g[i];
    else
      for (int64_t i = lo; i < hi; i++) d[i] += alpha * g[i];
  }
}

void leap_add_scalar_forward_cpu(float *out, const float *a, float s, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, n);
    for (int64_t i = lo; i < hi; i++) out[i] = a[i] + s;
  }
}
