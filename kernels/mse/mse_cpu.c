/* Mean squared error (mse.h): chunk partials in parallel over LEAP_VEC_LANES lanes, then added in chunk order. */
#include "kernels/mse/mse.h"

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

size_t leap_mse_forward_workspace_floats(int64_t n) { return (size_t)leap_vec_chunks(n); }

static float chunk_sum_sq(const float *LEAP_RESTRICT p, const float *LEAP_RESTRICT t, int64_t len) {
  float acc[LEAP_VEC_LANES] = {0};
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= len; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) {
      float d = p[i + j] - t[i + j];
      acc[j] += d * d;
    }
  for (int j = 0; i + j < len; j++) {
    float d = p[i + j] - t[i + j];
    acc[j] += d * d;
  }
  return leap_vec_fold_sum(acc);
}

void leap_mse_forward_cpu(float *loss, float *workspace, const float *pred, const float *target, int64_t n) {
  if (n <= 0) {
    *loss = 0.0f;
    return;
  }
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(chunks > 1)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK;
    workspace[c] = chunk_sum_sq(pred + lo, target + lo, leap_vec_min(LEAP_VEC_CHUNK, n - lo));
  }
  double total = 0.0;
  for (int64_t c = 0; c < chunks; c++) total += workspace[c];
  *loss = (float)(total / (double)n);
}

void leap_mse_backward_cpu(float *dpred, float *dtarget, const float *dloss, const float *pred, const float *target,
                           int64_t n) {
  if (n <= 0 || (!dpred && !dtarget)) return;
  float scale = 2.0f * *dloss / (float)n;
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, n);
    float *LEAP_RESTRICT dp = dpred, *LEAP_RESTRICT dt = dtarget;
    const float *LEAP_RESTRICT p = pred, *LEAP_RESTRICT t = target;
    if (dp)
      for (int64_t i = lo; i < hi; i++) dp[i] += scale * (p[i] - t[i]);
    if (dt)
      for (int64_t i = lo; i < hi; i++) dt[i] -= scale * (p[i] - t[i]);
  }
}
