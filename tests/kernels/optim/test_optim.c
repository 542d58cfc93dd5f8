/* Tests of the optimizer updates against straight double-precision transcriptions of torch.optim.AdamW and
 * torch.optim.SGD over several steps, a few values worked by hand, the deterministic sum of squares, the clipping
 * factor, and bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/optim/optim.h"
#include "tests/common/leap_test.h"

#ifdef LEAP_WITH_OPENMP
#include <omp.h>
#endif

#define STEPS 6

typedef struct {
  int64_t n;
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
} adamw_case;

static const adamw_case adamw_cases[] = {
    {1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f},     {17, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f},
    {1003, 3e-4f, 0.9f, 0.95f, 1e-6f, 0.01f, 0.5f}, {4099, 1e-1f, 0.6f, 0.99f, 1e-3f, 0.05f, 0.25f},
    {40009, 2e-3f, 0.0f, 0.5f, 1e-8f, 1.0f, 1.0f},
};

static void test_adamw(const adamw_case *c) {
  int64_t n = c->n;
  float *p = malloc(n * sizeof(float)), *m = calloc((size_t)n, sizeof(float)), *v = calloc((size_t)n, sizeof(float));
  float *g = malloc(n * sizeof(float)), *got = malloc(3 * n * sizeof(float)), *want = malloc(3 * n * sizeof(float));
  double *rp = malloc(n * sizeof(double)), *rm = calloc((size_t)n, sizeof(double));
  double *rv = calloc((size_t)n, sizeof(double));
  leap_test_fill_normal(p, n, 1.0f, 1);
  for (int64_t i = 0; i < n; i++) rp[i] = p[i];
  const double lr = c->lr, b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
  for (int step = 1; step <= STEPS; step++) {
    leap_test_fill_normal(g, n, 1.0f, 100 + (uint64_t)step);
    leap_adamw_update_cpu(p, m, v, g, n, c->lr, c->beta1, c->beta2, c->eps, c->weight_decay, step, c->grad_scale);
    for (int64_t i = 0; i < n; i++) {
      double gi = (double)g[i] * c->grad_scale;
      rp[i] *= 1.0 - lr * wd;
      rm[i] = b1 * rm[i] + (1.0 - b1) * gi;
      rv[i] = b2 * rv[i] + (1.0 - b2) * gi * gi;
      double mhat = rm[i] / (1.0 - pow(b1, step)), vhat = rv[i] / (1.0 - pow(b2, step));
      rp[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
  }
  for (int64_t i = 0; i < n; i++) {
    got[i] = p[i], got[n + i] = m[i], got[2 * n + i] = v[i];
    want[i] = (float)rp[i], want[n + i] = (float)rm[i], want[2 * n + i] = (float)rv[i];
  }
  /* fp32 state against the double reference after STEPS steps: a few ulps per step. */
  leap_test_allclose("adamw param", got, want, n, 1e-6, 1e-5);
  leap_test_allclose("adamw exp_avg", got + n, want + n, n, 1e-7, 1e-5);
  leap_test_allclose("adamw exp_avg_sq", got + 2 * n, want + 2 * n, n, 1e-8, 1e-5);
  free(p), free(m), free(v), free(g), free(got), free(want), free(rp), free(rm), free(rv);
}

typedef struct {
  int64_t n;
  float lr, momentum, weight_decay, grad_scale;
  bool nesterov;
} sgd_case;

static const sgd_case sgd_cases[] = {
    {1, 0.1f, 0.0f, 0.0f, 1.0f, false},      {17, 0.05f, 0.9f, 0.0f, 1.0f, false},
    {1003, 0.01f, 0.9f, 1e-2f, 0.5f, true},  {4099, 0.2f, 0.5f, 1e-3f, 1.0f, false},
    {40009, 0.01f, 0.0f, 0.1f, 2.0f, false}, {333, 0.03f, 0.99f, 0.0f, 1.0f, true},
};

