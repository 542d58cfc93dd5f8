/* Tests of transpose, concat and slice: forward against naive index arithmetic (every permutation of 2-, 3- and
 * 4-d shapes and a selection of 5-d ones, with sizes of 1 that the kernel folds away), accumulating backward
 * against the same, NULL gradients in concat, finite-difference gradient checks, and bit-identical results on 1 and
 * 2 threads. Data movement is exact, so values are compared bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/shape/shape.h"
#include "tests/common/leap_test.h"

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static int64_t numel(const int64_t *shape, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return n;
}

/* Naive transpose: for every output index, unravel it and read the input. */
static void transpose_ref(float *out, const float *in, const int64_t *shape, const int *perm, int ndim) {
  int64_t stride[LEAP_TRANSPOSE_MAX_DIMS], oshape[LEAP_TRANSPOSE_MAX_DIMS], st = 1;
  for (int d = ndim - 1; d >= 0; d--) stride[d] = st, st *= shape[d];
  for (int d = 0; d < ndim; d++) oshape[d] = shape[perm[d]];
  for (int64_t o = 0; o < st; o++) {
    int64_t rem = o, i = 0;
    for (int d = ndim - 1; d >= 0; d--) i += (rem % oshape[d]) * stride[perm[d]], rem /= oshape[d];
    out[o] = in[i];
  }
}

static bool next_perm(int *p, int n) {
  int i = n - 2;
  while (i >= 0 && p[i] > p[i + 1]) i--;
  if (i < 0) return false;
  int j = n - 1;
  while (p[j] < p[i]) j--;
  int t = p[i];
  p[i] = p[j], p[j] = t;
  for (int a = i + 1, b = n - 1; a < b; a++, b--) t = p[a], p[a] = p[b], p[b] = t;
  return true;
}

typedef struct {
  float *in, *out, *w;
  const int64_t *shape;
  const int *perm;
  int ndim;
} tr_ctx;

static double tr_loss(void *user) {
  tr_ctx *c = user;
  leap_transpose_forward_cpu(c->out, c->in, c->shape, c->perm, c->ndim);
  return leap_test_dot(c->out, c->w, numel(c->shape, c->ndim));
}

static void test_transpose(const int64_t *shape, const int *perm, int ndim, bool gradcheck) {
  int64_t n = numel(shape, ndim);
  float *in = floats(n), *out = floats(n), *want = floats(n), *dout = floats(n), *din = floats(n);
  leap_test_fill_normal(in, n, 1.0f, (uint64_t)n);
  leap_test_fill_normal(dout, n, 1.0f, (uint64_t)n + 1);
  leap_test_poison(out, n);
  leap_transpose_forward_cpu(out, in, shape, perm, ndim);
  transpose_ref(want, in, shape, perm, ndim);
  bool ok = memcmp(out, want, (size_t)n * 4) == 0;
  /* Backward: din (starting at 1) += dout permuted back, i.e. din[i] = 1 + dout[o] where the forward read i for o. */
  for (int64_t i = 0; i < n; i++) din[i] = 1.0f, in[i] = (float)i;
  transpose_ref(want, in, shape, perm, ndim);
  leap_transpose_backward_cpu(din, dout, shape, perm, ndim);
  for (int64_t o = 0; o < n; o++) ok = ok && din[(int64_t)want[o]] == 1.0f + dout[o];
  LEAP_TEST_ASSERT(ok, "transpose ndim %d shape (%lld,%lld,...) perm (%d,%d,...) differs", ndim, (long long)shape[0],
                   (long long)(ndim > 1 ? shape[1] : 1), perm[0], ndim > 1 ? perm[1] : 0);
  if (gradcheck) {
    leap_test_fill_normal(in, n, 1.0f, 3);
    memset(din, 0, (size_t)n * 4);
    leap_transpose_backward_cpu(din, dout, shape, perm, ndim);
    tr_ctx c = {in, out, dout, shape, perm, ndim};
    leap_test_gradcheck("transpose", tr_loss, &c, in, din, n, 1e-2, 1e-3, 1e-2, 100);
  }
  free(in), free(out), free(want), free(dout), free(din);
}

