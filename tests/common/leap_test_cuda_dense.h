/* CUDA test helpers shared by the GPU tests of the dense kernels (blas, matmul, linear, elementwise, ...): device
 * buffers filled from and read back to host f32 in either activation dtype, NaN poisoning, bf16 rounding on the
 * host. Header-only (static), included by tests/kernels/<op>/test_<op>_cuda.c. */
#ifndef LEAP_TESTS_COMMON_LEAP_TEST_CUDA_DENSE_H
#define LEAP_TESTS_COMMON_LEAP_TEST_CUDA_DENSE_H

#include <cuda_runtime.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/dtype.h"
#include "tests/common/leap_test.h"

#define CK(call)                                                                             \
  do {                                                                                       \
    cudaError_t e_ = (call);                                                                 \
    if (e_ != cudaSuccess) {                                                                 \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      exit(1);                                                                               \
    }                                                                                        \
  } while (0)

#define RTOL_F32 1e-4
#define RTOL_BF16 1e-2

/* Whether a device is present; prints the skip line when not. */
static inline bool have_device(void) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    puts("skipped: no CUDA device");
    return false;
  }
  return true;
}

/* float -> bf16 bits rounded to nearest even, as __float2bfloat16 does; NaN stays NaN. */
static inline uint16_t bf16_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static inline float bf16_value(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Rounds x to bf16 in place: the inputs a bf16 run and its CPU reference share. */
static inline void round_bf16(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = bf16_value(bf16_bits(x[i]));
}

static inline size_t dt_size(leap_dtype t) { return t == LEAP_BF16 ? 2 : 4; }
static inline const char *dt_name(leap_dtype t) { return t == LEAP_BF16 ? "bf16" : "f32"; }
static inline double rtol_of(leap_dtype t) { return t == LEAP_BF16 ? RTOL_BF16 : RTOL_F32; }

static inline float *hbuf(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static inline float *hcopy(const float *x, int64_t n) {
  float *y = hbuf(n);
  if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
  return y;
}

/* A device array of n elements of dtype t, poisoned with NaN (all bits set is NaN in f32 and in bf16). */
static inline void *dalloc(int64_t n, leap_dtype t) {
  void *d;
  size_t bytes = (size_t)(n > 0 ? n : 1) * dt_size(t);
  CK(cudaMalloc(&d, bytes));
  CK(cudaMemset(d, 0xFF, bytes));
  return d;
}

/* Host floats into the device array d of dtype t (converted to bf16 when t is). */
static inline void dput(void *d, const float *x, int64_t n, leap_dtype t) {
  if (n <= 0) return;
  if (t != LEAP_BF16) {
    CK(cudaMemcpy(d, x, (size_t)n * sizeof(float), cudaMemcpyHostToDevice));
    return;
  }
  uint16_t *h = malloc((size_t)n * sizeof *h);
  for (int64_t i = 0; i < n; i++) h[i] = bf16_bits(x[i]);
  CK(cudaMemcpy(d, h, (size_t)n * sizeof *h, cudaMemcpyHostToDevice));
  free(h);
}

static inline void *dnew(const float *x, int64_t n, leap_dtype t) {
  void *d = dalloc(n, t);
  dput(d, x, n, t);
  return d;
}

/* The device array d of dtype t into host floats, once the device has finished. */
static inline void dget(float *x, const void *d, int64_t n, leap_dtype t) {
  CK(cudaDeviceSynchronize());
  if (n <= 0) return;
  if (t != LEAP_BF16) {
    CK(cudaMemcpy(x, d, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost));
    return;
  }
  uint16_t *h = malloc((size_t)n * sizeof *h);
  CK(cudaMemcpy(h, d, (size_t)n * sizeof *h, cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < n; i++) x[i] = bf16_value(h[i]);
  free(h);
}

/* Whether two results are bit-identical (the run-twice determinism check). */
static inline bool same_bits(const char *what, const float *a, const float *b, int64_t n) {
  return LEAP_TEST_ASSERT(n <= 0 || memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s: two runs differ", what);
}

#endif
