/* Layer normalisation (layernorm.h).
 *
 * Forward, per row: the mean, then the variance as the mean squared deviation (two passes, which stays accurate
 * when the mean is large against the spread), then one normalising pass. Rows run in parallel.
 *
 * Backward, with xhat = (x - mean) * rstd and g = dout * weight:
 *   dinp = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),  dweight = sum_n dout * xhat,  dbias = sum_n dout.
 * Rows are processed in blocks of LEAP_REDUCE_BLOCK; each block writes its partial dweight and dbias (2C floats)
 * to the workspace while it computes its rows' dinp, and the partials are then added in block order. */
#include "kernels/layernorm/layernorm.h"

#include <math.h>
#include <stdbool.h>

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

static void layernorm_row(float *out, float *mean, float *rstd, const float *inp, const float *LEAP_RESTRICT weight,
                          const float *LEAP_RESTRICT bias, int64_t C, float eps) {
  float m = leap_vec_sum(inp, C) / (float)C;
  float var = leap_vec_sum_sq_dev(inp, m, C) / (float)C;
  float rs = 1.0f / sqrtf(var + eps);
  for (int64_t c = 0; c < C; c++) {
    float y = (inp[c] - m) * rs;
    if (weight) y *= weight[c];
    if (bias) y += bias[c];
    out[c] = y;
  }
  *mean = m;
  *rstd = rs;
}

void leap_layernorm_forward_cpu(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                const float *bias, int64_t N, int64_t C, float eps) {
  LEAP_VEC_OMP_FOR_IF(N > 1 && N * C >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t n = 0; n < N; n++) layernorm_row(out + n * C, mean + n, rstd + n, inp + n * C, weight, bias, C, eps);
}

size_t leap_layernorm_backward_workspace_floats(int64_t N, int64_t C) {
  return (size_t)(leap_reduce_blocks(N) * 2 * C);
}

/* mean_c(g) and mean_c(g * xhat) of one row, with g = dout * weight, over LEAP_VEC_LANES partial sums. */
static void row_means(float *mg, float *mgx, const float *LEAP_RESTRICT dout, const float *LEAP_RESTRICT x,
                      const float *LEAP_RESTRICT w, float m, float rs, int64_t C) {
  float a[LEAP_VEC_LANES] = {0}, b[LEAP_VEC_LANES] = {0};
  int64_t c = 0;
  for (; c + LEAP_VEC_LANES <= C; c += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) {
      float g = w ? dout[c + j] * w[c + j] : dout[c + j];
      a[j] += g;
      b[j] += g * ((x[c + j] - m) * rs);
    }
  for (int j = 0; c + j < C; j++) {
    float g = w ? dout[c + j] * w[c + j] : dout[c + j];
    a[j] += g;
    b[j] += g * ((x[c + j] - m) * rs);
  }
  *mg = leap_vec_fold_sum(a) / (float)C;
  *mgx = leap_vec_fold_sum(b) / (float)C;
}

/* One row's dinp, and its contribution to the block partials pw (dweight) and pb (dbias) when they are kept. */
static void backward_row(float *LEAP_RESTRICT dinp, float *LEAP_RESTRICT pw, float *LEAP_RESTRICT pb,
                         const float *LEAP_RESTRICT dout, const float *LEAP_RESTRICT x, const float *LEAP_RESTRICT w,
                         float m, float rs, int64_t C) {
  if (dinp) {
    float mg, mgx;
    row_means(&mg, &mgx, dout, x, w, m, rs, C);
    for (int64_t c = 0; c < C; c++) {
      float g = w ? dout[c] * w[c] : dout[c];
      dinp[c] += (g - mg - (x[c] - m) * rs * mgx) * rs;
    }
  }
  if (pw)
    for (int64_t c = 0; c < C; c++) pw[c] += dout[c] * ((x[c] - m) * rs);
  if (pb)
    for (int64_t c = 0; c < C; c++) pb[c] += dout[c];
}

/* Adds the blocks' partials in block order into block 0's, then into dweight and dbias. */
static void reduce_partials(float *dweight, float *dbias, float *ws, int64_t blocks, int64_t C) {
  int64_t width = 2 * C, chunks = leap_vec_chunks(width);
  LEAP_VEC_OMP_FOR_IF(blocks * width >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t t = 0; t < chunks; t++) {
    int64_t lo = t * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, width);
    float *LEAP_RESTRICT acc = ws;
    for (int64_t b = 1; b < blocks; b++) {
      const float *LEAP_RESTRICT p = ws + b * width;
      for (int64_t c = lo; c < hi; c++) acc[c] += p[c];
    }
  }
  if (dweight)
    for (int64_t c = 0; c < C; c++) dweight[c] += ws[c];
  if (dbias)
    for (int64_t c = 0; c < C; c++) dbias[c] += ws[C + c];
}

void leap_layernorm_backward_cpu(float *dinp, float *dweight, float *dbias, float *workspace, const float *dout,
                                 const float *inp, const float *weight, const float *mean, const float *rstd, int64_t N,
                                 int64_t C) {
  if (N <= 0 || C <= 0) return;
  bool partials = dweight || dbias;
  int64_t blocks = leap_reduce_blocks(N);
  LEAP_VEC_OMP_FOR_IF(blocks > 1 && N * C >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t b = 0; b < blocks; b++) {
    float *pw = partials ? workspace + b * 2 * C : NULL;
    float *pb = partials ? pw + C : NULL;
    if (partials)
      for (int64_t c = 0; c < 2 * C; c++) pw[c] = 0.0f;
    int64_t r1 = leap_vec_min((b + 1) * LEAP_REDUCE_BLOCK, N);
    for (int64_t n = b * LEAP_REDUCE_BLOCK; n < r1; n++)
      backward_row(dinp ? dinp + n * C : NULL, pw, pb, dout + n * C, inp + n * C, weight, mean[n], rstd[n], C);
  }
  if (partials) reduce_partials(dweight, dbias, workspace, blocks, C);
}
