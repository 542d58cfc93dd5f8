/* GELU (tanh approximation) and ReLU (activation.h). Each runs over fixed chunks of LEAP_VEC_CHUNK elements in
 * parallel; the inner loops are contiguous and vectorise, GELU's exp included (vec_cpu.h). */
#include "kernels/activation/activation.h"

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

#define GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_K1 0.044715f

/* s = sigmoid(2u) = 0.5 * (1 + tanh(u)) for u = K0 * (x + K1 * x^3); e = exp(-2u) is returned for the derivative. */
static inline float gelu_gate(float x, float *e_out) {
  float u = GELU_K0 * x * (1.0f + GELU_K1 * x * x);
  float e = leap_vec_exp(-2.0f * u);
  *e_out = e;
  return 1.0f / (1.0f + e);
}

static void gelu_forward_range(float *out, const float *inp, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; i++) {
    float x = inp[i], e;
    out[i] = x * gelu_gate(x, &e);
  }
}

/* gelu'(x) = s + x * ds/dx with ds/dx = 2 u'(x) s (1 - s) and 1 - s = e s, which keeps full precision where s is
 * close to 1 (large positive x). */
static void gelu_backward_range(float *LEAP_RESTRICT dinp, const float *LEAP_RESTRICT dout,
                                const float *LEAP_RESTRICT inp, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; i++) {
    float x = inp[i], e;
    float s = gelu_gate(x, &e);
    float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
    dinp[i] += dout[i] * (s + 2.0f * x * du * (e * s) * s);
  }
}

void leap_gelu_forward_cpu(float *out, const float *inp, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN / 4)
  for (int64_t c = 0; c < chunks; c++)
    gelu_forward_range(out, inp, c * LEAP_VEC_CHUNK, leap_vec_min((c + 1) * LEAP_VEC_CHUNK, n));
}

void leap_gelu_backward_cpu(float *dinp, const float *dout, const float *inp, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN / 4)
  for (int64_t c = 0; c < chunks; c++)
    gelu_backward_range(dinp, dout, inp, c * LEAP_VEC_CHUNK, leap_vec_min((c + 1) * LEAP_VEC_CHUNK, n));
}

void leap_relu_forward_cpu(float *out, const float *inp, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, n);
    for (int64_t i = lo; i < hi; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
  }
}

void leap_relu_backward_cpu(float *dinp, const float *dout, const float *inp, int64_t n) {
  int64_t chunks = leap_vec_chunks(n);
  LEAP_VEC_OMP_FOR_IF(n >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    int64_t lo = c * LEAP_VEC_CHUNK, hi = leap_vec_min(lo + LEAP_VEC_CHUNK, n);
    float *LEAP_RESTRICT d = dinp;
    const float *LEAP_RESTRICT g = dout, *LEAP_RESTRICT x = inp;
    for (int64_t i = lo; i < hi; i++) d[i] += x[i] > 0.0f ? g[i] : 0.0f;
  }
}
