/* Inline helpers shared by the dense CPU kernels (elementwise, activation, softmax, layernorm, cross-entropy, mse):
 * a vectorisable exp, in-row sums and maxima that the compiler vectorises, and the fixed chunking of flat loops.
 *
 * Why these exist. Without -ffast-math the compiler neither vectorises a float reduction (it may not reorder the
 * additions) nor calls a vector exp, so a plain `s += x[i]` or `expf(x[i])` loop runs one element at a time. The
 * helpers below split a row over LEAP_VEC_LANES independent partial sums (an order fixed by the code, not by the
 * compiler or the thread count) and compute exp with a polynomial written in plain C, both of which vectorise.
 *
 * Determinism. A flat loop over n elements is cut into chunks of LEAP_VEC_CHUNK elements, a constant; threads
 * only decide who runs which chunk. Every element therefore goes through the same code path (vector body or
 * scalar tail, which may round differently once multiply-adds are fused) whatever the number of threads. */
#ifndef LEAP_KERNELS_ELEMENTWISE_VEC_CPU_H
#define LEAP_KERNELS_ELEMENTWISE_VEC_CPU_H

#include <stdint.h>
#include <string.h>

#include "kernels/common/kernel_common.h"

/* Independent partial sums per row reduction: one AVX-512 register of floats. */
#define LEAP_VEC_LANES 16
/* Elements per chunk of a flat parallel loop (64 KiB of floats: large enough to amortise scheduling). */
#define LEAP_VEC_CHUNK 16384
/* Below this many elements (or row elements in total) a kernel stays on one thread: a parallel region costs a few
 * microseconds, more than the work it would split. */
#define LEAP_VEC_PARALLEL_MIN 32768

#ifdef LEAP_WITH_OPENMP
#define LEAP_VEC_OMP_FOR_IF(cond) LEAP_PRAGMA(omp parallel for schedule(static) if (cond))
#else
#define LEAP_VEC_OMP_FOR_IF(cond)
#endif

static inline int64_t leap_vec_chunks(int64_t n) { return (n + LEAP_VEC_CHUNK - 1) / LEAP_VEC_CHUNK; }
static inline int64_t leap_vec_min(int64_t a, int64_t b) { return a < b ? a : b; }

/* exp(x) in float, vectorisable, within about 2 ulp: Cephes' expf (range reduction by ln 2 in two parts and a
 * degree-6 polynomial on [-ln2/2, ln2/2]), with the power of two built from its bits. Inputs below ln(2^-126) give
 * 0; inputs above 88 saturate at exp(88) (about 1.65e38) instead of overflowing, so that 1/(1 + exp(x)) and
 * exp(x) * y stay finite, which is what every caller here wants. */
static inline float leap_vec_exp(float x) {
  const float lo = -87.33654475f, hi = 88.0f;
  float xc = x < lo ? lo : (x > hi ? hi : x);
  /* round(xc / ln2) by the 1.5 * 2^23 trick: adding it pushes the fraction bits out of the mantissa. */
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return x < lo ? 0.0f : p * scale;
}

/* Adds the LEAP_VEC_LANES partials pairwise in a fixed order. */
static inline float leap_vec_fold_sum(float *acc) {
  for (int w = LEAP_VEC_LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) acc[j] += acc[j + w];
  return acc[0];
}

/* sum_i x[i]. */
static inline float leap_vec_sum(const float *LEAP_RESTRICT x, int64_t n) {
  float acc[LEAP_VEC_LANES] = {0};
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= n; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) acc[j] += x[i + j];
  for (int j = 0; i + j < n; j++) acc[j] += x[i + j];
  return leap_vec_fold_sum(acc);
}

/* sum_i x[i] * y[i]. */
static inline float leap_vec_dot(const float *LEAP_RESTRICT x, const float *LEAP_RESTRICT y, int64_t n) {
  float acc[LEAP_VEC_LANES] = {0};
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= n; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) acc[j] += x[i + j] * y[i + j];
  for (int j = 0; i + j < n; j++) acc[j] += x[i + j] * y[i + j];
  return leap_vec_fold_sum(acc);
}

/* sum_i (x[i] - m)^2: the second pass of a two-pass variance. */
static inline float leap_vec_sum_sq_dev(const float *LEAP_RESTRICT x, float m, int64_t n) {
  float acc[LEAP_VEC_LANES] = {0};
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= n; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) {
      float d = x[i + j] - m;
      acc[j] += d * d;
    }
  for (int j = 0; i + j < n; j++) {
    float d = x[i + j] - m;
    acc[j] += d * d;
  }
  return leap_vec_fold_sum(acc);
}

/* max_i x[i] for n >= 1 (NaNs are not propagated reliably; callers feed finite values). */
static inline float leap_vec_max(const float *LEAP_RESTRICT x, int64_t n) {
  float acc[LEAP_VEC_LANES];
  for (int j = 0; j < LEAP_VEC_LANES; j++) acc[j] = x[0];
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= n; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (int j = 0; i + j < n; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (int w = LEAP_VEC_LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) acc[j] = acc[j + w] > acc[j] ? acc[j + w] : acc[j];
  return acc[0];
}

/* sum_i exp(x[i] - m): the denominator of a softmax whose row maximum is m. */
static inline float leap_vec_sum_exp(const float *LEAP_RESTRICT x, float m, int64_t n) {
  float acc[LEAP_VEC_LANES] = {0};
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= n; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) acc[j] += leap_vec_exp(x[i + j] - m);
  for (int j = 0; i + j < n; j++) acc[j] += leap_vec_exp(x[i + j] - m);
  return leap_vec_fold_sum(acc);
}

/* out[i] = exp(x[i] - m), returning their sum; out may be x itself. */
static inline float leap_vec_exp_store_sum(float *out, const float *x, float m, int64_t n) {
  float acc[LEAP_VEC_LANES] = {0};
  int64_t i = 0;
  for (; i + LEAP_VEC_LANES <= n; i += LEAP_VEC_LANES)
    for (int j = 0; j < LEAP_VEC_LANES; j++) {
      float e = leap_vec_exp(x[i + j] - m);
      out[i + j] = e;
      acc[j] += e;
    }
  for (int j = 0; i + j < n; j++) {
    float e = leap_vec_exp(x[i + j] - m);
    out[i + j] = e;
    acc[j] += e;
  }
  return leap_vec_fold_sum(acc);
}

#endif
