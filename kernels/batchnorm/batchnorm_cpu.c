/* CPU batch normalisation over (M,C) rows.
 *
 * Every per-channel sum over the rows is a fixed-block reduction: the rows are cut into blocks of
 * LEAP_REDUCE_BLOCK, threads sum whole blocks (row order inside a block, vectorised across channels) into the
 * block's row of a (blocks,C) partials array, and one thread adds the partials in block order. The variance is
 * computed in a second pass over the deviations from the mean, which loses far less precision than E[x^2] - mean^2.
 * The normalisation itself is folded into one multiply-add per element, out = x * scale + shift.
 *
 * Workspace layout: BN_SCRATCH_VECTORS per-channel vectors of C floats, then two (blocks,C) partials arrays. */
#include "kernels/batchnorm/batchnorm.h"

#include <math.h>

#include "kernels/common/channel_sums_cpu.h"
#include "kernels/common/kernel_common.h"

/* Per-channel vectors at the start of the workspace (scale, shift and two backward coefficients). */
#define BN_SCRATCH_VECTORS 4

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

size_t leap_batchnorm_workspace_floats(int64_t M, int64_t C) {
  return (size_t)((BN_SCRATCH_VECTORS + 2 * leap_reduce_blocks(M)) * C);
}


/* total[c] = the block partials part (blocks,C) added in block order. */
static void sum_blocks(float *LEAP_RESTRICT total, const float *LEAP_RESTRICT part, int64_t blocks, int64_t C) {
  for (int64_t c = 0; c < C; c++) total[c] = 0.0f;
  for (int64_t b = 0; b < blocks; b++)
    for (int64_t c = 0; c < C; c++) total[c] += part[b * C + c];
}

/* total[c] = the fixed-block sum over the M rows of x (or of its squared deviations from center). */
static void channel_sums(float *total, float *part, const float *x, const float *center, int64_t M, int64_t C) {
  const int64_t blocks = leap_reduce_blocks(M);
  LEAP_OMP_FOR
  for (int64_t b = 0; b < blocks; b++)
    block_sum(part + b * C, x, center, b * LEAP_REDUCE_BLOCK, min64(M, (b + 1) * LEAP_REDUCE_BLOCK), C);
  sum_blocks(total, part, blocks, C);
}

/* out = x * scale + shift, per channel, with scale = invstd * gamma and shift = beta - mean * scale. */
static void normalise(float *out, const float *inp, const float *gamma, const float *beta, const float *mean,
                      const float *invstd, int64_t M, int64_t C, float *scale, float *shift) {
  for (int64_t c = 0; c < C; c++) {
    scale[c] = invstd[c] * (gamma ? gamma[c] : 1.0f);
    shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * scale[c];
  }
  LEAP_OMP_FOR
  for (int64_t r = 0; r < M; r++) {
    float *LEAP_RESTRICT o = out + r * C;
    const float *LEAP_RESTRICT x = inp + r * C;
    for (int64_t c = 0; c < C; c++) o[c] = x[c] * scale[c] + shift[c];
  }
}

void leap_batchnorm_forward_train_cpu(float *out, float *mean, float *invstd, float *running_mean,
                                      float *running_var, const float *inp, const float *gamma, const float *beta,
                                      int64_t M, int64_t C, float momentum, float eps, float *workspace) {
  float *scale = workspace, *shift = workspace + C, *part = workspace + BN_SCRATCH_VECTORS * C;
  channel_sums(mean, part, inp, NULL, M, C);
  for (int64_t c = 0; c < C; c++) mean[c] /= (float)M;
  channel_sums(invstd, part, inp, mean, M, C);
  const float unbias = M > 1 ? (float)M / (float)(M - 1) : 1.0f;
  for (int64_t c = 0; c < C; c++) {
    float var = invstd[c] / (float)M;
    invstd[c] = 1.0f / sqrtf(var + eps);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (var * unbias);
  }
  normalise(out, inp, gamma, beta, mean, invstd, M, C, scale, shift);
}

