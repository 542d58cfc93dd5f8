/* Tests of the mean squared error: loss against a naive reference in double, the accumulated gradients of pred and
 * target (and NULL for either), finite-difference gradient checks of both, and bit-identical results on 1 and 2
 * threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/mse/mse.h"
#include "tests/common/leap_test.h"

static const int64_t sizes[] = {1, 3, 17, 255, 1001, 16385, 100003};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

typedef struct {
  float *p, *t, *ws;
  int64_t n;
  double dloss;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  float loss;
  leap_mse_forward_cpu(&loss, c->ws, c->p, c->t, c->n);
  return loss * c->dloss;
}

static void test_size(int64_t n) {
  float *p = floats(n), *t = floats(n), *dp = floats(n), *dt = floats(n), *want = floats(n);
  float *ws = floats((int64_t)leap_mse_forward_workspace_floats(n));
  leap_test_fill_normal(p, n, 1.0f, (uint64_t)n);
  leap_test_fill_normal(t, n, 1.0f, (uint64_t)n + 1);
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += ((double)p[i] - t[i]) * ((double)p[i] - t[i]);
  float want_loss = (float)(s / (double)n), loss = NAN;
  leap_mse_forward_cpu(&loss, ws, p, t, n);
  char what[64];
  snprintf(what, sizeof what, "mse loss n %lld", (long long)n);
  leap_test_allclose(what, &loss, &want_loss, 1, 0.0, 1e-5);

  const float dloss = 0.75f;
  for (int64_t i = 0; i < n; i++) dp[i] = 0.5f, dt[i] = -0.5f;
  leap_mse_backward_cpu(dp, dt, &dloss, p, t, n);
  for (int64_t i = 0; i < n; i++) want[i] = (float)(0.5 + 2.0 * ((double)p[i] - t[i]) / (double)n * dloss);
  snprintf(what, sizeof what, "mse dpred n %lld", (long long)n);
  leap_test_allclose(what, dp, want, n, 1e-7, 1e-5);
  for (int64_t i = 0; i < n; i++) want[i] = (float)(-0.5 - 2.0 * ((double)p[i] - t[i]) / (double)n * dloss);
  snprintf(what, sizeof what, "mse dtarget n %lld", (long long)n);
  leap_test_allclose(what, dt, want, n, 1e-7, 1e-5);
  memcpy(want, dt, (size_t)n * 4);
  leap_mse_backward_cpu(NULL, dt, &dloss, p, t, n);
  leap_mse_backward_cpu(NULL, NULL, &dloss, p, t, n);
  for (int64_t i = 0; i < n; i++) want[i] -= 2.0f * (p[i] - t[i]) / (float)n * dloss;
  snprintf(what, sizeof what, "mse dtarget alone n %lld", (long long)n);
  leap_test_allclose(what, dt, want, n, 1e-6, 1e-5);

  /* The float loss limits finite differences (see test_cross_entropy.c): small sizes only. */
  if (n <= 255) {
    memset(dp, 0, (size_t)n * 4), memset(dt, 0, (size_t)n * 4);
    leap_mse_backward_cpu(dp, dt, &dloss, p, t, n);
    loss_ctx lc = {p, t, ws, n, dloss};
    snprintf(what, sizeof what, "mse dpred n %lld", (long long)n);
    leap_test_gradcheck(what, loss_fn, &lc, p, dp, n, 1e-2, 1e-4, 2e-2, 100);
    snprintf(what, sizeof what, "mse dtarget n %lld", (long long)n);
    leap_test_gradcheck(what, loss_fn, &lc, t, dt, n, 1e-2, 1e-4, 2e-2, 100);
  }
  free(p), free(t), free(dp), free(dt), free(want), free(ws);
}

static void test_threads(int64_t n) {
  float *p = floats(n), *t = floats(n), *ws = floats((int64_t)leap_mse_forward_workspace_floats(n)), loss[2];
  float *dp[2] = {floats(n), floats(n)};
  leap_test_fill_normal(p, n, 1.0f, 1), leap_test_fill_normal(t, n, 1.0f, 2);
  const float dloss = 1.0f;
  for (int i = 0; i < 2; i++) {
    leap_kernels_set_threads(i + 1);
    leap_mse_forward_cpu(&loss[i], ws, p, t, n);
    memset(dp[i], 0, (size_t)n * 4);
    leap_mse_backward_cpu(dp[i], NULL, &dloss, p, t, n);
  }
  LEAP_TEST_ASSERT(memcmp(loss, loss + 1, 4) == 0 && memcmp(dp[0], dp[1], (size_t)n * 4) == 0,
                   "mse n %lld: 1 and 2 threads differ", (long long)n);
  free(p), free(t), free(ws), free(dp[0]), free(dp[1]);
}

int main(void) {
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) test_size(sizes[i]);
  test_threads(1000003);
  float loss = NAN;
  leap_mse_forward_cpu(&loss, NULL, NULL, NULL, 0);
  LEAP_TEST_ASSERT(loss == 0.0f, "mse of no elements is %g, want 0", loss);
  return leap_test_finish();
}
