/* Tests of leap_layernorm_forward_cuda and leap_layernorm_backward_cuda against the CPU kernels, in f32 and bf16
 * (inputs rounded to bf16 on the host, the CPU run on the same values; weight, bias, their gradients and the saved
 * statistics fp32), with and without weight and bias, in place, rows with a large mean (the two-pass variance),
 * row counts above one column-sum block (dweight and dbias then go through the workspace); outputs NaN-poisoned,
 * gradients accumulated onto random priors, two runs bit-identical.
 *
 * Tolerances: f32 within RTOL_F32 (1e-4) relative plus atol 1e-5 for out, mean, rstd and dinp, and 2e-5 * sqrt(N)
 * for dweight and dbias (sums over N rows); bf16 outputs (out, dinp) within RTOL_BF16 (1e-2) plus atol 1e-2, the
 * fp32 results of bf16 runs as in f32. */
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

#include "kernels/layernorm/layernorm.h"

#include "tests/common/leap_test_cuda_dense.h"

typedef struct {
  int64_t N, C;
  bool weight, bias, inplace;
} ln_case;

static const ln_case cases[] = {{1, 1, true, true, false},      {3, 5, true, true, false},
                                {17, 33, false, true, false},   {65, 768, true, true, true},
                                {300, 129, true, false, false}, {1000, 31, false, false, false},
                                {2, 4097, true, true, false},   {777, 70, true, true, true}};

#define LN_EPS 1e-5f

typedef struct {
  float *out, *mean, *rstd, *dx, *dw, *db;
} ln_out;

static void run_gpu(ln_out *r, const ln_case *k, const float *x, const float *w, const float *b, const float *dout,
                    const float *pdx, const float *pdw, const float *pdb, leap_dtype t, cudaStream_t st) {
  int64_t N = k->N, C = k->C;
  leap_cuda_stream s = (leap_cuda_stream)st;
  void *dx_in = dnew(x, N * C, t), *out = k->inplace ? dnew(x, N * C, t) : dalloc(N * C, t);
  void *mean = dalloc(N, LEAP_F32), *rstd = dalloc(N, LEAP_F32), *dd = dnew(dout, N * C, t);
  void *dw = k->weight ? dnew(w, C, LEAP_F32) : NULL, *db = k->bias ? dnew(b, C, LEAP_F32) : NULL;
  void *gx = dnew(pdx, N * C, t), *gw = dnew(pdw, C, LEAP_F32), *gb = dnew(pdb, C, LEAP_F32);
  void *ws = dalloc((int64_t)leap_layernorm_backward_workspace_floats_cuda(N, C), LEAP_F32);
  leap_layernorm_forward_cuda(out, (float *)mean, (float *)rstd, k->inplace ? out : dx_in, (const float *)dw,
                              (const float *)db, N, C, LN_EPS, t, s);
  leap_layernorm_backward_cuda(gx, (float *)gw, (float *)gb, (float *)ws, dd, dx_in, (const float *)dw,
                               (const float *)mean, (const float *)rstd, N, C, t, s);
  dget(r->out, out, N * C, t);
  dget(r->mean, mean, N, LEAP_F32);
  dget(r->rstd, rstd, N, LEAP_F32);
  dget(r->dx, gx, N * C, t);
  dget(r->dw, gw, C, LEAP_F32);
  dget(r->db, gb, C, LEAP_F32);
  void *bufs[] = {dx_in, out, mean, rstd, dd, dw, db, gx, gw, gb, ws};
  for (int i = 0; i < 11; i++)
    if (bufs[i]) CK(cudaFree(bufs[i]));
}

static void test_case(int ci, leap_dtype t, cudaStream_t st) {
  const ln_case *k = &cases[ci];
  int64_t N = k->N, C = k->C;
  uint64_t s = (uint64_t)ci * 16;
  float *x = hbuf(N * C), *w = hbuf(C), *b = hbuf(C), *dout = hbuf(N * C), *pdx = hbuf(N * C), *pdw = hbuf(C),
        *pdb = hbuf(C);
  leap_test_fill_normal(x, N * C, 2.0f, s + 1);
  for (int64_t i = 0; i < N * C; i++) x[i] += 3.0f; /* a mean well away from 0 */
  leap_test_fill_normal(w, C, 1.0f, s + 2);
  leap_test_fill_normal(b, C, 1.0f, s + 3);
  leap_test_fill_normal(dout, N * C, 1.0f, s + 4);
  leap_test_fill_uniform(pdx, N * C, -1.0f, 1.0f, s + 5);
  leap_test_fill_uniform(pdw, C, -1.0f, 1.0f, s + 6);
  leap_test_fill_uniform(pdb, C, -1.0f, 1.0f, s + 7);
  if (t == LEAP_BF16) round_bf16(x, N * C), round_bf16(dout, N * C), round_bf16(pdx, N * C);

  ln_out want = {hbuf(N * C), hbuf(N), hbuf(N), hcopy(pdx, N * C), hcopy(pdw, C), hcopy(pdb, C)};
  float *ws = hbuf((int64_t)leap_layernorm_backward_workspace_floats(N, C));
  leap_test_poison(want.out, N * C);
  leap_layernorm_forward_cpu(want.out, want.mean, want.rstd, x, k->weight ? w : NULL, k->bias ? b : NULL, N, C, LN_EPS);
  leap_layernorm_backward_cpu(want.dx, want.dw, want.db, ws, dout, x, k->weight ? w : NULL, want.mean, want.rstd, N, C);
  ln_out got[2];
  for (int run = 0; run < 2; run++) {
    got[run] = (ln_out){hbuf(N * C), hbuf(N), hbuf(N), hbuf(N * C), hbuf(C), hbuf(C)};
    run_gpu(&got[run], k, x, w, b, dout, pdx, pdw, pdb, t, st);
  }
  const char *names[6] = {"out", "mean", "rstd", "dinp", "dweight", "dbias"};
  float *g[6] = {got[0].out, got[0].mean, got[0].rstd, got[0].dx, got[0].dw, got[0].db};
  float *g2[6] = {got[1].out, got[1].mean, got[1].rstd, got[1].dx, got[1].dw, got[1].db};
  float *wn[6] = {want.out, want.mean, want.rstd, want.dx, want.dw, want.db};
  int64_t n[6] = {N * C, N, N, N * C, C, C};
  for (int i = 0; i < 6; i++) {
    char what[128];
    snprintf(what, sizeof what, "layernorm %s case %d %s", names[i], ci, dt_name(t));
    bool act_out = i == 0 || i == 3;
    double atol = act_out && t == LEAP_BF16 ? 1e-2 : (i >= 4 ? 2e-5 * sqrt((double)N) : 1e-5);
    leap_test_allclose(what, g[i], wn[i], n[i], atol, act_out ? rtol_of(t) : RTOL_F32);
    same_bits(what, g[i], g2[i], n[i]);
  }
  for (int i = 0; i < 6; i++) free(g[i]), free(g2[i]), free(wn[i]);
  free(x), free(w), free(b), free(dout), free(pdx), free(pdw), free(pdb), free(ws);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
    test_case(ci, LEAP_F32, st);
    test_case(ci, LEAP_BF16, st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
