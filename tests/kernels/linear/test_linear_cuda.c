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

#include "tests/common/leap_test_cuda_dense.h"

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
