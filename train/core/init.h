/* Parameter initialisation from the counter-based RNG (kernels/rng). Each parameter draws from its own stream
 * (chosen by the model builder, e.g. its index), so a value depends only on (seed, stream, element), never on the
 * order tensors were made in or the number of threads. */
#ifndef LEAP_TRAIN_CORE_INIT_H
#define LEAP_TRAIN_CORE_INIT_H

#include <stdint.h>

#include "train/core/tensor.h"

void leap_init_normal(leap_tensor *t, float std, uint64_t seed, uint64_t stream);
void leap_init_uniform(leap_tensor *t, float bound, uint64_t seed, uint64_t stream); /* U(-bound, bound) */
void leap_init_constant(leap_tensor *t, float value);

/* Kaiming (He) normal for layers followed by ReLU: std = sqrt(2 / fan_in). */
float leap_init_kaiming_std(int64_t fan_in);
/* Xavier (Glorot) uniform: bound = sqrt(6 / (fan_in + fan_out)). */
float leap_init_xavier_bound(int64_t fan_in, int64_t fan_out);
/* GPT-2's residual projections: std / sqrt(2 * layers), so the residual stream's variance does not grow with depth. */
float leap_init_gpt2_residual_std(float std, int layers);

#endif
