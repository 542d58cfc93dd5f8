/* Tests of leap_linear_forward_cuda and leap_linear_backward_cuda against the CPU kernels, in f32 and bf16 (inputs
 * and the weight's bf16 copy rounded on the host, the CPU run on the same values; weight, bias and their gradients
 * fp32), with and without bias, the forward through cuBLASLt's bias epilogue and through the plain path, outputs
 * NaN-poisoned, gradients accumulated onto random priors, row counts above one column-sum block (dbias then goes
 * through the workspace), and two runs bit-identical.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 2e-5 * sqrt(D); bf16 within RTOL_BF16 (1e-2) plus
 * atol 1e-2 * sqrt(D), D the product's inner dimension (IN for out, OUT for dinp, N for dweight and dbias). */
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
#include "kernels/linear/linear.h"

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

typedef struct {
  int64_t N, IN, OUT;
  bool bias;
} lin_case;

static const lin_case cases[] = {{1, 1, 1, true},    {3, 5, 7, true},       {17, 33, 9, false},
                                 {65, 13, 31, true}, {130, 64, 129, true},  {2, 300, 3, true},
                                 {600, 40, 7, true}, {1000, 33, 65, false}, {777, 129, 95, true}};

typedef struct {
  float *x, *w, *wr, *b, *dout, *pdx, *pdw, *pdb; /* wr: the weight as the products see it (bf16-rounded in bf16) */
} lin_data;

typedef struct {
  float *out, *dx, *dw, *db;
} lin_out;

static void run_gpu(lin_out *r, leap_cuda_blas *blas, const lin_case *k, const lin_data *d, leap_dtype t, bool lt) {
  int64_t N = k->N, IN = k->IN, OUT = k->OUT;
  void *x = dnew(d->x, N * IN, t), *dout = dnew(d->dout, N * OUT, t), *out = dalloc(N * OUT, t);
  void *w = dnew(d->w, OUT * IN, LEAP_F32), *wl = t == LEAP_BF16 ? dnew(d->wr, OUT * IN, LEAP_BF16) : NULL;
  void *b = k->bias ? dnew(d->b, OUT, LEAP_F32) : NULL;
  void *dx = dnew(d->pdx, N * IN, t), *dw = dnew(d->pdw, OUT * IN, LEAP_F32), *db = dnew(d->pdb, OUT, LEAP_F32);
  void *ws = dalloc((int64_t)leap_linear_backward_workspace_floats_cuda(N, OUT), LEAP_F32);
  leap_cuda_blas_use_lt(blas, lt);
  leap_linear_forward_cuda(out, x, (const float *)w, wl, (const float *)b, N, IN, OUT, t, blas);
  leap_cuda_blas_use_lt(blas, true);
  leap_linear_backward_cuda(dx, (float *)dw, (float *)db, (float *)ws, dout, x, (const float *)w, wl, N, IN, OUT, t,
                            blas);
  dget(r->out, out, N * OUT, t);
  dget(r->dx, dx, N * IN, t);
  dget(r->dw, dw, OUT * IN, LEAP_F32);
  dget(r->db, db, OUT, LEAP_F32);
  void *bufs[] = {x, dout, out, w, wl, b, dx, dw, db, ws};
  for (int i = 0; i < 10; i++)
    if (bufs[i]) CK(cudaFree(bufs[i]));
}

static void test_case(leap_cuda_blas *blas, int ci, leap_dtype t, bool lt) {
  const lin_case *k = &cases[ci];
  int64_t N = k->N, IN = k->IN, OUT = k->OUT;
  uint64_t s = (uint64_t)ci * 32;
  lin_data d = {hbuf(N * IN), hbuf(OUT * IN), NULL, hbuf(OUT), hbuf(N * OUT), hbuf(N * IN), hbuf(OUT * IN), hbuf(OUT)};
  leap_test_fill_normal(d.x, N * IN, 1.0f, s + 1);
  leap_test_fill_normal(d.w, OUT * IN, 0.5f, s + 2);
  leap_test_fill_normal(d.b, OUT, 1.0f, s + 3);
  leap_test_fill_normal(d.dout, N * OUT, 1.0f, s + 4);
  leap_test_fill_uniform(d.pdx, N * IN, -1.0f, 1.0f, s + 5);
  leap_test_fill_uniform(d.pdw, OUT * IN, -1.0f, 1.0f, s + 6);
  leap_test_fill_uniform(d.pdb, OUT, -1.0f, 1.0f, s + 7);
  d.wr = hcopy(d.w, OUT * IN);
  if (t == LEAP_BF16)
    round_bf16(d.x, N * IN), round_bf16(d.dout, N * OUT), round_bf16(d.pdx, N * IN), round_bf16(d.wr, OUT * IN);

  lin_out want = {hbuf(N * OUT), hcopy(d.pdx, N * IN), hcopy(d.pdw, OUT * IN), hcopy(d.pdb, OUT)};
  float *ws = hbuf((int64_t)leap_linear_backward_workspace_floats(N, OUT));
  leap_test_poison(want.out, N * OUT);
  leap_linear_forward_cpu(want.out, d.x, d.wr, k->bias ? d.b : NULL, N, IN, OUT);
  leap_linear_backward_cpu(want.dx, want.dw, want.db, ws, d.dout, d.x, d.wr, N, IN, OUT);

  lin_out got[2];
  for (int run = 0; run < 2; run++) {
    got[run] = (lin_out){hbuf(N * OUT), hbuf(N * IN), hbuf(OUT * IN), hbuf(OUT)};
    run_gpu(&got[run], blas, k, &d, t, lt);
  }
  const char *names[4] = {"out", "dinp", "dweight", "dbias"};
  float *g[4] = {got[0].out, got[0].dx, got[0].dw, got[0].db}, *g2[4] = {got[1].out, got[1].dx, got[1].dw, got[1].db};
  float *w[4] = {want.out, want.dx, want.dw, want.db};
  int64_t n[4] = {N * OUT, N * IN, OUT * IN, OUT}, inner[4] = {IN, OUT, N, N};
  for (int i = 0; i < 4; i++) {
    char what[160];
    snprintf(what, sizeof what, "linear %s case %d %s %s", names[i], ci, dt_name(t), lt ? "cuBLASLt" : "plain");
    double atol = (t == LEAP_BF16 && i < 2 ? 1e-2 : 2e-5) * sqrt((double)inner[i]);
    leap_test_allclose(what, g[i], w[i], n[i], atol, i < 2 ? rtol_of(t) : RTOL_F32 * (t == LEAP_BF16 ? 10 : 1));
    same_bits(what, g[i], g2[i], n[i]);
  }
  for (int i = 0; i < 4; i++) free(g[i]), free(g2[i]), free(w[i]);
  free(d.x), free(d.w), free(d.wr), free(d.b), free(d.dout), free(d.pdx), free(d.pdw), free(d.pdb), free(ws);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  leap_cuda_blas *blas = leap_cuda_blas_create((leap_cuda_stream)stream);
  for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
    test_case(blas, ci, LEAP_F32, true);
    test_case(blas, ci, LEAP_F32, false);
    test_case(blas, ci, LEAP_BF16, true);
    test_case(blas, ci, LEAP_BF16, false);
  }
  leap_cuda_blas_destroy(blas);
  CK(cudaStreamDestroy(stream));
  return leap_test_finish();
}

#endif
