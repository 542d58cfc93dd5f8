/* CPU group normalisation over (N,HW,C).
 *
 * Statistics. For each image, its HW rows are cut into blocks of LEAP_REDUCE_BLOCK; threads sum whole
 * (image, block) items, vectorised across all C channels, into a (N,blocks,C) partials array; each image's block
 * partials are then added in block order to per-(n,c) totals, and a group's total is the sum of its channels'
 * totals in channel order. Every sum thus has a fixed order, whatever the number of threads. The variance is a
 * second pass over the deviations from the mean. Once the statistics are known the normalisation is one
 * multiply-add per element with per-(n,c) coefficients.
 *
 * Backward. With xhat = (x - mean) * rstd and M = HW * C/G elements per group,
 *   dinp = rstd * (gamma * dy - A/M - xhat * B/M),  A = sum over the group of gamma * dy,  B = of gamma * dy * xhat,
 * and A, B come from the per-(n,c) sums of dy and dy * xhat, which also give dbeta and dgamma (summed over images
 * in image order).
 *
 * Workspace layout: GN_VECTORS per-(n,c) vectors of N*C floats, then two (N,blocks,C) partials arrays. */
#include "kernels/groupnorm/groupnorm.h"

#include <math.h>

#include "kernels/common/channel_sums_cpu.h"
#include "kernels/common/kernel_common.h"

/* Per-(n,c) vectors at the start of the workspace. */
#define GN_VECTORS 4

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

size_t leap_groupnorm_workspace_floats(int64_t N, int64_t HW, int64_t C) {
  return (size_t)((GN_VECTORS + 2 * leap_reduce_blocks(HW)) * N * C);
}


/* tot (N,C) = each image's block partials part (N,blocks,C) added in block order. */
static void image_totals(float *tot, const float *part, int64_t N, int64_t blocks, int64_t C) {
  LEAP_OMP_FOR
  for (int64_t n = 0; n < N; n++) {
    float *LEAP_RESTRICT t = tot + n * C;
    for (int64_t c = 0; c < C; c++) t[c] = 0.0f;
    for (int64_t b = 0; b < blocks; b++) {
      const float *LEAP_RESTRICT p = part + (n * blocks + b) * C;
      for (int64_t c = 0; c < C; c++) t[c] += p[c];
    }
  }
}

/* tot (N,C) = the fixed-block sums over each image's rows of x, or of (x - center)^2 with center (N,C). */
static void image_sums(float *tot, float *part, const float *x, const float *center, int64_t N, int64_t HW,
                       int64_t C) {
  const int64_t blocks = leap_reduce_blocks(HW);
  LEAP_OMP_FOR
  for (int64_t item = 0; item < N * blocks; item++) {
    int64_t n = item / blocks, r0 = item % blocks * LEAP_REDUCE_BLOCK;
    block_sum(part + item * C, x + n * HW * C, center ? center + n * C : NULL, r0, min64(HW, r0 + LEAP_REDUCE_BLOCK),
              C);
  }
  image_totals(tot, part, N, blocks, C);
}

/* grp (N,G) = the sum of tot (N,C) over each group's channels in channel order, each weighted by w[c] if given. */
static void group_sums(float *grp, const float *tot, const float *w, int64_t N, int64_t C, int64_t G) {
  const int64_t cg = C / G;
  for (int64_t i = 0; i < N * G; i++) {
    const float *t = tot + i * cg; /* group i's channels are consecutive in the (N,C) array */
    const float *wg = w ? w + i % G * cg : NULL;
    float s = 0.0f;
    for (int64_t j = 0; j < cg; j++) s += wg ? wg[j] * t[j] : t[j];
    grp[i] = s;
  }
}

/* vec (N,C) = grp (N,G) repeated over each group's channels. */
static void expand_groups(float *vec, const float *grp, int64_t N, int64_t C, int64_t G) {
  const int64_t cg = C / G;
  for (int64_t i = 0; i < N * C; i++) vec[i] = grp[i / cg];
}

