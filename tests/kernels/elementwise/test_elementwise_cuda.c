/* Tests of the elementwise CUDA kernels against the CPU ones: add and mul with broadcasting (forward, in place, and
 * backward with the deterministic column sum, for row counts from 1 to more than 65535 column-sum blocks of 256
 * rows), scale, add_scalar, sum_rows with and without a second factor, and the f32/bf16 cast; in f32 and bf16
 * (inputs rounded on the host, the CPU run on the same values), with the broadcast operand b in the activation type
 * or in fp32 (a parameter), outputs NaN-poisoned, gradients accumulated onto random priors, two runs bit-identical.
 *
 * Tolerances: RTOL_F32 (1e-4) / RTOL_BF16 (1e-2) relative, plus atol 1e-6 for elementwise results (one rounding
 * each) and atol 2e-5 * sqrt(rows) (f32) or 1e-3 * sqrt(rows) (bf16) for sums over rows, whose magnitude is about
 * sqrt(rows). */
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

#include "kernels/elementwise/elementwise.h"

#include "tests/common/leap_test_cuda_dense.h"

#define ELEM_ATOL 1e-6

static const int64_t cases[][2] = {
    /* n, nb */
    {1, 1},       {7, 7},         {35, 7},         {1000, 10},    {3 * 129 * 33, 129 * 33},
    {69900, 300}, {600 * 50, 50}, {300001 * 3, 3}, {17000000, 1}, /* more rows than 65535 column-sum blocks of 256: the
                                                                     blocks grow */
};

static double sum_atol(leap_dtype t, int64_t rows) { return (t == LEAP_BF16 ? 1e-3 : 2e-5) * sqrt((double)rows); }

typedef struct {
  float *a, *b, *dout, *pda, *pdb; /* pda, pdb: the gradients' priors */
} ew_data;

/* The binary ops on the GPU from fresh buffers: out = a op b (and, for add, also in place into a copy of a), then
 * the backward pass into da, db starting at the priors. */
typedef struct {
  float *out, *inplace, *da, *db;
} ew_out;

static void run_binary(ew_out *r, bool mul, const ew_data *d, int64_t n, int64_t nb, leap_dtype t, leap_dtype bt,
                       cudaStream_t st) {
  leap_cuda_stream s = (leap_cuda_stream)st;
  void *a = dnew(d->a, n, t), *b = dnew(d->b, nb, bt), *out = dalloc(n, t), *ip = dnew(d->a, n, t);
  void *dout = dnew(d->dout, n, t), *da = dnew(d->pda, n, t), *db = dnew(d->pdb, nb, bt);
  void *ws = dalloc((int64_t)leap_sum_rows_workspace_floats_cuda(n / nb, nb), LEAP_F32);
  if (mul) {
    leap_mul_forward_cuda(out, a, b, n, nb, t, bt, s);
    leap_mul_forward_cuda(ip, ip, b, n, nb, t, bt, s);
    leap_mul_backward_cuda(da, db, (float *)ws, dout, a, b, n, nb, t, bt, s);
  } else {
    leap_add_forward_cuda(out, a, b, n, nb, t, bt, s);
    leap_add_forward_cuda(ip, ip, b, n, nb, t, bt, s);
    leap_add_backward_cuda(da, db, (float *)ws, dout, n, nb, t, bt, s);
  }
  dget(r->out, out, n, t);
  dget(r->inplace, ip, n, t);
  dget(r->da, da, n, t);
  dget(r->db, db, nb, bt);
  void *bufs[] = {a, b, out, ip, dout, da, db, ws};
  for (int i = 0; i < 8; i++) CK(cudaFree(bufs[i]));
}

