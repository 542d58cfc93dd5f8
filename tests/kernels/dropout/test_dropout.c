/* Tests of dropout: forward values against a reference built from the generator's definition, the kept fraction,
 * that the backward pass recomputes the same mask, accumulation, offsets (splitting a tensor over calls), a
 * finite-difference gradient check, and bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dropout/dropout.h"
#include "kernels/rng/philox.h"
#include "tests/common/leap_test.h"

#ifdef LEAP_WITH_OPENMP
#include <omp.h>
#endif

typedef struct {
  int64_t n;
  float p;
  uint64_t seed, stream, offset;
} dropout_case;

static const dropout_case cases[] = {
    {1, 0.5f, 1, 0, 0},      {3, 0.1f, 2, 1, 1},          {7, 0.9f, 3, 2, 6},       {1001, 0.5f, 4, 3, 0},
    {4099, 0.3f, 5, 0, 13},  {100003, 0.1f, 6, 7, 1ull << 40}, {2049, 0.0f, 7, 0, 0}, {513, 1.0f, 8, 0, 2},
};

/* The naive reference: keep when the uniform draw at offset + i is at least p, scale kept values by 1 / (1 - p). */
static void reference(float *out, const float *x, const dropout_case *c) {
  for (int64_t i = 0; i < c->n; i++) {
    bool keep = leap_rng_uniform(c->seed, c->stream, c->offset + (uint64_t)i) >= c->p;
    out[i] = keep && c->p < 1.0f ? (float)((double)x[i] / (1.0 - (double)c->p)) : 0.0f;
  }
}

static void test_forward_backward(const dropout_case *c) {
  int64_t n = c->n;
  float *x = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
  float *dout = malloc(n * sizeof(float)), *din = malloc(n * sizeof(float)), *din0 = malloc(n * sizeof(float));
  leap_test_fill_uniform(x, n, 0.5f, 2.0f, (uint64_t)n);
  leap_test_fill_uniform(dout, n, 0.5f, 2.0f, (uint64_t)n + 1);
  leap_test_poison(out, n);
  leap_dropout_forward_cpu(out, x, n, c->p, c->seed, c->stream, c->offset);
  reference(want, x, c);
  leap_test_allclose("dropout forward vs reference", out, want, n, 0.0, 1e-6);

  /* Backward accumulates onto existing values and uses the forward's mask: with positive inputs, an element is
   * zero in the forward exactly when its gradient is unchanged. */
  leap_test_fill_uniform(din0, n, -1.0f, 1.0f, (uint64_t)n + 2);
  memcpy(din, din0, n * sizeof(float));
  leap_dropout_backward_cpu(din, dout, n, c->p, c->seed, c->stream, c->offset);
  int64_t mismatched = 0;
  for (int64_t i = 0; i < n; i++) {
    bool kept = out[i] != 0.0f;
    want[i] = din0[i] + (kept ? (float)((double)dout[i] / (1.0 - (double)c->p)) : 0.0f);
    mismatched += kept != (din[i] != din0[i]);
  }
  leap_test_allclose("dropout backward accumulates", din, want, n, 1e-6, 1e-6);
  LEAP_TEST_ASSERT(mismatched == 0, "n %lld p %g: %lld forward/backward mask mismatches", (long long)n, c->p,
                   (long long)mismatched);
  leap_dropout_backward_cpu(NULL, dout, n, c->p, c->seed, c->stream, c->offset);

  /* In place, and split at an arbitrary point into two calls with offsets, gives the same result. */
  memcpy(want, out, n * sizeof(float));
  memcpy(out, x, n * sizeof(float));
  int64_t cut = n / 3;
  leap_dropout_forward_cpu(out, out, cut, c->p, c->seed, c->stream, c->offset);
  leap_dropout_forward_cpu(out + cut, out + cut, n - cut, c->p, c->seed, c->stream, c->offset + (uint64_t)cut);
  LEAP_TEST_ASSERT(memcmp(out, want, n * sizeof(float)) == 0, "n %lld: in-place split forward differs", (long long)n);
  free(x), free(out), free(want), free(dout), free(din), free(din0);
}

