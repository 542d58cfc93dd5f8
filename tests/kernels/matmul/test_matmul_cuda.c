/* Tests of leap_matmul_forward_cuda and leap_matmul_backward_cuda against the CPU kernels: every combination of
 * trans_a, trans_b and broadcast_b over odd shapes, in f32 and bf16 (inputs rounded to bf16 on the host, the CPU
 * run on the same values), outputs NaN-poisoned, gradients accumulated onto random priors, and two runs
 * bit-identical.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 2e-5 * sqrt(D), bf16 within RTOL_BF16 (1e-2) relative
 * plus atol 1e-2 * sqrt(D), where D is the longest inner dimension of the three products (a sum of D unit-normal
 * products has magnitude sqrt(D)). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/dtype.h"
#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_CUDA
int main(void) {
  puts("skipped: built without CUDA");
  return LEAP_TEST_SKIP_CODE;
}
#else
#include <cuda_runtime.h>

#include "kernels/blas/blas_cuda.h"
#include "kernels/matmul/matmul.h"

/* ---- CUDA test helpers (the same block in every tests/kernels/<op>/test_<op>_cuda.c) ---- */
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
/* ---- end of the CUDA test helpers ---- */

static const int64_t shapes[][4] = {
    /* batch, M, N, K */
    {1, 1, 1, 1}, {3, 5, 7, 4}, {2, 13, 1, 9}, {4, 2, 3, 65}, {1, 33, 17, 70}, {3, 65, 31, 130}, {2, 129, 67, 33},
};

typedef struct {
  float *out, *da, *db;
} results;

static int64_t b_numel(const leap_matmul_shape *s) { return (s->broadcast_b ? 1 : s->batch) * s->K * s->N; }

/* One GPU forward and backward from fresh device buffers: out poisoned, da and db starting at the priors. */
static void run_gpu(results *r, leap_cuda_blas *blas, const leap_matmul_shape *s, const float *a, const float *b,
                    const float *dout, const float *pa, const float *pb, leap_dtype t) {
  int64_t na = s->batch * s->M * s->K, nb = b_numel(s), no = s->batch * s->M * s->N;
  void *da_ = dnew(a, na, t), *db_ = dnew(b, nb, t), *dd = dnew(dout, no, t);
  void *dout_ = dalloc(no, t), *ga = dnew(pa, na, t), *gb = dnew(pb, nb, t);
  leap_matmul_forward_cuda(dout_, da_, db_, s, t, blas);
  leap_matmul_backward_cuda(ga, gb, dd, da_, db_, s, t, blas);
  dget(r->out, dout_, no, t);
  dget(r->da, ga, na, t);
  dget(r->db, gb, nb, t);
  void *bufs[] = {da_, db_, dd, dout_, ga, gb};
  for (int i = 0; i < 6; i++) CK(cudaFree(bufs[i]));
}

static void test_case(leap_cuda_blas *blas, int si, bool ta, bool tb, bool bc, leap_dtype t) {
  leap_matmul_shape s = {shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], ta, tb, bc};
  int64_t na = s.batch * s.M * s.K, nb = b_numel(&s), no = s.batch * s.M * s.N;
  uint64_t seed = (uint64_t)si * 16 + (ta ? 8 : 0) + (tb ? 4 : 0) + (bc ? 2 : 0);
  float *a = hbuf(na), *b = hbuf(nb), *dout = hbuf(no), *pa = hbuf(na), *pb = hbuf(nb);
  leap_test_fill_normal(a, na, 1.0f, seed);
  leap_test_fill_normal(b, nb, 1.0f, seed + 1000);
  leap_test_fill_normal(dout, no, 1.0f, seed + 2000);
  leap_test_fill_uniform(pa, na, -1.0f, 1.0f, seed + 3000);
  leap_test_fill_uniform(pb, nb, -1.0f, 1.0f, seed + 4000);
  if (t == LEAP_BF16)
    round_bf16(a, na), round_bf16(b, nb), round_bf16(dout, no), round_bf16(pa, na), round_bf16(pb, nb);

  results want = {hbuf(no), hcopy(pa, na), hcopy(pb, nb)};
  leap_test_poison(want.out, no);
  leap_matmul_forward_cpu(want.out, a, b, &s);
  leap_matmul_backward_cpu(want.da, want.db, dout, a, b, &s);

  results got[2];
  for (int run = 0; run < 2; run++) {
    got[run] = (results){hbuf(no), hbuf(na), hbuf(nb)};
    run_gpu(&got[run], blas, &s, a, b, dout, pa, pb, t);
  }
  int64_t d = s.K;
  if (s.N > d) d = s.N;
  if (s.batch * s.M > d) d = s.batch * s.M;
  double atol = (t == LEAP_BF16 ? 1e-2 : 2e-5) * sqrt((double)d);
  char what[160];
  const char *names[3] = {"out", "da", "db"};
  float *g[3] = {got[0].out, got[0].da, got[0].db}, *g2[3] = {got[1].out, got[1].da, got[1].db};
  float *w[3] = {want.out, want.da, want.db};
  int64_t n[3] = {no, na, nb};
  for (int i = 0; i < 3; i++) {
    snprintf(what, sizeof what, "matmul %s shape %d ta=%d tb=%d bcast=%d %s", names[i], si, ta, tb, bc, dt_name(t));
    leap_test_allclose(what, g[i], w[i], n[i], atol, rtol_of(t));
    same_bits(what, g[i], g2[i], n[i]);
  }
  for (int i = 0; i < 3; i++) free(g[i]), free(g2[i]), free(w[i]);
  free(a), free(b), free(dout), free(pa), free(pb);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  leap_cuda_blas *blas = leap_cuda_blas_create((leap_cuda_stream)stream);
  const leap_dtype dts[2] = {LEAP_F32, LEAP_BF16};
  for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
    for (int combo = 0; combo < 8; combo++)
      for (int ti = 0; ti < 2; ti++) test_case(blas, si, combo & 4, combo & 2, combo & 1, dts[ti]);
  leap_cuda_blas_destroy(blas);
  CK(cudaStreamDestroy(stream));
  return leap_test_finish();
}

#endif