static void test_binary(int ci, bool mul, leap_dtype t, leap_dtype bt, cudaStream_t st) {
  int64_t n = cases[ci][0], nb = cases[ci][1], rows = n / nb;
  uint64_t s = (uint64_t)ci * 64 + (mul ? 32 : 0);
  ew_data d = {hbuf(n), hbuf(nb), hbuf(n), hbuf(n), hbuf(nb)};
  leap_test_fill_normal(d.a, n, 1.0f, s + 1);
  leap_test_fill_normal(d.b, nb, 1.0f, s + 2);
  leap_test_fill_normal(d.dout, n, 1.0f, s + 3);
  leap_test_fill_uniform(d.pda, n, -1.0f, 1.0f, s + 4);
  leap_test_fill_uniform(d.pdb, nb, -1.0f, 1.0f, s + 5);
  if (t == LEAP_BF16) round_bf16(d.a, n), round_bf16(d.dout, n), round_bf16(d.pda, n);
  if (bt == LEAP_BF16) round_bf16(d.b, nb), round_bf16(d.pdb, nb);

  ew_out want = {hbuf(n), NULL, hcopy(d.pda, n), hcopy(d.pdb, nb)};
  float *ws = hbuf((int64_t)leap_sum_rows_workspace_floats(rows, nb));
  leap_test_poison(want.out, n);
  if (mul) {
    leap_mul_forward_cpu(want.out, d.a, d.b, n, nb);
    leap_mul_backward_cpu(want.da, want.db, ws, d.dout, d.a, d.b, n, nb);
  } else {
    leap_add_forward_cpu(want.out, d.a, d.b, n, nb);
    leap_add_backward_cpu(want.da, want.db, ws, d.dout, n, nb);
  }
  ew_out got[2];
  for (int run = 0; run < 2; run++) {
    got[run] = (ew_out){hbuf(n), hbuf(n), hbuf(n), hbuf(nb)};
    run_binary(&got[run], mul, &d, n, nb, t, bt, st);
  }
  char what[160];
  const char *op = mul ? "mul" : "add";
#define CHECK(field, count, dtype, atol)                                                                     \
  do {                                                                                                       \
    snprintf(what, sizeof what, "%s %s case %d %s (b %s)", op, #field, ci, dt_name(t), dt_name(bt));         \
    leap_test_allclose(what, got[0].field, want.field ? want.field : want.out, count, atol, rtol_of(dtype)); \
    same_bits(what, got[0].field, got[1].field, count);                                                      \
  } while (0)
  CHECK(out, n, t, ELEM_ATOL);
  CHECK(inplace, n, t, ELEM_ATOL);
  CHECK(da, n, t, ELEM_ATOL);
  CHECK(db, nb, bt, sum_atol(bt == LEAP_BF16 ? LEAP_BF16 : t, rows));
#undef CHECK
  for (int run = 0; run < 2; run++) free(got[run].out), free(got[run].inplace), free(got[run].da), free(got[run].db);
  free(want.out), free(want.da), free(want.db), free(ws);
  free(d.a), free(d.b), free(d.dout), free(d.pda), free(d.pdb);
}

/* scale forward and backward, add_scalar, sum_rows (with and without y) and the cast round trip. */
static void test_unary(int ci, leap_dtype t, cudaStream_t st) {
  leap_cuda_stream s = (leap_cuda_stream)st;
  int64_t n = cases[ci][0], cols = cases[ci][1], rows = n / cols;
  const float alpha = -0.375f, shift = 1.25f;
  float *a = hbuf(n), *y = hbuf(n), *prior = hbuf(n), *pdst = hbuf(cols);
  leap_test_fill_normal(a, n, 1.0f, 900 + (uint64_t)ci);
  leap_test_fill_normal(y, n, 1.0f, 901 + (uint64_t)ci);
  leap_test_fill_uniform(prior, n, -1.0f, 1.0f, 902 + (uint64_t)ci);
  leap_test_fill_uniform(pdst, cols, -1.0f, 1.0f, 903 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(a, n), round_bf16(y, n), round_bf16(prior, n);
  float *w_scale = hbuf(n), *w_acc = hcopy(prior, n), *w_shift = hbuf(n), *w_sum = hcopy(pdst, cols);
  float *w_dot = hcopy(pdst, cols), *ws = hbuf((int64_t)leap_sum_rows_workspace_floats(rows, cols));
  leap_scale_forward_cpu(w_scale, a, alpha, n);
  leap_scale_backward_cpu(w_acc, a, alpha, n);
  leap_add_scalar_forward_cpu(w_shift, a, shift, n);
  leap_sum_rows_cpu(w_sum, ws, a, NULL, rows, cols);
  leap_sum_rows_cpu(w_dot, ws, a, y, rows, cols);
  float *want[5] = {w_scale, w_acc, w_shift, w_sum, w_dot}, *got[2][6];
  for (int run = 0; run < 2; run++) {
    void *da = dnew(a, n, t), *dy = dnew(y, n, t), *o1 = dalloc(n, t), *o2 = dnew(prior, n, t), *o3 = dalloc(n, t);
    void *s1 = dnew(pdst, cols, LEAP_F32), *s2 = dnew(pdst, cols, LEAP_F32), *c1 = dalloc(n, LEAP_BF16);
    void *c2 = dalloc(n, LEAP_F32), *dws = dalloc((int64_t)leap_sum_rows_workspace_floats_cuda(rows, cols), LEAP_F32);
    leap_scale_forward_cuda(o1, da, alpha, n, t, s);
    leap_scale_backward_cuda(o2, da, alpha, n, t, s);
    leap_add_scalar_forward_cuda(o3, da, shift, n, t, s);
    leap_sum_rows_cuda(s1, LEAP_F32, (float *)dws, da, NULL, rows, cols, t, s);
    leap_sum_rows_cuda(s2, LEAP_F32, (float *)dws, da, dy, rows, cols, t, s);
    leap_cast_cuda(c1, LEAP_BF16, da, t, n, s);
    leap_cast_cuda(c2, LEAP_F32, c1, LEAP_BF16, n, s);
    int64_t counts[6] = {n, n, n, cols, cols, n};
    void *src[6] = {o1, o2, o3, s1, s2, c2};
    for (int i = 0; i < 6; i++) {
      got[run][i] = hbuf(counts[i]);
      dget(got[run][i], src[i], counts[i], i == 3 || i == 4 || i == 5 ? LEAP_F32 : t);
    }
    void *bufs[] = {da, dy, o1, o2, o3, s1, s2, c1, c2, dws};
    for (int i = 0; i < 10; i++) CK(cudaFree(bufs[i]));
  }
  const char *names[5] = {"scale", "scale backward", "add_scalar", "sum_rows", "sum_rows x*y"};
  for (int i = 0; i < 5; i++) {
    char what[128];
    snprintf(what, sizeof what, "%s case %d %s", names[i], ci, dt_name(t));
    int64_t cnt = i < 3 ? n : cols;
    leap_test_allclose(what, got[0][i], want[i], cnt, i < 3 ? ELEM_ATOL : sum_atol(LEAP_F32, rows),
                       i < 3 ? rtol_of(t) : RTOL_F32);
    same_bits(what, got[0][i], got[1][i], cnt);
  }
  /* The cast is exact: a rounded to bf16 on the host. */
  float *w_cast = hcopy(a, n);
  round_bf16(w_cast, n);
  LEAP_TEST_ASSERT(memcmp(got[0][5], w_cast, (size_t)n * sizeof(float)) == 0, "cast case %d %s: not the host rounding",
                   ci, dt_name(t));
  for (int run = 0; run < 2; run++)
    for (int i = 0; i < 6; i++) free(got[run][i]);
  for (int i = 0; i < 5; i++) free(want[i]);
  free(a), free(y), free(prior), free(pdst), free(ws), free(w_cast);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
    for (int mul = 0; mul < 2; mul++) {
      test_binary(ci, mul, LEAP_F32, LEAP_F32, st);
      test_binary(ci, mul, LEAP_BF16, LEAP_BF16, st);
      test_binary(ci, mul, LEAP_BF16, LEAP_F32, st);
    }
    test_unary(ci, LEAP_F32, st);
    test_unary(ci, LEAP_BF16, st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
