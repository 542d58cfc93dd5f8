/* Fused optimizer updates on the CPU. Each update is elementwise, so the threads' split never changes a value;
 * the scalar factors (bias corrections, decay) are computed once in double, as torch computes them in Python,
 * and the per-element arithmetic is fp32 in torch's order. */
#include "kernels/optim/optim.h"

#include <math.h>

#include "kernels/common/kernel_common.h"

/* Below this many elements, starting threads costs more than the update itself. */
#define OPTIM_PARALLEL_MIN 32768

/* Sum-of-squares chunking: at least SUMSQ_MIN_CHUNK elements per chunk and at most SUMSQ_MAX_CHUNKS chunks, so the
 * partials fit on the stack; SUMSQ_LANES independent accumulators per chunk let the loop vectorise while keeping a
 * fixed order. */
#define SUMSQ_MIN_CHUNK 4096
#define SUMSQ_MAX_CHUNKS 1024
#define SUMSQ_LANES 16

/* torch.lerp's two-sided formula, which is exact at both ends. */
static inline float lerp(float from, float to, float weight) {
  return fabsf(weight) < 0.5f ? from + weight * (to - from) : to - (to - from) * (1.0f - weight);
}

void leap_adamw_update_cpu(float *LEAP_RESTRICT param, float *LEAP_RESTRICT m, float *LEAP_RESTRICT v,
                           const float *LEAP_RESTRICT grad, int64_t n, float lr, float beta1, float beta2, float eps,
                           float weight_decay, int64_t step, float grad_scale) {
  const double bias1 = 1.0 - pow((double)beta1, (double)step);
  const double bias2 = 1.0 - pow((double)beta2, (double)step);
  const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
  const float neg_step_size = (float)(-(double)lr / bias1);
  const float bias2_sqrt = (float)sqrt(bias2);
  const float w1 = (float)(1.0 - (double)beta1);
  const float w2 = (float)(1.0 - (double)beta2);
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
#endif
  for (int64_t i = 0; i < n; i++) {
    float g = grad[i] * grad_scale;
    float p = param[i] * decay;
    float mi = lerp(m[i], g, w1);
    float vi = v[i] * beta2 + w2 * g * g;
    float denom = sqrtf(vi) / bias2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + neg_step_size * (mi / denom);
  }
}

void leap_sgd_update_cpu(float *LEAP_RESTRICT param, float *LEAP_RESTRICT momentum_buf,
                         const float *LEAP_RESTRICT grad, int64_t n, float lr, float momentum, float weight_decay,
                         bool nesterov, bool first_step, float grad_scale) {
  const bool use_momentum = momentum != 0.0f;
  const bool use_decay = weight_decay != 0.0f;
  const float neg_lr = -lr;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (n >= OPTIM_PARALLEL_MIN)
#endif
  for (int64_t i = 0; i < n; i++) {
    float p = param[i];
    float d = grad[i] * grad_scale;
    if (use_decay) d = d + weight_decay * p;
    if (use_momentum) {
      float b = first_step ? d : momentum_buf[i] * momentum + d;
      momentum_buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    param[i] = p + neg_lr * d;
  }
}

/* Sum of squares of one chunk: lane k accumulates elements k, k + SUMSQ_LANES, ...; the lanes are then added
 * pairwise in a fixed tree, and the tail in order. */
static double chunk_sum_squares(const float *LEAP_RESTRICT x, int64_t n) {
  double acc[SUMSQ_LANES] = {0};
  int64_t i = 0;
  for (; i + SUMSQ_LANES <= n; i += SUMSQ_LANES)
    for (int k = 0; k < SUMSQ_LANES; k++) acc[k] += (double)x[i + k] * (double)x[i + k];
  for (int width = SUMSQ_LANES / 2; width > 0; width /= 2)
    for (int k = 0; k < width; k++) acc[k] += acc[k + width];
  double s = acc[0];
  for (; i < n; i++) s += (double)x[i] * (double)x[i];
  return s;
}

double leap_sum_squares_cpu(const float *x, int64_t n) {
  if (n <= 0) return 0.0;
  int64_t chunk = (n + SUMSQ_MAX_CHUNKS - 1) / SUMSQ_MAX_CHUNKS;
  if (chunk < SUMSQ_MIN_CHUNK) chunk = SUMSQ_MIN_CHUNK;
  const int64_t chunks = (n + chunk - 1) / chunk;
  double partial[SUMSQ_MAX_CHUNKS];
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (int64_t c = 0; c < chunks; c++) {
    int64_t begin = c * chunk;
    partial[c] = chunk_sum_squares(x + begin, n - begin < chunk ? n - begin : chunk);
  }
  double total = 0.0;
  for (int64_t c = 0; c < chunks; c++) total += partial[c];
  return total;
}

float leap_clip_scale(double total_sum_squares, float max_norm) {
  double scale = (double)max_norm / (sqrt(total_sum_squares) + 1e-6);
  return (float)(scale > 1.0 ? 1.0 : scale);
}