static void test_all_transposes(void) {
  const int64_t shapes[][5] = {{7, 1, 1, 1, 1}, {5, 3, 1, 1, 1}, {33, 70, 1, 1, 1}, {2, 3, 5, 1, 1},
                               {4, 1, 9, 1, 1}, {3, 5, 2, 7, 1}, {2, 33, 1, 35, 1}, {2, 3, 1, 4, 5}};
  const int ndims[] = {1, 2, 2, 3, 3, 4, 4, 5};
  for (int s = 0; s < 8; s++) {
    int perm[5] = {0, 1, 2, 3, 4}, count = 0;
    do {
      test_transpose(shapes[s], perm, ndims[s], count % 7 == 0);
      count++;
    } while (next_perm(perm, ndims[s]));
  }
}

typedef struct {
  float *const *parts;
  float *out, *w;
  const int64_t *sizes;
  int n;
  int64_t outer, inner, total;
} cat_ctx;

static double cat_loss(void *user) {
  cat_ctx *c = user;
  leap_concat_forward_cpu(c->out, (const float *const *)c->parts, c->sizes, c->n, c->outer, c->inner);
  return leap_test_dot(c->out, c->w, c->outer * c->total * c->inner);
}

static void test_concat(int n, const int64_t *sizes, int64_t outer, int64_t inner) {
  float *parts[LEAP_CONCAT_MAX_INPUTS], *grads[LEAP_CONCAT_MAX_INPUTS];
  int64_t total = 0;
  for (int k = 0; k < n; k++) total += sizes[k];
  int64_t nout = outer * total * inner;
  float *out = floats(nout), *dout = floats(nout);
  leap_test_fill_normal(dout, nout, 1.0f, 5);
  for (int k = 0; k < n; k++) {
    parts[k] = floats(outer * sizes[k] * inner), grads[k] = floats(outer * sizes[k] * inner);
    leap_test_fill_normal(parts[k], outer * sizes[k] * inner, 1.0f, (uint64_t)k + 10);
    for (int64_t i = 0; i < outer * sizes[k] * inner; i++) grads[k][i] = 2.0f;
  }
  leap_test_poison(out, nout);
  leap_concat_forward_cpu(out, (const float *const *)parts, sizes, n, outer, inner);
  /* The backward pass skips a NULL gradient: the second input's, when there is one. */
  float *dparts[LEAP_CONCAT_MAX_INPUTS];
  for (int k = 0; k < n; k++) dparts[k] = (k == 1) ? NULL : grads[k];
  leap_concat_backward_cpu(dparts, dout, sizes, n, outer, inner);
  bool ok = true;
  for (int64_t o = 0; o < outer; o++) {
    int64_t base = 0;
    for (int k = 0; k < n; k++) {
      for (int64_t j = 0; j < sizes[k] * inner; j++) {
        int64_t whole = (o * total + base) * inner + j, part = o * sizes[k] * inner + j;
        ok = ok && out[whole] == parts[k][part];
        ok = ok && grads[k][part] == (k == 1 ? 2.0f : 2.0f + dout[whole]);
      }
      base += sizes[k];
    }
  }
  LEAP_TEST_ASSERT(ok, "concat of %d along (outer %lld, inner %lld) differs", n, (long long)outer, (long long)inner);
  if (nout <= 5000) {
    for (int k = 0; k < n; k++) memset(grads[k], 0, (size_t)(outer * sizes[k] * inner) * 4);
    leap_concat_backward_cpu(grads, dout, sizes, n, outer, inner);
    cat_ctx c = {parts, out, dout, sizes, n, outer, inner, total};
    for (int k = 0; k < n; k++)
      leap_test_gradcheck("concat", cat_loss, &c, parts[k], grads[k], outer * sizes[k] * inner, 1e-2, 1e-3, 1e-2, 50);
  }
  for (int k = 0; k < n; k++) free(parts[k]), free(grads[k]);
  free(out), free(dout);
}

typedef struct {
  float *in, *out, *w;
  int64_t outer, dim, inner, start, end;
} slice_ctx;

