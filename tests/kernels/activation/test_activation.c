/* Tests of GELU (tanh approximation) and ReLU: forward and derivative against the formulas in double over a dense
 * range and special values, accumulation, in-place forward, finite-difference gradient checks, and bit-identical
 * results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation/activation.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

/* PyTorch's gelu(x, approximate='tanh') = 0.5 x (1 + tanh(u)) and its derivative, in double. The first form loses
 * everything to cancellation in 1 + tanh(u) once x < -6 or so, even in double; the second uses the identity
 * 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)) and is accurate everywhere, so values are checked against it with a
 * relative tolerance and against the first with an absolute one. */
static double gelu_tanh_form(double x) {
  double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + tanh(u));
}

static double gelu_ref(double x) {
  double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * u));
}

static double gelu_grad_ref(double x) {
  double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  double t = tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * sqrt(2.0 / M_PI) * (1.0 + 3.0 * 0.044715 * x * x);
}

typedef enum { ACT_GELU, ACT_RELU } act_kind;

static void act_forward(act_kind k, float *out, const float *x, int64_t n) {
  if (k == ACT_GELU)
    leap_gelu_forward_cpu(out, x, n);
  else
    leap_relu_forward_cpu(out, x, n);
}

static void act_backward(act_kind k, float *dx, const float *dout, const float *x, int64_t n) {
  if (k == ACT_GELU)
    leap_gelu_backward_cpu(dx, dout, x, n);
  else
    leap_relu_backward_cpu(dx, dout, x, n);
}

/* Inputs: a dense sweep of [-12, 12], then special values. */
static void fill_inputs(float *x, int64_t n) {
  static const float special[] = {0.0f,  -0.0f,  1e-30f, -1e-30f, 1e-4f, -1e-4f,
                                  30.0f, -30.0f, 100.0f, -100.0f, 1e6f,  -1e6f};
  int64_t ns = (int64_t)(sizeof special / sizeof special[0]);
  for (int64_t i = 0; i < n; i++) x[i] = i < ns ? special[i] : -12.0f + 24.0f * (float)(i - ns) / (float)n;
}

static void test_values(act_kind k, int64_t n) {
  const char *name = k == ACT_GELU ? "gelu" : "relu";
  float *x = floats(n), *out = floats(n), *want = floats(n), *dout = floats(n), *dx = floats(n);
  fill_inputs(x, n);
  leap_test_fill_uniform(dout, n, -1.0f, 1.0f, (uint64_t)n);
  leap_test_poison(out, n);
  act_forward(k, out, x, n);
  for (int64_t i = 0; i < n; i++) want[i] = (float)(k == ACT_GELU ? gelu_ref(x[i]) : (x[i] > 0 ? x[i] : 0.0));
  /* Relative error: a few ulp, except where exp(-2u) is large (x < -3), where the float rounding of u itself, of
   * relative size 2^-24 but multiplied by |2u| <= 88 in the exponent, dominates: up to about 2e-5. */
  double rtol = k == ACT_GELU ? 3e-5 : 0.0;
  char what[96];
  snprintf(what, sizeof what, "%s forward vs formula, n %lld", name, (long long)n);
  leap_test_allclose(what, out, want, n, 1e-30, rtol);

  if (k == ACT_GELU) {
    for (int64_t i = 0; i < n; i++) want[i] = (float)gelu_tanh_form(x[i]);
    snprintf(what, sizeof what, "gelu forward vs 0.5 x (1 + tanh(u)), n %lld", (long long)n);
    leap_test_allclose(what, out, want, n, 1e-6, 4e-6);
    for (int64_t i = 0; i < n; i++) want[i] = (float)gelu_ref(x[i]);
  }

  memcpy(out, x, (size_t)n * sizeof(float));
  act_forward(k, out, out, n);
  snprintf(what, sizeof what, "%s in-place forward, n %lld", name, (long long)n);
  leap_test_allclose(what, out, want, n, 1e-30, rtol);

  for (int64_t i = 0; i < n; i++) {
    dx[i] = 0.25f;
    double g = k == ACT_GELU ? gelu_grad_ref(x[i]) : (x[i] > 0 ? 1.0 : 0.0);
    want[i] = (float)(0.25 + dout[i] * g);
  }
  act_backward(k, dx, dout, x, n);
  snprintf(what, sizeof what, "%s backward vs derivative (accumulating), n %lld", name, (long long)n);
  leap_test_allclose(what, dx, want, n, 1e-6, 1e-5);
  free(x), free(out), free(want), free(dout), free(dx);
}

typedef struct {
  act_kind k;
  float *x, *w, *out;
  int64_t n;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  act_forward(c->k, c->out, c->x, c->n);
  return leap_test_dot(c->out, c->w, c->n);
}

static void test_gradcheck(act_kind k, int64_t n) {
  float *x = floats(n), *w = floats(n), *out = floats(n), *dx = floats(n);
  leap_test_fill_uniform(x, n, -4.0f, 4.0f, (uint64_t)n + 5);
  /* ReLU has a kink at 0: keep inputs a few finite-difference steps away from it. */
  if (k == ACT_RELU)
    for (int64_t i = 0; i < n; i++)
      if (fabsf(x[i]) < 0.05f) x[i] = 0.5f;
  leap_test_fill_uniform(w, n, -1.0f, 1.0f, (uint64_t)n + 6);
  memset(dx, 0, (size_t)n * sizeof(float));
  act_backward(k, dx, w, x, n);
  loss_ctx c = {k, x, w, out, n};
  char what[64];
  snprintf(what, sizeof what, "%s dx n %lld", k == ACT_GELU ? "gelu" : "relu", (long long)n);
  leap_test_gradcheck(what, loss_fn, &c, x, dx, n, 5e-3, 1e-3, 1e-2, 200);
  free(x), free(w), free(out), free(dx);
}

static void test_threads(act_kind k, int64_t n) {
  float *x = floats(n), *dout = floats(n), *o1 = floats(n), *o2 = floats(n), *d1 = floats(n), *d2 = floats(n);
  leap_test_fill_normal(x, n, 3.0f, 17);
  leap_test_fill_normal(dout, n, 1.0f, 18);
  for (int t = 1; t <= 2; t++) {
    leap_kernels_set_threads(t);
    float *o = t == 1 ? o1 : o2, *d = t == 1 ? d1 : d2;
    act_forward(k, o, x, n);
    memset(d, 0, (size_t)n * sizeof(float));
    act_backward(k, d, dout, x, n);
  }
  LEAP_TEST_ASSERT(memcmp(o1, o2, (size_t)n * 4) == 0 && memcmp(d1, d2, (size_t)n * 4) == 0,
                   "activation %d n %lld: 1 and 2 threads differ", (int)k, (long long)n);
  free(x), free(dout), free(o1), free(o2), free(d1), free(d2);
}

int main(void) {
  const int64_t sizes[] = {1, 13, 31, 1000, 100003};
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < 5; i++) test_values((act_kind)k, sizes[i]);
    test_gradcheck((act_kind)k, 7);
    test_gradcheck((act_kind)k, 1001);
    test_threads((act_kind)k, 100003);
    test_threads((act_kind)k, 1 << 20);
  }
  return leap_test_finish();
}
