/* CUDA test helpers shared by the GPU tests of the conv/pool/norm/attention kernels: every device call runs on one
 * non-blocking stream (the kernels' stream too), so copies and kernels are ordered without device-wide
 * synchronisation, and host data converts to and from the activation dtype on the way. Header-only (static
 * inline), included by tests/kernels/<op>/test_<op>_cuda.c. */
#ifndef LEAP_TESTS_COMMON_LEAP_TEST_CUDA_H
#define LEAP_TESTS_COMMON_LEAP_TEST_CUDA_H

#include <cuda_runtime.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/dtype.h"
#include "tests/common/leap_test.h"

#define TC_CHECK(call)                                                                                   \
  do {                                                                                                   \
    cudaError_t tc_e_ = (call);                                                                          \
    if (tc_e_ != cudaSuccess) {                                                                          \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(tc_e_));          \
      exit(1);                                                                                           \
    }                                                                                                    \
  } while (0)

static cudaStream_t g_stream;

/* Whether a device is there; creates the stream when it is. */
static inline bool tc_init(void) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return false;
  TC_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  return true;
}

/* x rounded to the nearest bf16 (ties to even), as __float2bfloat16 does, as bits and as a float. */
static inline uint16_t tc_bf16_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float tc_bf16_float(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Rounds x to bf16 in place in bf16 mode, so that the CPU reference sees exactly the device's inputs. */
static inline void tc_round(float *x, int64_t n, leap_dtype act) {
  if (act == LEAP_BF16)
    for (int64_t i = 0; i < n; i++) x[i] = tc_bf16_float(tc_bf16_bits(x[i]));
}

static inline size_t tc_elem(leap_dtype act) { return act == LEAP_BF16 ? sizeof(uint16_t) : sizeof(float); }
static inline const char *tc_name(leap_dtype act) { return act == LEAP_BF16 ? "bf16" : "f32"; }
static inline double tc_rtol(leap_dtype act) { return act == LEAP_BF16 ? 1e-2 : 1e-4; }

static inline void tc_sync(void) {
  TC_CHECK(cudaGetLastError());
  TC_CHECK(cudaStreamSynchronize(g_stream));
}

/* Fills n elements of dtype act with all-ones bits: NaN in f32 and in bf16. */
static inline void tc_poison(void *d, int64_t n, leap_dtype act) {
  TC_CHECK(cudaMemsetAsync(d, 0xFF, (size_t)n * tc_elem(act), g_stream));
}

static inline void *tc_alloc(int64_t n, leap_dtype act) {
  void *d = NULL;
  TC_CHECK(cudaMalloc(&d, (size_t)(n > 0 ? n : 1) * tc_elem(act)));
  tc_poison(d, n > 0 ? n : 1, act);
  return d;
}

/* Device buffer d (dtype act) = host floats x, converted. */
static inline void tc_set(void *d, const float *x, int64_t n, leap_dtype act) {
  if (n <= 0) return;
  if (act == LEAP_BF16) {
    uint16_t *b = malloc((size_t)n * sizeof *b);
    for (int64_t i = 0; i < n; i++) b[i] = tc_bf16_bits(x[i]);
    TC_CHECK(cudaMemcpyAsync(d, b, (size_t)n * sizeof *b, cudaMemcpyHostToDevice, g_stream));
    tc_sync();
    free(b);
  } else {
    TC_CHECK(cudaMemcpyAsync(d, x, (size_t)n * sizeof(float), cudaMemcpyHostToDevice, g_stream));
    tc_sync();
  }
}

static inline void *tc_upload(const float *x, int64_t n, leap_dtype act) {
  void *d = tc_alloc(n, act);
  tc_set(d, x, n, act);
  return d;
}

/* Host floats x = device buffer d (dtype act), after everything queued on the stream. */
static inline void tc_download(float *x, const void *d, int64_t n, leap_dtype act) {
  if (n <= 0) return;
  tc_sync();
  if (act == LEAP_BF16) {
    uint16_t *b = malloc((size_t)n * sizeof *b);
    TC_CHECK(cudaMemcpyAsync(b, d, (size_t)n * sizeof *b, cudaMemcpyDeviceToHost, g_stream));
    tc_sync();
    for (int64_t i = 0; i < n; i++) x[i] = tc_bf16_float(b[i]);
    free(b);
  } else {
    TC_CHECK(cudaMemcpyAsync(x, d, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost, g_stream));
    tc_sync();
  }
}

static inline float *tc_host(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static inline float *tc_dup(const float *x, int64_t n) {
  float *y = tc_host(n);
  memcpy(y, x, (size_t)(n > 0 ? n : 0) * sizeof(float));
  return y;
}

/* The device result d (dtype act) against the CPU's want: within atol + rtol(act) * |want|, NaN never passing. */
static inline void tc_expect(const char *what, const void *d, const float *want, int64_t n, leap_dtype act,
                             double atol) {
  float *got = tc_host(n);
  tc_download(got, d, n, act);
  leap_test_allclose(what, got, want, n, atol, tc_rtol(act));
  free(got);
}

/* Two results that must be bit-identical. */
static inline void tc_same_bits(const char *what, const float *a, const float *b, int64_t n) {
  LEAP_TEST_ASSERT(memcmp(a, b, (size_t)(n > 0 ? n : 0) * sizeof(float)) == 0, "%s: results differ", what);
}
/* One device buffer that a kernel call writes: how it starts each run and what the CPU made of it. */
typedef struct tc_result {
  const char *label;     /* what it holds, for messages */
  void *dev;             /* the device buffer */
  leap_dtype dtype;      /* its dtype */
  int64_t n;             /* its elements */
  const float *init;     /* the values it starts from (gradients accumulate), or NULL: poisoned with NaN */
  const float *want;     /* the CPU's result, or NULL for scratch (a workspace) that is only poisoned */
  double atol;           /* absolute tolerance; the relative one is tc_rtol(act) */
} tc_result;

#define TC_MAX_RESULTS 8

/* Runs launch(user) twice, each time from the results' starting state; checks the first run against the CPU and
 * the second for the same bits. */
static inline void tc_check_runs(const char *name, leap_dtype act, const tc_result *res, int nres,
                                 void (*launch)(void *user), void *user) {
  float *got[2][TC_MAX_RESULTS];
  for (int run = 0; run < 2; run++) {
    for (int r = 0; r < nres; r++) {
      if (res[r].init)
        tc_set(res[r].dev, res[r].init, res[r].n, res[r].dtype);
      else
        tc_poison(res[r].dev, res[r].n, res[r].dtype);
    }
    launch(user);
    for (int r = 0; r < nres; r++) {
      got[run][r] = tc_host(res[r].n);
      if (res[r].want) tc_download(got[run][r], res[r].dev, res[r].n, res[r].dtype);
    }
  }
  for (int r = 0; r < nres; r++) {
    if (res[r].want) {
      char what[256];
      snprintf(what, sizeof what, "%s [%s]: %s", name, tc_name(act), res[r].label);
      leap_test_allclose(what, got[0][r], res[r].want, res[r].n, res[r].atol, tc_rtol(act));
      tc_same_bits(what, got[0][r], got[1][r], res[r].n);
    }
    free(got[0][r]), free(got[1][r]);
  }
}

#endif
