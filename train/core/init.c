#include "train/core/init.h"

#include <math.h>
#include <stdlib.h>

#include "kernels/rng/rng.h"
#include "train/core/device_memory.h"

/* Fills on the host and copies, so one code path serves every device (initialisation is not on the hot path). */
static void fill(leap_tensor *t, int kind, float a, float b, uint64_t seed, uint64_t stream) {
  LEAP_ASSERT(t->dtype == LEAP_F32, "initialising a non-f32 tensor");
  int64_t n = leap_tensor_numel(t);
  float *host = t->device == LEAP_CPU ? (float *)t->data : malloc(sizeof(float) * (size_t)(n ? n : 1));
  LEAP_ASSERT(host != NULL, "out of memory initialising '%s'", t->name ? t->name : "?");
  if (kind == 0) leap_rng_fill_normal_cpu(host, n, a, b, seed, stream, 0);
  else if (kind == 1) leap_rng_fill_uniform_cpu(host, n, a, b, seed, stream, 0);
  else
    for (int64_t i = 0; i < n; i++) host[i] = a;
  if (t->device != LEAP_CPU) {
    leap_device_copy(t->device, t->data, LEAP_CPU, host, sizeof(float) * (size_t)n);
    free(host);
  }
}

void leap_init_normal(leap_tensor *t, float std, uint64_t seed, uint64_t stream) { fill(t, 0, 0.0f, std, seed, stream); }

void leap_init_uniform(leap_tensor *t, float bound, uint64_t seed, uint64_t stream) {
  fill(t, 1, -bound, bound, seed, stream);
}

void leap_init_constant(leap_tensor *t, float value) { fill(t, 2, value, 0.0f, 0, 0); }

float leap_init_kaiming_std(int64_t fan_in) { return sqrtf(2.0f / (float)(fan_in > 0 ? fan_in : 1)); }

float leap_init_xavier_bound(int64_t fan_in, int64_t fan_out) {
  int64_t fans = fan_in + fan_out;
  return sqrtf(6.0f / (float)(fans > 0 ? fans : 1));
}

float leap_init_gpt2_residual_std(float std, int layers) { return std / sqrtf(2.0f * (float)(layers > 0 ? layers : 1)); }