void leap_groupnorm_forward_cpu(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                                const float *beta, int64_t N, int64_t HW, int64_t C, int64_t G, float eps,
                                float *workspace) {
  const int64_t NC = N * C;
  const float count = (float)(HW * (C / G));
  float *center = workspace, *scale = workspace + NC, *shift = workspace + 2 * NC, *tot = workspace + 3 * NC;
  float *part = workspace + GN_VECTORS * NC;
  if (N * HW * C == 0) return;
  image_sums(tot, part, inp, NULL, N, HW, C);
  group_sums(mean, tot, NULL, N, C, G);
  for (int64_t i = 0; i < N * G; i++) mean[i] /= count;
  expand_groups(center, mean, N, C, G);
  image_sums(tot, part, inp, center, N, HW, C);
  group_sums(rstd, tot, NULL, N, C, G);
  for (int64_t i = 0; i < N * G; i++) rstd[i] = 1.0f / sqrtf(rstd[i] / count + eps);
  expand_groups(scale, rstd, N, C, G);
  for (int64_t i = 0; i < NC; i++) {
    int64_t c = i % C;
    scale[i] *= gamma ? gamma[c] : 1.0f;
    shift[i] = (beta ? beta[c] : 0.0f) - center[i] * scale[i];
  }
  LEAP_OMP_FOR
  for (int64_t row = 0; row < N * HW; row++) {
    const float *LEAP_RESTRICT a = scale + row / HW * C, *LEAP_RESTRICT b = shift + row / HW * C;
    const float *LEAP_RESTRICT x = inp + row * C;
    float *LEAP_RESTRICT o = out + row * C;
    for (int64_t c = 0; c < C; c++) o[c] = x[c] * a[c] + b[c];
  }
}

/* dgamma[c] += sum over images of s2[n,c] and dbeta[c] += sum over images of s1[n,c], in image order. */
static void add_affine_grads(float *dgamma, float *dbeta, const float *s1, const float *s2, int64_t N, int64_t C) {
  for (int64_t c = 0; c < C; c++) {
    float g = 0.0f, b = 0.0f;
    for (int64_t n = 0; n < N; n++) g += s2[n * C + c], b += s1[n * C + c];
    if (dgamma) dgamma[c] += g;
    if (dbeta) dbeta[c] += b;
  }
}

/* dinp += a * dy - b - (x - center) * e, with per-(n,c) coefficients. */
static void add_dinp(float *dinp, const float *dout, const float *inp, const float *center, const float *a,
                     const float *b, const float *e, int64_t N, int64_t HW, int64_t C) {
  LEAP_OMP_FOR
  for (int64_t row = 0; row < N * HW; row++) {
    int64_t at = row / HW * C;
    const float *LEAP_RESTRICT ca = a + at, *LEAP_RESTRICT cb = b + at, *LEAP_RESTRICT ce = e + at;
    const float *LEAP_RESTRICT m = center + at, *LEAP_RESTRICT g = dout + row * C, *LEAP_RESTRICT x = inp + row * C;
    float *LEAP_RESTRICT d = dinp + row * C;
    for (int64_t c = 0; c < C; c++) d[c] += ca[c] * g[c] - cb[c] - (x[c] - m[c]) * ce[c];
  }
}

void leap_groupnorm_backward_cpu(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                                 const float *gamma, const float *mean, const float *rstd, int64_t N, int64_t HW,
                                 int64_t C, int64_t G, float *workspace) {
  const int64_t NC = N * C, blocks = leap_reduce_blocks(HW), cg = C / G;
  const float count = (float)(HW * cg);
  float *center = workspace, *rs = workspace + NC, *s1 = workspace + 2 * NC, *s2 = workspace + 3 * NC;
  float *p1 = workspace + GN_VECTORS * NC, *p2 = p1 + N * blocks * C;
  if (N * HW * C == 0) return;
  expand_groups(center, mean, N, C, G);
  expand_groups(rs, rstd, N, C, G);
  LEAP_OMP_FOR
  for (int64_t item = 0; item < N * blocks; item++) {
    int64_t n = item / blocks, r0 = item % blocks * LEAP_REDUCE_BLOCK;
    block_grad_sums(p1 + item * C, p2 + item * C, dout + n * HW * C, inp + n * HW * C, center + n * C, rs + n * C,
                    r0, min64(HW, r0 + LEAP_REDUCE_BLOCK), C);
  }
  image_totals(s1, p1, N, blocks, C);
  image_totals(s2, p2, N, blocks, C);
  add_affine_grads(dgamma, dbeta, s1, s2, N, C);
  if (!dinp) return;
  /* The partials are spent; their space holds A and B (N,G) now. */
  float *A = p1, *B = p1 + N * G;
  group_sums(A, s1, gamma, N, C, G);
  group_sums(B, s2, gamma, N, C, G);
  for (int64_t i = 0; i < NC; i++) {
    int64_t grp = i / cg;
    float r = rs[i];
    s1[i] = r * (gamma ? gamma[i % C] : 1.0f);
    s2[i] = r * A[grp] / count;
    rs[i] = r * r * B[grp] / count;
  }
  add_dinp(dinp, dout, inp, center, s1, s2, rs, N, HW, C);
}
