/* Tests of the row softmax: forward against a naive reference in double (including large and very negative
 * logits), in-place forward, the accumulating backward against its formula, finite-difference gradient checks, and
 * bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/softmax/softmax.h"
#include "tests/common/leap_test.h"

typedef struct {
  int64_t N, C;
  float scale; /* logits are normal with this standard deviation */
} softmax_case;

static const softmax_case cases[] = {
    {1, 1, 1.0f}, {1, 7, 1.0f}, {3, 17, 3.0f}, {5, 33, 10.0f}, {11, 129, 1.0f}, {2, 1000, 30.0f}, {7, 50257, 2.0f},
};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static void reference(float *out, const float *x, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    const float *r = x + n * C;
    double m = r[0], s = 0.0;
    for (int64_t c = 1; c < C; c++) m = r[c] > m ? r[c] : m;
    for (int64_t c = 0; c < C; c++) s += exp((double)r[c] - m);
    for (int64_t c = 0; c < C; c++) out[n * C + c] = (float)(exp((double)r[c] - m) / s);
  }
}

typedef struct {
  float *x, *w, *out;
  int64_t N, C;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  leap_softmax_forward_cpu(c->out, c->x, c->N, c->C);
  return leap_test_dot(c->out, c->w, c->N * c->C);
}

static void test_case(const softmax_case *k) {
  int64_t N = k->N, C = k->C, n = N * C;
  float *x = floats(n), *out = floats(n), *want = floats(n), *dout = floats(n), *dx = floats(n);
  leap_test_fill_normal(x, n, k->scale, (uint64_t)n);
  x[0] += 60.0f; /* one large logit: the maximum subtraction matters */
  leap_test_fill_normal(dout, n, 1.0f, (uint64_t)n + 1);
  leap_test_poison(out, n);
  leap_softmax_forward_cpu(out, x, N, C);
  reference(want, x, N, C);
  char what[96];
  snprintf(what, sizeof what, "softmax forward N %lld C %lld", (long long)N, (long long)C);
  leap_test_allclose(what, out, want, n, 1e-9, 1e-5);
  float *inplace = floats(n);
  memcpy(inplace, x, (size_t)n * sizeof(float));
  leap_softmax_forward_cpu(inplace, inplace, N, C);
  LEAP_TEST_ASSERT(memcmp(inplace, out, (size_t)n * sizeof(float)) == 0, "N %lld C %lld: in-place differs",
                   (long long)N, (long long)C);

  /* Backward from the reference's output, accumulating onto 0.5. */
  for (int64_t r = 0; r < N; r++) {
    double dot = 0.0;
    for (int64_t c = 0; c < C; c++) dot += (double)dout[r * C + c] * out[r * C + c];
    for (int64_t c = 0; c < C; c++) {
      want[r * C + c] = (float)(0.5 + out[r * C + c] * (dout[r * C + c] - dot));
      dx[r * C + c] = 0.5f;
    }
  }
  leap_softmax_backward_cpu(dx, dout, out, N, C);
  snprintf(what, sizeof what, "softmax backward N %lld C %lld", (long long)N, (long long)C);
  leap_test_allclose(what, dx, want, n, 1e-6, 1e-5);

  if (C <= 1000) {
    leap_test_fill_normal(x, n, 1.0f, (uint64_t)n + 2);
    leap_softmax_forward_cpu(out, x, N, C);
    memset(dx, 0, (size_t)n * sizeof(float));
    leap_softmax_backward_cpu(dx, dout, out, N, C);
    loss_ctx lc = {x, dout, out, N, C};
    snprintf(what, sizeof what, "softmax dx N %lld C %lld", (long long)N, (long long)C);
    leap_test_gradcheck(what, loss_fn, &lc, x, dx, n, 1e-2, 1e-3, 2e-2, 200);
  }
  free(x), free(out), free(want), free(dout), free(dx), free(inplace);
}

static void test_threads(int64_t N, int64_t C) {
  int64_t n = N * C;
  float *x = floats(n), *dout = floats(n), *o[2], *d[2];
  leap_test_fill_normal(x, n, 2.0f, 3);
  leap_test_fill_normal(dout, n, 1.0f, 4);
  for (int t = 0; t < 2; t++) {
    o[t] = floats(n), d[t] = floats(n);
    leap_kernels_set_threads(t + 1);
    leap_softmax_forward_cpu(o[t], x, N, C);
    memset(d[t], 0, (size_t)n * sizeof(float));
    leap_softmax_backward_cpu(d[t], dout, o[t], N, C);
  }
  LEAP_TEST_ASSERT(memcmp(o[0], o[1], (size_t)n * 4) == 0 && memcmp(d[0], d[1], (size_t)n * 4) == 0,
                   "softmax N %lld C %lld: 1 and 2 threads differ", (long long)N, (long long)C);
  free(x), free(dout), free(o[0]), free(o[1]), free(d[0]), free(d[1]);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
  test_threads(301, 257);
  test_threads(9, 50257);
  return leap_test_finish();
}