static void test_sgd(const sgd_case *c) {
  int64_t n = c->n;
  bool with_buf = c->momentum != 0.0f;
  float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *buf = NULL;
  double *rp = malloc(n * sizeof(double)), *rb = malloc(n * sizeof(double));
  float *got = malloc(2 * n * sizeof(float)), *want = malloc(2 * n * sizeof(float));
  if (with_buf) {
    buf = malloc(n * sizeof(float));
    leap_test_poison(buf, n); /* The first step must not read the buffer. */
  }
  leap_test_fill_normal(p, n, 1.0f, 2);
  for (int64_t i = 0; i < n; i++) rp[i] = p[i];
  const double lr = c->lr, mu = c->momentum, wd = c->weight_decay;
  for (int step = 1; step <= STEPS; step++) {
    leap_test_fill_normal(g, n, 1.0f, 200 + (uint64_t)step);
    leap_sgd_update_cpu(p, buf, g, n, c->lr, c->momentum, c->weight_decay, c->nesterov, step == 1, c->grad_scale);
    for (int64_t i = 0; i < n; i++) {
      double d = (double)g[i] * c->grad_scale + wd * rp[i];
      if (with_buf) {
        rb[i] = step == 1 ? d : mu * rb[i] + d;
        d = c->nesterov ? d + mu * rb[i] : rb[i];
      }
      rp[i] -= lr * d;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    got[i] = p[i], want[i] = (float)rp[i];
    got[n + i] = with_buf ? buf[i] : 0.0f, want[n + i] = with_buf ? (float)rb[i] : 0.0f;
  }
  leap_test_allclose("sgd param", got, want, n, 1e-6, 1e-5);
  leap_test_allclose("sgd momentum buffer", got + n, want + n, n, 1e-6, 1e-5);
  free(p), free(g), free(buf), free(rp), free(rb), free(got), free(want);
}

/* One parameter worked through torch's formulas by hand: p = 1, g = 0.5, lr 0.1, weight decay 0.01. */
static void test_by_hand(void) {
  float p = 1.0f, m = 0.0f, v = 0.0f, g = 0.5f;
  /* AdamW step 1 (betas 0.9, 0.999, eps 1e-8): p = 0.999, m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25,
   * p = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002. The betas are floats (0.999f is 0.999 + 1.3e-8), which
   * moves 1 - beta2, and so v, by about 1.3e-5 relative: the tolerances allow for that. */
  leap_adamw_update_cpu(&p, &m, &v, &g, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 1.0f);
  LEAP_TEST_ASSERT(fabs(p - 0.899000002) < 1e-6 && fabs(m - 0.05) < 1e-7 && fabs(v - 0.00025) < 2e-5 * 0.00025,
                   "adamw by hand: p %.9g m %.9g v %.9g", p, m, v);
  /* Step 2 with g = -0.5: p = 0.899 * 0.999 = 0.898101, m = 0.045 - 0.05 = -0.005, v = 0.00024975 + 0.00025 =
   * 0.00049975; m_hat = -0.005 / 0.19 = -0.0263157895, v_hat = 0.00049975 / 0.001999 = 0.25, so
   * p = 0.898101 + 0.1 * 0.0263157895 / 0.5 = 0.9033641579. */
  g = -0.5f;
  leap_adamw_update_cpu(&p, &m, &v, &g, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2, 1.0f);
  LEAP_TEST_ASSERT(fabs(p - 0.9033641579) < 1e-6 && fabs(m + 0.005) < 1e-7 && fabs(v - 0.00049975) < 2e-5 * 0.0005,
                   "adamw by hand, step 2: p %.9g m %.9g v %.9g", p, m, v);

  /* SGD, momentum 0.9: d = 0.5 + 0.01 = 0.51, buf = 0.51, p = 0.949; then d = 0.5 + 0.00949 = 0.50949,
   * buf = 0.459 + 0.50949 = 0.96849, p = 0.949 - 0.096849 = 0.852151. With Nesterov, step 1 is
   * p = 1 - 0.1 * (0.51 + 0.9 * 0.51) = 0.9031. */
  float buf = NAN;
  p = 1.0f, g = 0.5f;
  leap_sgd_update_cpu(&p, &buf, &g, 1, 0.1f, 0.9f, 0.01f, false, true, 1.0f);
  LEAP_TEST_ASSERT(fabs(p - 0.949) < 1e-6 && fabs(buf - 0.51) < 1e-6, "sgd by hand: p %.9g buf %.9g", p, buf);
  leap_sgd_update_cpu(&p, &buf, &g, 1, 0.1f, 0.9f, 0.01f, false, false, 1.0f);
  LEAP_TEST_ASSERT(fabs(p - 0.852151) < 1e-6 && fabs(buf - 0.96849) < 1e-6, "sgd by hand, step 2: p %.9g buf %.9g",
                   p, buf);
  p = 1.0f, buf = NAN;
  leap_sgd_update_cpu(&p, &buf, &g, 1, 0.1f, 0.9f, 0.01f, true, true, 1.0f);
  LEAP_TEST_ASSERT(fabs(p - 0.9031) < 1e-6, "sgd nesterov by hand: p %.9g", p);
}

static void test_sum_squares(void) {
  const int64_t sizes[] = {0, 1, 15, 16, 17, 4095, 4096, 4097, 1000003, 5000011};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    int64_t n = sizes[k];
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    leap_test_fill_normal(x, n, 3.0f, (uint64_t)k);
    double want = 0.0;
    for (int64_t i = 0; i < n; i++) want += (double)x[i] * x[i];
    double got = leap_sum_squares_cpu(x, n);
    LEAP_TEST_ASSERT(fabs(got - want) <= 1e-12 * want, "sum_squares n %lld: %.17g want %.17g", (long long)n, got,
                     want);
    /* Small integers make every partial exact, so the blocking must give exactly the sum. */
    long long exact = 0;
    for (int64_t i = 0; i < n; i++) x[i] = (float)((i * 7) % 13 - 6), exact += (long long)(x[i] * x[i]);
    got = leap_sum_squares_cpu(x, n);
    LEAP_TEST_ASSERT(got == (double)exact, "sum_squares of integers n %lld: %.17g want %lld", (long long)n, got,
                     exact);
    free(x);
  }
}