void leap_batchnorm_forward_eval_cpu(float *out, const float *inp, const float *gamma, const float *beta,
                                     const float *running_mean, const float *running_var, int64_t M, int64_t C,
                                     float eps, float *workspace) {
  float *invstd = workspace + 2 * C;
  for (int64_t c = 0; c < C; c++) invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
  normalise(out, inp, gamma, beta, running_mean, invstd, M, C, workspace, workspace + C);
}

/* sum_dy[c] and sum_dyx[c]: the fixed-block sums of dy and of dy * (x - center) * invstd over the rows. */
static void grad_sums(float *sum_dy, float *sum_dyx, float *workspace, const float *dout, const float *inp,
                      const float *center, const float *invstd, int64_t M, int64_t C) {
  const int64_t blocks = leap_reduce_blocks(M);
  float *p1 = workspace + BN_SCRATCH_VECTORS * C, *p2 = p1 + blocks * C;
  LEAP_OMP_FOR
  for (int64_t b = 0; b < blocks; b++)
    block_grad_sums(p1 + b * C, p2 + b * C, dout, inp, center, invstd, b * LEAP_REDUCE_BLOCK,
                    min64(M, (b + 1) * LEAP_REDUCE_BLOCK), C);
  sum_blocks(sum_dy, p1, blocks, C);
  sum_blocks(sum_dyx, p2, blocks, C);
}

/* dinp += a * (dy - b - xhat * d) with xhat = (x - center) * invstd, per channel. */
static void add_dinp(float *dinp, const float *dout, const float *inp, const float *center, const float *invstd,
                     const float *a, const float *b, const float *d, int64_t M, int64_t C) {
  LEAP_OMP_FOR
  for (int64_t r = 0; r < M; r++) {
    float *LEAP_RESTRICT dx = dinp + r * C;
    const float *LEAP_RESTRICT g = dout + r * C, *LEAP_RESTRICT x = inp + r * C;
    for (int64_t c = 0; c < C; c++) dx[c] += a[c] * (g[c] - b[c] - (x[c] - center[c]) * invstd[c] * d[c]);
  }
}

void leap_batchnorm_backward_train_cpu(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                                       const float *gamma, const float *mean, const float *invstd, int64_t M,
                                       int64_t C, float *workspace) {
  float *sum_dy = workspace, *sum_dyx = workspace + C, *a = workspace + 2 * C;
  grad_sums(sum_dy, sum_dyx, workspace, dout, inp, mean, invstd, M, C);
  for (int64_t c = 0; c < C; c++) {
    if (dbeta) dbeta[c] += sum_dy[c];
    if (dgamma) dgamma[c] += sum_dyx[c];
    a[c] = (gamma ? gamma[c] : 1.0f) * invstd[c];
    sum_dy[c] /= (float)M;
    sum_dyx[c] /= (float)M;
  }
  if (dinp) add_dinp(dinp, dout, inp, mean, invstd, a, sum_dy, sum_dyx, M, C);
}

void leap_batchnorm_backward_eval_cpu(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                                      const float *gamma, const float *running_mean, const float *running_var,
                                      int64_t M, int64_t C, float eps, float *workspace) {
  float *sum_dy = workspace, *sum_dyx = workspace + C, *a = workspace + 2 * C, *invstd = workspace + 3 * C;
  for (int64_t c = 0; c < C; c++) invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
  if (dgamma || dbeta) {
    grad_sums(sum_dy, sum_dyx, workspace, dout, inp, running_mean, invstd, M, C);
    for (int64_t c = 0; c < C; c++) {
      if (dbeta) dbeta[c] += sum_dy[c];
      if (dgamma) dgamma[c] += sum_dyx[c];
    }
  }
  if (!dinp) return;
  for (int64_t c = 0; c < C; c++) a[c] = (gamma ? gamma[c] : 1.0f) * invstd[c];
  /* With constant statistics the normalisation is affine, so dinp = gamma * invstd * dy. */
  LEAP_OMP_FOR
  for (int64_t r = 0; r < M; r++) {
    float *LEAP_RESTRICT dx = dinp + r * C;
    const float *LEAP_RESTRICT g = dout + r * C;
    for (int64_t c = 0; c < C; c++) dx[c] += a[c] * g[c];
  }
}
