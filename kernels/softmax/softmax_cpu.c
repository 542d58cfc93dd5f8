/* Row softmax (softmax.h): per row, the maximum, the exponentials (stored) and their sum, then one scaling pass;
 * all three loops vectorise (vec_cpu.h). */
#include "kernels/softmax/softmax.h"

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

static void softmax_row(float *out, const float *inp, int64_t C) {
  float m = leap_vec_max(inp, C);
  float inv = 1.0f / leap_vec_exp_store_sum(out, inp, m, C);
  float *LEAP_RESTRICT o = out;
  for (int64_t c = 0; c < C; c++) o[c] *= inv;
}

void leap_softmax_forward_cpu(float *out, const float *inp, int64_t N, int64_t C) {
  if (C <= 0) return;
  LEAP_VEC_OMP_FOR_IF(N > 1 && N * C >= LEAP_VEC_PARALLEL_MIN / 4)
  for (int64_t n = 0; n < N; n++) softmax_row(out + n * C, inp + n * C, C);
}

static void softmax_backward_row(float *LEAP_RESTRICT dinp, const float *LEAP_RESTRICT dout,
                                 const float *LEAP_RESTRICT y, int64_t C) {
  float dot = leap_vec_dot(dout, y, C);
  for (int64_t c = 0; c < C; c++) dinp[c] += y[c] * (dout[c] - dot);
}

void leap_softmax_backward_cpu(float *dinp, const float *dout, const float *out, int64_t N, int64_t C) {
  LEAP_VEC_OMP_FOR_IF(N > 1 && N * C >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t n = 0; n < N; n++) softmax_backward_row(dinp + n * C, dout + n * C, out + n * C, C);
}
