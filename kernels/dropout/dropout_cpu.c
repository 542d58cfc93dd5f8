/* Dropout on the CPU: each DROPOUT_CHUNK-element piece draws its uniforms into a stack buffer with the vectorised
 * Philox span (kernels/rng), then applies the mask. Every mask bit is a pure function of its index, so the result
 * does not depend on the thread count. */
#include "kernels/dropout/dropout.h"

#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/rng/rng.h"

#define DROPOUT_CHUNK 2048

void leap_dropout_forward_cpu(float *out, const float *x, int64_t n, float p, uint64_t seed, uint64_t stream,
                              uint64_t offset) {
  if (p <= 0.0f) {
    if (out != x && n > 0) memcpy(out, x, (size_t)n * sizeof(float));
    return;
  }
  const float scale = leap_dropout_scale(p);
  const int64_t chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (int64_t c = 0; c < chunks; c++) {
    float u[DROPOUT_CHUNK];
    int64_t begin = c * DROPOUT_CHUNK;
    int64_t len = n - begin < DROPOUT_CHUNK ? n - begin : DROPOUT_CHUNK;
    leap__rng_uniform_span(u, len, seed, stream, offset + (uint64_t)begin);
    const float *xc = x + begin;
    float *oc = out + begin;
    for (int64_t k = 0; k < len; k++) oc[k] = u[k] >= p ? xc[k] * scale : 0.0f;
  }
}

void leap_dropout_backward_cpu(float *din, const float *dout, int64_t n, float p, uint64_t seed, uint64_t stream,
                               uint64_t offset) {
  if (din == NULL) return;
  if (p <= 0.0f) {
    for (int64_t i = 0; i < n; i++) din[i] += dout[i];
    return;
  }
  const float scale = leap_dropout_scale(p);
  const int64_t chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (int64_t c = 0; c < chunks; c++) {
    float u[DROPOUT_CHUNK];
    int64_t begin = c * DROPOUT_CHUNK;
    int64_t len = n - begin < DROPOUT_CHUNK ? n - begin : DROPOUT_CHUNK;
    leap__rng_uniform_span(u, len, seed, stream, offset + (uint64_t)begin);
    const float *LEAP_RESTRICT dc = dout + begin;
    float *LEAP_RESTRICT gc = din + begin;
    for (int64_t k = 0; k < len; k++) gc[k] += u[k] >= p ? dc[k] * scale : 0.0f;
  }
}
