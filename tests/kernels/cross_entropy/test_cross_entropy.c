/* Tests of the fused softmax cross-entropy: loss, count and saved lse against a naive reference in double, ignored
 * rows (some, all, and an ignore_index that is also a valid class), the accumulated gradient against its formula,
 * finite-difference gradient checks, and bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/cross_entropy/cross_entropy.h"
#include "tests/common/leap_test.h"

typedef struct {
  int64_t N, V;
  int ignore_every; /* every ignore_every-th row is ignored (1: all, 0: none) */
  int32_t ignore_index;
  float scale; /* logits are normal with this standard deviation */
} ce_case;

static const ce_case cases[] = {
    {1, 1, 0, -100, 1.0f},   {1, 5, 0, -100, 1.0f},   {7, 13, 3, -100, 2.0f},    {5, 17, 1, -100, 1.0f},
    {9, 11, 2, 3, 1.0f},     {33, 512, 4, -1, 3.0f},  {3, 50257, 0, -100, 1.0f}, {65, 97, 5, -100, 20.0f},
    {4, 301, 0, -100, 1.0f}, {3, 129, 2, -100, 2.0f},
};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static void make_targets(int32_t *t, const ce_case *k, uint64_t seed) {
  leap_test_fill_int(t, k->N, 0, (int32_t)k->V, seed);
  for (int64_t n = 0; n < k->N; n++) {
    if (k->ignore_every > 0 && n % k->ignore_every == 0) t[n] = k->ignore_index;
    /* A counted row whose class equals ignore_index is moved to another class. */
    else if (t[n] == k->ignore_index)
      t[n] = (t[n] + 1) % (int32_t)k->V;
  }
}

/* Reference loss (returned), count, lse and gradient of loss * dloss, all in double. */
static double reference(int64_t *count, float *lse, double *grad, const float *x, const int32_t *t, const ce_case *k,
                        double dloss) {
  int64_t N = k->N, V = k->V, counted = 0;
  double total = 0.0;
  for (int64_t n = 0; n < N; n++) counted += t[n] != k->ignore_index;
  for (int64_t n = 0; n < N; n++) {
    const float *r = x + n * V;
    double m = r[0], s = 0.0;
    for (int64_t v = 1; v < V; v++) m = r[v] > m ? r[v] : m;
    for (int64_t v = 0; v < V; v++) s += exp((double)r[v] - m);
    double l = m + log(s);
    lse[n] = (float)l;
    bool counts = t[n] != k->ignore_index;
    if (counts) total += l - r[t[n]];
    for (int64_t v = 0; v < V; v++)
      grad[n * V + v] = counts ? (exp(r[v] - l) - (v == t[n])) * dloss / (double)counted : 0.0;
  }
  *count = counted;
  return counted > 0 ? total / (double)counted : 0.0;
}

typedef struct {
  float *x, *lse;
  const int32_t *t;
  const ce_case *k;
  double dloss;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  float loss;
  leap_cross_entropy_forward_cpu(&loss, NULL, c->lse, c->x, c->t, c->k->N, c->k->V, c->k->ignore_index);
  return loss * c->dloss;
}

static void test_case(const ce_case *k) {
  int64_t N = k->N, V = k->V, n = N * V;
  float *x = floats(n), *lse = floats(N), *want_lse = floats(N), *dx = floats(n), *want = floats(n);
  double *grad = malloc((size_t)n * sizeof(double));
  int32_t *t = malloc((size_t)N * sizeof(int32_t));
  leap_test_fill_normal(x, n, k->scale, (uint64_t)n);
  make_targets(t, k, (uint64_t)N + 5);
  const float dloss = 1.7f;
  int64_t want_count, count = -1;
  double want_loss = reference(&want_count, want_lse, grad, x, t, k, dloss);
  float loss = NAN;
  leap_test_poison(lse, N);
  leap_cross_entropy_forward_cpu(&loss, &count, lse, x, t, N, V, k->ignore_index);
  char what[128];
  snprintf(what, sizeof what, "ce loss N %lld V %lld ignore every %d", (long long)N, (long long)V, k->ignore_every);
  float wl = (float)want_loss;
  leap_test_allclose(what, &loss, &wl, 1, 1e-6, 1e-5);
  LEAP_TEST_ASSERT(count == want_count, "%s: count %lld, want %lld", what, (long long)count, (long long)want_count);
  leap_test_allclose("ce lse", lse, want_lse, N, 1e-5, 1e-6);

  for (int64_t i = 0; i < n; i++) dx[i] = 0.125f, want[i] = (float)(0.125 + grad[i]);
  leap_cross_entropy_backward_cpu(dx, &dloss, x, t, lse, N, V, k->ignore_index);
  snprintf(what, sizeof what, "ce dlogits N %lld V %lld ignore every %d", (long long)N, (long long)V, k->ignore_every);
  leap_test_allclose(what, dx, want, n, 1e-7, 1e-5);

  /* The forward pass returns the loss as a float, whose rounding (about 5e-7 of a loss near log V) limits finite
   * differences; they are taken with a wide step over small problems, where each logit's gradient is large enough
   * to stand out. Larger ones are covered by the reference gradient above. */
  if (n <= 2000) {
    for (int64_t i = 0; i < n; i++) dx[i] = 0.0f;
    leap_cross_entropy_backward_cpu(dx, &dloss, x, t, lse, N, V, k->ignore_index);
    loss_ctx lc = {x, lse, t, k, dloss};
    leap_test_gradcheck(what, loss_fn, &lc, x, dx, n, 5e-2, 1e-4, 2e-2, 300);
  }
  free(x), free(lse), free(want_lse), free(dx), free(want), free(grad), free(t);
}

static void test_threads(int64_t N, int64_t V) {
  const ce_case k = {N, V, 7, -100, 3.0f};
  int64_t n = N * V;
  float *x = floats(n), *lse[2], *dx[2], loss[2];
  int32_t *t = malloc((size_t)N * sizeof(int32_t));
  leap_test_fill_normal(x, n, 3.0f, 9);
  make_targets(t, &k, 10);
  const float dloss = 1.0f;
  for (int i = 0; i < 2; i++) {
    lse[i] = floats(N), dx[i] = floats(n);
    memset(dx[i], 0, (size_t)n * 4);
    leap_kernels_set_threads(i + 1);
    leap_cross_entropy_forward_cpu(&loss[i], NULL, lse[i], x, t, N, V, -100);
    leap_cross_entropy_backward_cpu(dx[i], &dloss, x, t, lse[i], N, V, -100);
  }
  LEAP_TEST_ASSERT(memcmp(loss, loss + 1, 4) == 0 && memcmp(lse[0], lse[1], (size_t)N * 4) == 0 &&
                       memcmp(dx[0], dx[1], (size_t)n * 4) == 0,
                   "ce N %lld V %lld: 1 and 2 threads differ", (long long)N, (long long)V);
  free(x), free(t), free(lse[0]), free(lse[1]), free(dx[0]), free(dx[1]);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
  test_threads(300, 517);
  test_threads(17, 50257);
  return leap_test_finish();
}
