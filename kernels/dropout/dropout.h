/* Dropout with a mask that is never stored: element i is kept when leap_rng_uniform(seed, stream, offset + i) >= p,
 * and the backward pass recomputes the same mask from the same counters. Kept elements are scaled by 1 / (1 - p)
 * (inverted dropout, as torch.nn.functional.dropout), so p = 0 is the identity and p >= 1 drops everything.
 * `offset` lets a caller split one tensor into several calls, or give each op of a step its own counter range. */
#ifndef LEAP_KERNELS_DROPOUT_DROPOUT_H
#define LEAP_KERNELS_DROPOUT_DROPOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/rng/philox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether element `index` (offset already added) survives dropout with probability p; shared with fused kernels
 * (attention) so that every path draws the same mask. */
static inline LEAP_HOST_DEVICE bool leap_dropout_keep(uint64_t seed, uint64_t stream, uint64_t index, float p) {
  return leap_rng_uniform(seed, stream, index) >= p;
}

/* The factor applied to kept elements: 1 / (1 - p), and 0 when p >= 1 (nothing is kept). */
static inline LEAP_HOST_DEVICE float leap_dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

/* out[i] = keep(i) ? x[i] / (1 - p) : 0. out may alias x. */
void leap_dropout_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n, float p, uint64_t seed,
                              uint64_t stream, uint64_t offset);

/* ACCUMULATES: din[i] += keep(i) ? dout[i] / (1 - p) : 0, with the mask recomputed from (seed, stream, offset).
 * din may be NULL (nothing is done). */
void leap_dropout_backward_cpu(float *din /* (n) */, const float *dout /* (n) */, int64_t n, float p, uint64_t seed,
                               uint64_t stream, uint64_t offset);

#ifdef __cplusplus
}
#endif

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): x, out, dout, din are activations of dtype act; the mask comes from the same
 * Philox counters as on the CPU, so kept elements and their values equal the CPU's exactly (the product x * scale
 * is rounded to act once). `stream` is the RNG stream number; `cuda_stream` the CUDA stream. */
void leap_dropout_forward_cuda(void *out /* (n) */, const void *x /* (n) */, int64_t n, float p, uint64_t seed,
                               uint64_t stream, uint64_t offset, leap_dtype act, leap_cuda_stream cuda_stream);

/* ACCUMULATES: din[i] += keep(i) ? dout[i] / (1 - p) : 0. din may be NULL (nothing is done). */
void leap_dropout_backward_cuda(void *din /* (n) */, const void *dout /* (n) */, int64_t n, float p, uint64_t seed,
                                uint64_t stream, uint64_t offset, leap_dtype act, leap_cuda_stream cuda_stream);

LEAP_EXTERN_C_END
#endif

#endif
