/* Tests of the fully connected layer: forward (with and without bias) and the accumulated gradients of inp, weight
 * and bias against naive references in double, NULL gradients, finite-difference gradient checks of every input,
 * and bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/linear/linear.h"
#include "tests/common/leap_test.h"

typedef struct {
  int64_t N, IN, OUT;
  bool bias;
} lin_case;

static const lin_case cases[] = {{1, 1, 1, true},    {3, 5, 7, true},      {17, 33, 9, false},
                                 {65, 13, 31, true}, {130, 64, 129, true}, {2, 300, 3, true}};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

typedef struct {
  float *x, *w, *b, *out, *dout;
  int64_t N, IN, OUT;
} lin_data;

static double loss_fn(void *user) {
  lin_data *d = user;
  leap_linear_forward_cpu(d->out, d->x, d->w, d->b, d->N, d->IN, d->OUT);
  return leap_test_dot(d->out, d->dout, d->N * d->OUT);
}

/* want = prior + the reference gradient. */
static void check_grads(const lin_data *d, const float *dx, const float *dw, const float *db, float prior) {
  int64_t N = d->N, IN = d->IN, OUT = d->OUT;
  float *want = floats(N * IN > OUT * IN ? N * IN : OUT * IN);
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < IN; i++) {
      double s = prior;
      for (int64_t o = 0; o < OUT; o++) s += (double)d->dout[n * OUT + o] * d->w[o * IN + i];
      want[n * IN + i] = (float)s;
    }
  leap_test_allclose("linear dinp", dx, want, N * IN, 1e-5, 1e-5);
  for (int64_t o = 0; o < OUT; o++)
    for (int64_t i = 0; i < IN; i++) {
      double s = prior;
      for (int64_t n = 0; n < N; n++) s += (double)d->dout[n * OUT + o] * d->x[n * IN + i];
      want[o * IN + i] = (float)s;
    }
  leap_test_allclose("linear dweight", dw, want, OUT * IN, 1e-5, 1e-5);
  if (db) {
    for (int64_t o = 0; o < OUT; o++) {
      double s = prior;
      for (int64_t n = 0; n < N; n++) s += d->dout[n * OUT + o];
      want[o] = (float)s;
    }
    leap_test_allclose("linear dbias", db, want, OUT, 1e-5, 1e-5);
  }
  free(want);
}

static void fill(float *x, int64_t n, float v) {
  for (int64_t i = 0; i < n; i++) x[i] = v;
}

static void test_case(const lin_case *k) {
  int64_t N = k->N, IN = k->IN, OUT = k->OUT;
  lin_data d = {
      floats(N * IN), floats(OUT * IN), k->bias ? floats(OUT) : NULL, floats(N * OUT), floats(N * OUT), N, IN, OUT};
  float *want = floats(N * OUT), *dx = floats(N * IN), *dw = floats(OUT * IN), *db = floats(OUT);
  float *ws = floats((int64_t)leap_linear_backward_workspace_floats(N, OUT));
  leap_test_fill_normal(d.x, N * IN, 1.0f, (uint64_t)(N * IN));
  leap_test_fill_normal(d.w, OUT * IN, 0.5f, (uint64_t)(OUT * IN) + 1);
  if (d.b) leap_test_fill_normal(d.b, OUT, 1.0f, (uint64_t)OUT + 2);
  leap_test_fill_normal(d.dout, N * OUT, 1.0f, (uint64_t)(N * OUT) + 3);
  leap_test_poison(d.out, N * OUT);
  leap_linear_forward_cpu(d.out, d.x, d.w, d.b, N, IN, OUT);
  for (int64_t n = 0; n < N; n++)
    for (int64_t o = 0; o < OUT; o++) {
      double s = d.b ? d.b[o] : 0.0;
      for (int64_t i = 0; i < IN; i++) s += (double)d.x[n * IN + i] * d.w[o * IN + i];
      want[n * OUT + o] = (float)s;
    }
  char what[96];
  snprintf(what, sizeof what, "linear forward N %lld IN %lld OUT %lld", (long long)N, (long long)IN, (long long)OUT);
  leap_test_allclose(what, d.out, want, N * OUT, 1e-5, 1e-5);

  fill(dx, N * IN, 0.5f), fill(dw, OUT * IN, 0.5f), fill(db, OUT, 0.5f);
  leap_linear_backward_cpu(dx, dw, d.b ? db : NULL, ws, d.dout, d.x, d.w, N, IN, OUT);
  check_grads(&d, dx, dw, d.b ? db : NULL, 0.5f);
  fill(dx, N * IN, 0.0f), fill(dw, OUT * IN, 0.0f), fill(db, OUT, 0.0f);
  leap_linear_backward_cpu(dx, NULL, NULL, NULL, d.dout, d.x, d.w, N, IN, OUT);
  leap_linear_backward_cpu(NULL, dw, NULL, NULL, d.dout, d.x, d.w, N, IN, OUT);
  leap_linear_backward_cpu(NULL, NULL, d.b ? db : NULL, ws, d.dout, d.x, d.w, N, IN, OUT);
  check_grads(&d, dx, dw, d.b ? db : NULL, 0.0f);

  leap_test_gradcheck(what, loss_fn, &d, d.x, dx, N * IN, 1e-2, 1e-3, 1e-2, 100);
  leap_test_gradcheck(what, loss_fn, &d, d.w, dw, OUT * IN, 1e-2, 1e-3, 1e-2, 100);
  if (d.b) leap_test_gradcheck(what, loss_fn, &d, d.b, db, OUT, 1e-2, 1e-3, 1e-2, 100);
  free(d.x), free(d.w), free(d.b), free(d.out), free(d.dout), free(want), free(dx), free(dw), free(db), free(ws);
}

static void test_threads(int64_t N, int64_t IN, int64_t OUT) {
  float *x = floats(N * IN), *w = floats(OUT * IN), *b = floats(OUT), *dout = floats(N * OUT);
  float *ws = floats((int64_t)leap_linear_backward_workspace_floats(N, OUT)), *r[2][4];
  leap_test_fill_normal(x, N * IN, 1.0f, 1), leap_test_fill_normal(w, OUT * IN, 1.0f, 2);
  leap_test_fill_normal(b, OUT, 1.0f, 3), leap_test_fill_normal(dout, N * OUT, 1.0f, 4);
  const int64_t sizes[4] = {N * OUT, N * IN, OUT * IN, OUT};
  for (int t = 0; t < 2; t++) {
    for (int i = 0; i < 4; i++) r[t][i] = floats(sizes[i]), fill(r[t][i], sizes[i], 0.0f);
    leap_kernels_set_threads(t + 1);
    leap_linear_forward_cpu(r[t][0], x, w, b, N, IN, OUT);
    leap_linear_backward_cpu(r[t][1], r[t][2], r[t][3], ws, dout, x, w, N, IN, OUT);
  }
  bool same = true;
  for (int i = 0; i < 4; i++) same = same && memcmp(r[0][i], r[1][i], (size_t)sizes[i] * 4) == 0;
  LEAP_TEST_ASSERT(same, "linear N %lld IN %lld OUT %lld: 1 and 2 threads differ", (long long)N, (long long)IN,
                   (long long)OUT);
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 4; i++) free(r[t][i]);
  free(x), free(w), free(b), free(dout), free(ws);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
    /* Without OpenMP, OpenBLAS threads each call its own way (matmul.h): no guarantee to check. */
#ifdef LEAP_WITH_OPENMP
  test_threads(300, 257, 131);
  test_threads(1031, 96, 385);
#else
  (void)test_threads;
#endif
  return leap_test_finish();
}