static double slice_loss(void *user) {
  slice_ctx *c = user;
  leap_slice_forward_cpu(c->out, c->in, c->outer, c->dim, c->inner, c->start, c->end);
  return leap_test_dot(c->out, c->w, c->outer * (c->end - c->start) * c->inner);
}

static void test_slice(int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end) {
  int64_t nin = outer * dim * inner, nout = outer * (end - start) * inner;
  float *in = floats(nin), *out = floats(nout), *dout = floats(nout), *din = floats(nin);
  leap_test_fill_normal(in, nin, 1.0f, 1), leap_test_fill_normal(dout, nout, 1.0f, 2);
  for (int64_t i = 0; i < nin; i++) din[i] = 3.0f;
  leap_test_poison(out, nout);
  leap_slice_forward_cpu(out, in, outer, dim, inner, start, end);
  leap_slice_backward_cpu(din, dout, outer, dim, inner, start, end);
  bool ok = true;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t d = 0; d < dim; d++)
      for (int64_t j = 0; j < inner; j++) {
        int64_t i = (o * dim + d) * inner + j;
        bool inside = d >= start && d < end;
        int64_t k = (o * (end - start) + (d - start)) * inner + j;
        ok = ok && (inside ? out[k] == in[i] && din[i] == 3.0f + dout[k] : din[i] == 3.0f);
      }
  LEAP_TEST_ASSERT(ok, "slice (%lld,%lld,%lld)[%lld:%lld] differs", (long long)outer, (long long)dim, (long long)inner,
                   (long long)start, (long long)end);
  if (nin <= 5000 && nout > 0) {
    memset(din, 0, (size_t)nin * 4);
    leap_slice_backward_cpu(din, dout, outer, dim, inner, start, end);
    slice_ctx c = {in, out, dout, outer, dim, inner, start, end};
    leap_test_gradcheck("slice", slice_loss, &c, in, din, nin, 1e-2, 1e-3, 1e-2, 100);
  }
  free(in), free(out), free(dout), free(din);
}

/* Forward and backward of each op on 1 and 2 threads. */
static void test_threads(void) {
  const int64_t shape[4] = {3, 129, 5, 67};
  const int perms[2][4] = {{0, 2, 1, 3}, {3, 1, 0, 2}};
  int64_t n = numel(shape, 4);
  float *in = floats(n), *dout = floats(n), *r[2][2];
  leap_test_fill_normal(in, n, 1.0f, 1), leap_test_fill_normal(dout, n, 1.0f, 2);
  for (int p = 0; p < 2; p++) {
    for (int t = 0; t < 2; t++) {
      r[t][0] = floats(n), r[t][1] = floats(n);
      memset(r[t][1], 0, (size_t)n * 4);
      leap_kernels_set_threads(t + 1);
      leap_transpose_forward_cpu(r[t][0], in, shape, perms[p], 4);
      leap_transpose_backward_cpu(r[t][1], dout, shape, perms[p], 4);
    }
    LEAP_TEST_ASSERT(memcmp(r[0][0], r[1][0], (size_t)n * 4) == 0 && memcmp(r[0][1], r[1][1], (size_t)n * 4) == 0,
                     "transpose perm %d: 1 and 2 threads differ", p);
    for (int t = 0; t < 2; t++) free(r[t][0]), free(r[t][1]);
  }
  free(in), free(dout);
}

int main(void) {
  test_all_transposes();
  const int64_t s1[] = {3, 1, 4}, s2[] = {5}, s3[] = {2, 7, 1, 3, 9, 4, 6, 5}, s4[] = {100, 37};
  test_concat(3, s1, 5, 7);
  test_concat(1, s2, 3, 1);
  test_concat(8, s3, 2, 3);
  test_concat(2, s4, 1, 1);
  test_concat(2, s4, 333, 129);
  test_slice(3, 7, 5, 2, 5);
  test_slice(1, 10, 1, 0, 10);
  test_slice(4, 9, 3, 4, 4);
  test_slice(513, 65, 3, 1, 64);
  test_slice(2, 33, 1, 32, 33);
  test_threads();
  return leap_test_finish();
}
