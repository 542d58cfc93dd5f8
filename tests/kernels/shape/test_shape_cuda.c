/* Tests of the transpose, concat and slice CUDA kernels against the CPU ones, in f32 and bf16 (inputs rounded to
 * bf16 on the host): transposes that keep the innermost dimension (the row path) and that move it (the tiled path),
 * with size-1 dimensions, up to 5 dimensions and sizes that are not multiples of the 32 x 32 tile; concatenations of
 * 1 to 8 inputs along inner and outer axes, with NULL gradients; slices at either end and in the middle. Outputs
 * NaN-poisoned, gradients accumulated onto random priors, two runs bit-identical. Data movement is exact, so results
 * are compared exactly (atol 0, rtol 0), the bf16 gradients against the CPU's fp32 sums rounded to bf16 once. */
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

#include "kernels/shape/shape.h"

#include "tests/common/leap_test_cuda_dense.h"

typedef struct {
  int ndim;
  int64_t shape[LEAP_TRANSPOSE_MAX_DIMS];
  int perm[LEAP_TRANSPOSE_MAX_DIMS];
} tr_case;

static const tr_case tr_cases[] = {
    {4, {2, 3, 4, 5}, {0, 2, 1, 3}},       {2, {33, 65}, {1, 0}},
    {3, {3, 70, 40}, {2, 1, 0}},           {5, {2, 1, 5, 1, 7}, {4, 3, 2, 1, 0}},
    {4, {4, 33, 5, 17}, {0, 3, 1, 2}},     {3, {1, 1, 1}, {2, 0, 1}},
    {3, {5, 129, 130}, {0, 2, 1}},         {1, {1000}, {0}},
    {5, {3, 2, 4, 3, 5}, {3, 0, 4, 2, 1}},
};

/* Checks got (two runs) against want exactly. */
static void check_exact(const char *what, float *const got[2], const float *want, int64_t n) {
  leap_test_allclose(what, got[0], want, n, 0.0, 0.0);
  same_bits(what, got[0], got[1], n);
}

