/* CPU fills from the counter-based generator in philox.h. Element j of a fill uses value number offset + j of
 * (seed, stream), so a fill's result depends neither on the thread count nor on how a tensor is split into calls:
 * filling [0, n) at offset o equals filling [0, k) at offset o and [k, n) at offset o + k. */
#ifndef LEAP_KERNELS_RNG_RNG_H
#define LEAP_KERNELS_RNG_RNG_H

#include <stdint.h>

#include "kernels/rng/philox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x[j] = lo + (hi - lo) * leap_rng_uniform(seed, stream, offset + j). */
void leap_rng_fill_uniform_cpu(float *x /* (n) */, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream,
                               uint64_t offset);

/* x[j] = mean + std * leap_rng_normal(seed, stream, offset + j). */
void leap_rng_fill_normal_cpu(float *x /* (n) */, int64_t n, float mean, float std, uint64_t seed, uint64_t stream,
                              uint64_t offset);

/* Internal, shared with the dropout kernel: u[j] = leap_rng_uniform(seed, stream, offset + j) on the calling thread
 * only (no OpenMP), computed several Philox blocks at a time so that the rounds vectorise. */
void leap__rng_uniform_span(float *u /* (n) */, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);

#ifdef __cplusplus
}
#endif

#endif
