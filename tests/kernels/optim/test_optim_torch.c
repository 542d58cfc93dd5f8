/* leap_adamw_update_cpu and leap_sgd_update_cpu against three steps of torch.optim.AdamW and torch.optim.SGD
 * (momentum, weight decay, Nesterov, plain) from the same parameters and gradients (tests/fixtures/optim.safetensors,
 * made by tools/make_fixtures.py). After every step the parameters and the optimizer state (AdamW's m and v, SGD's
 * momentum buffer) are compared. Each case runs twice: with grad_scale 1, and with the gradients multiplied by 4
 * and grad_scale 0.25 (exact in binary, so the results must agree to the same tolerance). Tolerances:
 * |got - want| <= 1e-6 + 1e-5 |want|, against float64 references. */
#include <stdlib.h>
#include <string.h>

#include "kernels/optim/optim.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

typedef struct optim_case {
  int64_t n, steps;
  float *param0, *grad;          /* (n), (steps,n) */
  float *want_param, *want_a, *want_b; /* (steps,n): the parameter and the state after each step */
} optim_case;

static void check_row(const leap_fixture *fx, const char *c, const char *what, int64_t step, float scale,
                      const float *got, const float *want, int64_t n) {
  char label[160];
  snprintf(label, sizeof label, "optim/%s.%s after step %lld (grad_scale %g)", c, what, (long long)step, scale);
  leap_test_allclose(label, got, want + (step - 1) * n, n, ATOL, RTOL);
}

static void run_adamw(const leap_fixture *fx, const char *c, const optim_case *oc, float scale) {
  float lr = leap_fixture_float(fx, c, "lr"), b1 = leap_fixture_float(fx, c, "beta1");
  float b2 = leap_fixture_float(fx, c, "beta2"), eps = leap_fixture_float(fx, c, "eps");
  float wd = leap_fixture_float(fx, c, "weight_decay");
  int64_t n = oc->n;
  float *p = malloc((size_t)n * sizeof(float)), *m = leap_fixture_zeros(n), *v = leap_fixture_zeros(n);
  float *g = malloc((size_t)n * sizeof(float));
  memcpy(p, oc->param0, (size_t)n * sizeof(float));
  for (int64_t step = 1; step <= oc->steps; step++) {
    for (int64_t i = 0; i < n; i++) g[i] = oc->grad[(step - 1) * n + i] / scale;
    leap_adamw_update_cpu(p, m, v, g, n, lr, b1, b2, eps, wd, step, scale);
    check_row(fx, c, "param", step, scale, p, oc->want_param, n);
    check_row(fx, c, "m", step, scale, m, oc->want_a, n);
    check_row(fx, c, "v", step, scale, v, oc->want_b, n);
  }
  free(p), free(m), free(v), free(g);
}

static void run_sgd(const leap_fixture *fx, const char *c, const optim_case *oc, float scale) {
  float lr = leap_fixture_float(fx, c, "lr"), momentum = leap_fixture_float(fx, c, "momentum");
  float wd = leap_fixture_float(fx, c, "weight_decay");
  bool nesterov = leap_fixture_int(fx, c, "nesterov") != 0;
  int64_t n = oc->n;
  float *p = malloc((size_t)n * sizeof(float)), *buf = momentum != 0.0f ? leap_fixture_poisoned(n) : NULL;
  float *g = malloc((size_t)n * sizeof(float));
  memcpy(p, oc->param0, (size_t)n * sizeof(float));
  for (int64_t step = 1; step <= oc->steps; step++) {
    for (int64_t i = 0; i < n; i++) g[i] = oc->grad[(step - 1) * n + i] / scale;
    /* The buffer starts poisoned: on the first step the update must overwrite it, as torch creates it. */
    leap_sgd_update_cpu(p, buf, g, n, lr, momentum, wd, nesterov, step == 1, scale);
    check_row(fx, c, "param", step, scale, p, oc->want_param, n);
    if (buf) check_row(fx, c, "buf", step, scale, buf, oc->want_a, n);
  }
  free(p), free(buf), free(g);
}

static void run_case(const leap_fixture *fx, const char *c) {
  bool adamw = strncmp(c, "adamw", 5) == 0;
  if (!LEAP_TEST_ASSERT(adamw || strncmp(c, "sgd", 3) == 0, "unknown case '%s'", c)) return;
  optim_case oc = {.n = leap_fixture_int(fx, c, "n"), .steps = leap_fixture_int(fx, c, "steps")};
  int64_t total = oc.steps * oc.n;
  oc.param0 = leap_fixture_f32(fx, c, "param0", oc.n);
  oc.grad = leap_fixture_f32(fx, c, "grad", total);
  oc.want_param = leap_fixture_f32(fx, c, "param", total);
  oc.want_a = leap_fixture_f32(fx, c, adamw ? "m" : "buf", total);
  oc.want_b = adamw ? leap_fixture_f32(fx, c, "v", total) : NULL;
  if (oc.param0 && oc.grad && oc.want_param && oc.want_a && (oc.want_b || !adamw)) {
    for (int k = 0; k < 2; k++) (adamw ? run_adamw : run_sgd)(fx, c, &oc, k == 0 ? 1.0f : 0.25f);
  }
  free(oc.param0), free(oc.grad), free(oc.want_param), free(oc.want_a), free(oc.want_b);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "optim")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