static void test_clip_scale(void) {
  LEAP_TEST_ASSERT(fabsf(leap_clip_scale(25.0, 1.0f) - (float)(1.0 / (5.0 + 1e-6))) == 0.0f, "clip norm 5 to 1: %.9g",
                   leap_clip_scale(25.0, 1.0f));
  LEAP_TEST_ASSERT(leap_clip_scale(25.0, 10.0f) == 1.0f, "no clip below max_norm");
  LEAP_TEST_ASSERT(leap_clip_scale(0.0, 1.0f) == 1.0f, "zero gradients are not scaled");
  LEAP_TEST_ASSERT(fabsf(leap_clip_scale(4e6, 1.0f) - 5e-4f) < 1e-9f, "clip norm 2000 to 1: %.9g",
                   leap_clip_scale(4e6, 1.0f));
  LEAP_TEST_ASSERT(isnan(leap_clip_scale(NAN, 1.0f)), "a NaN norm gives a NaN factor");
  LEAP_TEST_ASSERT(leap_clip_scale(INFINITY, 1.0f) == 0.0f, "an infinite norm gives 0");
}

/* Every kernel on 1 and on 2 threads, over a size that crosses the parallel threshold, gives the same bits. */
static void test_threads(void) {
#ifdef LEAP_WITH_OPENMP
  const int64_t n = 300007;
  float *g = malloc(n * sizeof(float)), *s[2][3];
  double ss[2];
  leap_test_fill_normal(g, n, 1.0f, 7);
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    for (int k = 0; k < 3; k++) {
      s[t][k] = malloc(n * sizeof(float));
      leap_test_fill_normal(s[t][k], n, 1.0f, 8 + (uint64_t)k);
      for (int64_t i = 0; i < n && k == 2; i++) s[t][k][i] = fabsf(s[t][k][i]);
    }
    leap_adamw_update_cpu(s[t][0], s[t][1], s[t][2], g, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 3, 0.7f);
    leap_sgd_update_cpu(s[t][0], s[t][1], g, n, 1e-2f, 0.9f, 1e-4f, true, false, 0.7f);
    ss[t] = leap_sum_squares_cpu(s[t][0], n) + leap_sum_squares_cpu(g, 1000003 < n ? 1000003 : n);
  }
  for (int k = 0; k < 3; k++)
    LEAP_TEST_ASSERT(memcmp(s[0][k], s[1][k], n * sizeof(float)) == 0, "optimizer state %d differs, 1 vs 2 threads",
                     k);
  LEAP_TEST_ASSERT(ss[0] == ss[1], "sum of squares differs, 1 vs 2 threads: %.17g %.17g", ss[0], ss[1]);
  float *big = malloc(5000011 * sizeof(float));
  leap_test_fill_normal(big, 5000011, 1.0f, 9);
  omp_set_num_threads(1);
  double one = leap_sum_squares_cpu(big, 5000011);
  omp_set_num_threads(2);
  double two = leap_sum_squares_cpu(big, 5000011);
  LEAP_TEST_ASSERT(one == two, "sum of squares of 5000011 differs, 1 vs 2 threads: %.17g %.17g", one, two);
  for (int t = 0; t < 2; t++)
    for (int k = 0; k < 3; k++) free(s[t][k]);
  free(g), free(big);
#endif
}

int main(void) {
  for (size_t k = 0; k < sizeof adamw_cases / sizeof adamw_cases[0]; k++) test_adamw(&adamw_cases[k]);
  for (size_t k = 0; k < sizeof sgd_cases / sizeof sgd_cases[0]; k++) test_sgd(&sgd_cases[k]);
  test_by_hand();
  test_sum_squares();
  test_clip_scale();
  test_threads();
  return leap_test_finish();
}
