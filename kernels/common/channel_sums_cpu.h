/* Per-channel sums over a block of rows, shared by the batch-norm and group-norm CPU kernels: the partials their
 * fixed-block reductions (kernel_common.h) add up in block order. */
#ifndef LEAP_KERNELS_COMMON_CHANNEL_SUMS_CPU_H
#define LEAP_KERNELS_COMMON_CHANNEL_SUMS_CPU_H

#include "kernels/common/kernel_common.h"

/* part[c] = sum over rows [r0, r1) of x[r,c], or of (x[r,c] - center[c])^2 when center is given. */
static inline void block_sum(float *LEAP_RESTRICT part, const float *LEAP_RESTRICT x, const float *LEAP_RESTRICT center,
                      int64_t r0, int64_t r1, int64_t C) {
  for (int64_t c = 0; c < C; c++) part[c] = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const float *LEAP_RESTRICT row = x + r * C;
    if (center)
      for (int64_t c = 0; c < C; c++) part[c] += (row[c] - center[c]) * (row[c] - center[c]);
    else
      for (int64_t c = 0; c < C; c++) part[c] += row[c];
  }
}

/* p1[c] = sum of dy[r,c] and p2[c] = sum of dy[r,c] * (x[r,c] - center[c]) * invstd[c] over rows [r0, r1). */
static inline void block_grad_sums(float *LEAP_RESTRICT p1, float *LEAP_RESTRICT p2, const float *LEAP_RESTRICT dy,
                            const float *LEAP_RESTRICT x, const float *LEAP_RESTRICT center,
                            const float *LEAP_RESTRICT invstd, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t c = 0; c < C; c++) p1[c] = 0.0f, p2[c] = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const float *LEAP_RESTRICT g = dy + r * C, *LEAP_RESTRICT row = x + r * C;
    for (int64_t c = 0; c < C; c++) {
      p1[c] += g[c];
      p2[c] += g[c] * ((row[c] - center[c]) * invstd[c]);
    }
  }
}

#endif
