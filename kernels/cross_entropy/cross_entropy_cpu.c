/* Fused softmax cross-entropy (cross_entropy.h).
 *
 * Forward, per row (rows in parallel): the maximum and the sum of exp(x - max) in two vectorised passes, the
 * second of which finds the row still in cache even for a GPT-2 vocabulary (50257 floats, 200 KB, in L2); then
 * lse = max + log(sum). The loss is summed afterwards from lse and the target logits in fixed blocks of rows.
 * Backward, per row: dlogits += exp(x - lse) * scale, and -scale at the target, in one vectorised pass. */
#include "kernels/cross_entropy/cross_entropy.h"

#include <math.h>

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

static float row_lse(const float *x, int64_t V) {
  float m = leap_vec_max(x, V);
  return m + logf(leap_vec_sum_exp(x, m, V));
}

/* The sum of the counted rows' losses, block by block, in double; also counts them. */
static double loss_sum(int64_t *count, const float *lse, const float *logits, const int32_t *targets, int64_t N,
                       int64_t V, int32_t ignore_index) {
  double total = 0.0;
  int64_t counted = 0;
  for (int64_t b = 0; b < leap_reduce_blocks(N); b++) {
    double block = 0.0;
    int64_t r1 = leap_vec_min((b + 1) * LEAP_REDUCE_BLOCK, N);
    for (int64_t n = b * LEAP_REDUCE_BLOCK; n < r1; n++) {
      if (targets[n] == ignore_index) continue;
      block += (double)lse[n] - (double)logits[n * V + targets[n]];
      counted++;
    }
    total += block;
  }
  *count = counted;
  return total;
}

void leap_cross_entropy_forward_cpu(float *loss, int64_t *count, float *lse, const float *logits,
                                    const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index) {
  LEAP_VEC_OMP_FOR_IF(N > 1 && N * V >= LEAP_VEC_PARALLEL_MIN / 4)
  for (int64_t n = 0; n < N; n++) lse[n] = row_lse(logits + n * V, V);
  int64_t counted;
  double total = loss_sum(&counted, lse, logits, targets, N, V, ignore_index);
  *loss = counted > 0 ? (float)(total / (double)counted) : 0.0f;
  if (count) *count = counted;
}

static void backward_row(float *LEAP_RESTRICT d, const float *LEAP_RESTRICT x, float lse, float scale, int32_t t,
                         int64_t V) {
  for (int64_t v = 0; v < V; v++) d[v] += leap_vec_exp(x[v] - lse) * scale;
  d[t] -= scale;
}

void leap_cross_entropy_backward_cpu(float *dlogits, const float *dloss, const float *logits, const int32_t *targets,
                                     const float *lse, int64_t N, int64_t V, int32_t ignore_index) {
  int64_t counted = 0;
  for (int64_t n = 0; n < N; n++) counted += targets[n] != ignore_index;
  if (counted == 0) return;
  float scale = *dloss / (float)counted;
  LEAP_VEC_OMP_FOR_IF(N > 1 && N * V >= LEAP_VEC_PARALLEL_MIN / 4)
  for (int64_t n = 0; n < N; n++)
    if (targets[n] != ignore_index) backward_row(dlogits + n * V, logits + n * V, lse[n], scale, targets[n], V);
}