static void test_transpose(int ci, leap_dtype t, cudaStream_t st) {
  const tr_case *k = &tr_cases[ci];
  int64_t n = 1;
  for (int d = 0; d < k->ndim; d++) n *= k->shape[d];
  float *x = hbuf(n), *dout = hbuf(n), *prior = hbuf(n);
  leap_test_fill_normal(x, n, 1.0f, 100 + (uint64_t)ci);
  leap_test_fill_normal(dout, n, 1.0f, 200 + (uint64_t)ci);
  leap_test_fill_uniform(prior, n, -1.0f, 1.0f, 300 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(x, n), round_bf16(dout, n), round_bf16(prior, n);
  float *want = hbuf(n), *want_d = hcopy(prior, n);
  leap_test_poison(want, n);
  leap_transpose_forward_cpu(want, x, k->shape, k->perm, k->ndim);
  leap_transpose_backward_cpu(want_d, dout, k->shape, k->perm, k->ndim);
  if (t == LEAP_BF16) round_bf16(want_d, n);
  float *got[2] = {hbuf(n), hbuf(n)}, *got_d[2] = {hbuf(n), hbuf(n)};
  for (int run = 0; run < 2; run++) {
    void *dx = dnew(x, n, t), *out = dalloc(n, t), *dd = dnew(dout, n, t), *g = dnew(prior, n, t);
    leap_transpose_forward_cuda(out, dx, k->shape, k->perm, k->ndim, t, (leap_cuda_stream)st);
    leap_transpose_backward_cuda(g, dd, k->shape, k->perm, k->ndim, t, (leap_cuda_stream)st);
    dget(got[run], out, n, t);
    dget(got_d[run], g, n, t);
    void *bufs[] = {dx, out, dd, g};
    for (int i = 0; i < 4; i++) CK(cudaFree(bufs[i]));
  }
  char what[128];
  snprintf(what, sizeof what, "transpose forward case %d %s", ci, dt_name(t));
  check_exact(what, got, want, n);
  snprintf(what, sizeof what, "transpose backward case %d %s", ci, dt_name(t));
  check_exact(what, got_d, want_d, n);
  for (int r = 0; r < 2; r++) free(got[r]), free(got_d[r]);
  free(x), free(dout), free(prior), free(want), free(want_d);
}

typedef struct {
  int n;
  int64_t sizes[LEAP_CONCAT_MAX_INPUTS];
  int64_t outer, inner;
  int null_grad; /* this input's gradient is NULL (-1: none) */
} cat_case;

static const cat_case cat_cases[] = {
    {1, {7}, 3, 5, -1},       {2, {3, 4}, 17, 1, -1}, {3, {1, 30, 2}, 5, 33, 1}, {8, {1, 2, 3, 4, 5, 6, 7, 8}, 9, 3, 0},
    {2, {65, 1}, 1, 130, -1},
};

static void test_concat(int ci, leap_dtype t, cudaStream_t st) {
  const cat_case *k = &cat_cases[ci];
  int64_t total = 0, sizes_n[LEAP_CONCAT_MAX_INPUTS];
  for (int i = 0; i < k->n; i++) total += k->sizes[i], sizes_n[i] = k->outer * k->sizes[i] * k->inner;
  int64_t nw = k->outer * total * k->inner;
  float *parts[LEAP_CONCAT_MAX_INPUTS], *priors[LEAP_CONCAT_MAX_INPUTS], *wd[LEAP_CONCAT_MAX_INPUTS];
  for (int i = 0; i < k->n; i++) {
    parts[i] = hbuf(sizes_n[i]), priors[i] = hbuf(sizes_n[i]);
    leap_test_fill_normal(parts[i], sizes_n[i], 1.0f, 400 + (uint64_t)(ci * 10 + i));
    leap_test_fill_uniform(priors[i], sizes_n[i], -1.0f, 1.0f, 500 + (uint64_t)(ci * 10 + i));
    if (t == LEAP_BF16) round_bf16(parts[i], sizes_n[i]), round_bf16(priors[i], sizes_n[i]);
    wd[i] = i == k->null_grad ? NULL : hcopy(priors[i], sizes_n[i]);
  }
  float *dout = hbuf(nw), *want = hbuf(nw);
  leap_test_fill_normal(dout, nw, 1.0f, 600 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(dout, nw);
  leap_test_poison(want, nw);
  leap_concat_forward_cpu(want, (const float *const *)parts, k->sizes, k->n, k->outer, k->inner);
  leap_concat_backward_cpu(wd, dout, k->sizes, k->n, k->outer, k->inner);
  float *got[2] = {hbuf(nw), hbuf(nw)}, *got_d[2][LEAP_CONCAT_MAX_INPUTS];
  for (int run = 0; run < 2; run++) {
    void *dparts[LEAP_CONCAT_MAX_INPUTS], *dgrads[LEAP_CONCAT_MAX_INPUTS];
    for (int i = 0; i < k->n; i++) {
      dparts[i] = dnew(parts[i], sizes_n[i], t);
      dgrads[i] = i == k->null_grad ? NULL : dnew(priors[i], sizes_n[i], t);
    }
    void *out = dalloc(nw, t), *dd = dnew(dout, nw, t);
    leap_concat_forward_cuda(out, (const void *const *)dparts, k->sizes, k->n, k->outer, k->inner, t,
                             (leap_cuda_stream)st);
    leap_concat_backward_cuda(dgrads, dd, k->sizes, k->n, k->outer, k->inner, t, (leap_cuda_stream)st);
    dget(got[run], out, nw, t);
    for (int i = 0; i < k->n; i++) {
      got_d[run][i] = hbuf(sizes_n[i]);
      if (dgrads[i]) dget(got_d[run][i], dgrads[i], sizes_n[i], t);
      CK(cudaFree(dparts[i]));
      if (dgrads[i]) CK(cudaFree(dgrads[i]));
    }
    CK(cudaFree(out));
    CK(cudaFree(dd));
  }
  char what[128];
  snprintf(what, sizeof what, "concat forward case %d %s", ci, dt_name(t));
  check_exact(what, got, want, nw);
  for (int i = 0; i < k->n; i++) {
    if (wd[i]) {
      if (t == LEAP_BF16) round_bf16(wd[i], sizes_n[i]);
      snprintf(what, sizeof what, "concat backward case %d input %d %s", ci, i, dt_name(t));
      float *g[2] = {got_d[0][i], got_d[1][i]};
      check_exact(what, g, wd[i], sizes_n[i]);
    }
    free(parts[i]), free(priors[i]), free(wd[i]), free(got_d[0][i]), free(got_d[1][i]);
  }
  free(got[0]), free(got[1]), free(dout), free(want);
}

static const int64_t slice_cases[][5] = {
    /* outer, dim, inner, start, end */
    {1, 1, 1, 0, 1}, {3, 10, 5, 0, 4}, {17, 33, 1, 30, 33}, {5, 70, 33, 7, 60}, {2, 1000, 3, 0, 1000},
};

static void test_slice(int ci, leap_dtype t, cudaStream_t st) {
  int64_t outer = slice_cases[ci][0], dim = slice_cases[ci][1], inner = slice_cases[ci][2];
  int64_t start = slice_cases[ci][3], end = slice_cases[ci][4], nw = outer * dim * inner;
  int64_t np = outer * (end - start) * inner;
  float *x = hbuf(nw), *dout = hbuf(np), *prior = hbuf(nw);
  leap_test_fill_normal(x, nw, 1.0f, 700 + (uint64_t)ci);
  leap_test_fill_normal(dout, np, 1.0f, 800 + (uint64_t)ci);
  leap_test_fill_uniform(prior, nw, -1.0f, 1.0f, 900 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(x, nw), round_bf16(dout, np), round_bf16(prior, nw);
  float *want = hbuf(np), *want_d = hcopy(prior, nw);
  leap_test_poison(want, np);
  leap_slice_forward_cpu(want, x, outer, dim, inner, start, end);
  leap_slice_backward_cpu(want_d, dout, outer, dim, inner, start, end);
  if (t == LEAP_BF16) round_bf16(want_d, nw);
  float *got[2] = {hbuf(np), hbuf(np)}, *got_d[2] = {hbuf(nw), hbuf(nw)};
  for (int run = 0; run < 2; run++) {
    void *dx = dnew(x, nw, t), *out = dalloc(np, t), *dd = dnew(dout, np, t), *g = dnew(prior, nw, t);
    leap_slice_forward_cuda(out, dx, outer, dim, inner, start, end, t, (leap_cuda_stream)st);
    leap_slice_backward_cuda(g, dd, outer, dim, inner, start, end, t, (leap_cuda_stream)st);
    dget(got[run], out, np, t);
    dget(got_d[run], g, nw, t);
    void *bufs[] = {dx, out, dd, g};
    for (int i = 0; i < 4; i++) CK(cudaFree(bufs[i]));
  }
  char what[128];
  snprintf(what, sizeof what, "slice forward case %d %s", ci, dt_name(t));
  check_exact(what, got, want, np);
  snprintf(what, sizeof what, "slice backward case %d %s", ci, dt_name(t));
  check_exact(what, got_d, want_d, nw);
  for (int r = 0; r < 2; r++) free(got[r]), free(got_d[r]);
  free(x), free(dout), free(prior), free(want), free(want_d);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  const leap_dtype dts[2] = {LEAP_F32, LEAP_BF16};
  for (int ti = 0; ti < 2; ti++) {
    for (int ci = 0; ci < (int)(sizeof tr_cases / sizeof tr_cases[0]); ci++) test_transpose(ci, dts[ti], st);
    for (int ci = 0; ci < (int)(sizeof cat_cases / sizeof cat_cases[0]); ci++) test_concat(ci, dts[ti], st);
    for (int ci = 0; ci < (int)(sizeof slice_cases / sizeof slice_cases[0]); ci++) test_slice(ci, dts[ti], st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