/* Over 1e6 elements the kept fraction is 1 - p within about six standard errors. */
static void test_kept_fraction(void) {
  const int64_t n = 1000000;
  const float ps[] = {0.1f, 0.5f, 0.9f, 0.0f, 1.0f};
  float *x = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = 1.0f;
  for (int k = 0; k < 5; k++) {
    leap_dropout_forward_cpu(out, x, n, ps[k], 99, 4, 0);
    int64_t kept = 0;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) kept += out[i] != 0.0f, total += out[i];
    double frac = (double)kept / (double)n;
    double tol = 6.0 * sqrt(ps[k] * (1.0 - ps[k]) / (double)n);
    LEAP_TEST_ASSERT(fabs(frac - (1.0 - ps[k])) <= tol, "p %g: kept fraction %.5f", ps[k], frac);
    /* Inverted dropout keeps the expected sum: mean output about 1 (exactly 0 at p = 1). */
    double mean = total / (double)n, want = ps[k] < 1.0f ? 1.0 : 0.0;
    LEAP_TEST_ASSERT(fabs(mean - want) <= 7.0 * tol / (1.0 - fmin(ps[k], 0.99)) + 1e-12, "p %g: mean output %.5f",
                     ps[k], mean);
  }
  free(x), free(out);
}

typedef struct {
  float *x, *out, *w;
  const dropout_case *c;
} loss_ctx;

static double loss(void *user) {
  loss_ctx *L = user;
  leap_dropout_forward_cpu(L->out, L->x, L->c->n, L->c->p, L->c->seed, L->c->stream, L->c->offset);
  return leap_test_dot(L->out, L->w, L->c->n);
}

/* Finite differences of sum(out * w) against the backward pass (eps 1e-2, rtol 1e-2: the op is linear in x). */
static void test_gradcheck(const dropout_case *c) {
  int64_t n = c->n;
  float *x = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float)), *w = malloc(n * sizeof(float));
  float *grad = calloc((size_t)n, sizeof(float));
  leap_test_fill_normal(x, n, 1.0f, 11);
  leap_test_fill_normal(w, n, 1.0f, 12);
  leap_dropout_backward_cpu(grad, w, n, c->p, c->seed, c->stream, c->offset);
  loss_ctx L = {x, out, w, c};
  char what[64];
  snprintf(what, sizeof what, "dropout n %lld p %g", (long long)n, c->p);
  leap_test_gradcheck(what, loss, &L, x, grad, n, 1e-2, 1e-3, 1e-2, 200);
  free(x), free(out), free(w), free(grad);
}

static void test_threads(void) {
#ifdef LEAP_WITH_OPENMP
  const int64_t n = 300007;
  float *x = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
  float *ga = calloc((size_t)n, sizeof(float)), *gb = calloc((size_t)n, sizeof(float));
  leap_test_fill_normal(x, n, 1.0f, 21);
  omp_set_num_threads(1);
  leap_dropout_forward_cpu(a, x, n, 0.25f, 3, 5, 7);
  leap_dropout_backward_cpu(ga, x, n, 0.25f, 3, 5, 7);
  omp_set_num_threads(2);
  leap_test_poison(b, n);
  leap_dropout_forward_cpu(b, x, n, 0.25f, 3, 5, 7);
  leap_dropout_backward_cpu(gb, x, n, 0.25f, 3, 5, 7);
  LEAP_TEST_ASSERT(memcmp(a, b, n * sizeof(float)) == 0, "dropout forward differs between 1 and 2 threads");
  LEAP_TEST_ASSERT(memcmp(ga, gb, n * sizeof(float)) == 0, "dropout backward differs between 1 and 2 threads");
  free(x), free(a), free(b), free(ga), free(gb);
#endif
}

int main(void) {
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    test_forward_backward(&cases[k]);
    test_gradcheck(&cases[k]);
  }
  test_kept_fraction();
  test_threads();
  return leap_test_finish();
}
