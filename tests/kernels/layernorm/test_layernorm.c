/* Tests of layernorm: forward, saved mean and rstd, and the accumulated gradients against a naive reference in
 * double, with and without weight and bias, NULL gradients, finite-difference gradient checks of inp, weight and
 * bias, and bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/layernorm/layernorm.h"
#include "tests/common/leap_test.h"

typedef struct {
  int64_t N, C;
  bool affine;  /* weight and bias given (else NULL) */
  float offset; /* added to the inputs: a mean far from 0 */
} ln_case;

static const ln_case cases[] = {
    {1, 1, true, 0.0f},   {1, 7, true, 0.0f},     {3, 17, false, 0.0f}, {5, 33, true, 20.0f},
    {65, 33, true, 0.0f}, {130, 129, true, 1.0f}, {4, 768, true, 0.0f}, {129, 5, false, -3.0f},
};

static const float eps = 1e-5f;

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

typedef struct {
  float *x, *w, *b, *out, *mean, *rstd;
  int64_t N, C;
} ln_data;

static void forward(ln_data *d) {
  leap_layernorm_forward_cpu(d->out, d->mean, d->rstd, d->x, d->w, d->b, d->N, d->C, eps);
}

/* Reference forward and backward in double; dx, dw, db are the gradients of sum(out * dout). */
static void reference(const ln_data *d, const float *dout, float *out, float *mean, float *rstd, double *dx, double *dw,
                      double *db) {
  int64_t C = d->C;
  for (int64_t c = 0; c < C; c++) dw[c] = db[c] = 0.0;
  for (int64_t n = 0; n < d->N; n++) {
    const float *x = d->x + n * C;
    const float *g = dout + n * C;
    double m = 0.0, v = 0.0, mg = 0.0, mgx = 0.0;
    for (int64_t c = 0; c < C; c++) m += x[c];
    m /= (double)C;
    for (int64_t c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    double rs = 1.0 / sqrt(v / (double)C + eps);
    mean[n] = (float)m, rstd[n] = (float)rs;
    for (int64_t c = 0; c < C; c++) {
      double xh = (x[c] - m) * rs, w = d->w ? d->w[c] : 1.0, b = d->b ? d->b[c] : 0.0;
      out[n * C + c] = (float)(xh * w + b);
      mg += g[c] * w / (double)C;
      mgx += g[c] * w * xh / (double)C;
      dw[c] += g[c] * xh;
      db[c] += g[c];
    }
    for (int64_t c = 0; c < C; c++) {
      double xh = (x[c] - m) * rs, w = d->w ? d->w[c] : 1.0;
      dx[n * C + c] = (g[c] * w - mg - xh * mgx) * rs;
    }
  }
}

typedef struct {
  ln_data *d;
  const float *w;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  forward(c->d);
  return leap_test_dot(c->d->out, c->w, c->d->N * c->d->C);
}

/* grad = prior + the reference gradient, as float. */
static void expect(float *want, const float *prior, const double *g, int64_t n) {
  for (int64_t i = 0; i < n; i++) want[i] = (float)(prior[i] + g[i]);
}

static void test_case(const ln_case *k) {
  int64_t N = k->N, C = k->C, n = N * C;
  ln_data d = {
      floats(n), k->affine ? floats(C) : NULL, k->affine ? floats(C) : NULL, floats(n), floats(N), floats(N), N, C};
  float *dout = floats(n), *want = floats(n), *wmean = floats(N), *wrstd = floats(N);
  float *dx = floats(n), *dw = floats(C), *db = floats(C), *prior = floats(n + 1);
  double *rdx = malloc((size_t)n * sizeof(double)), *rdw = malloc((size_t)C * sizeof(double));
  double *rdb = malloc((size_t)C * sizeof(double));
  float *ws = floats((int64_t)leap_layernorm_backward_workspace_floats(N, C));
  leap_test_fill_normal(d.x, n, 1.5f, (uint64_t)n);
  for (int64_t i = 0; i < n; i++) d.x[i] += k->offset;
  if (d.w) leap_test_fill_uniform(d.w, C, 0.5f, 1.5f, (uint64_t)C + 1);
  if (d.b) leap_test_fill_uniform(d.b, C, -0.5f, 0.5f, (uint64_t)C + 2);
  leap_test_fill_normal(dout, n, 1.0f, (uint64_t)n + 3);
  leap_test_fill_uniform(prior, n + 1, -1.0f, 1.0f, 4);
  leap_test_poison(d.out, n), leap_test_poison(d.mean, N), leap_test_poison(d.rstd, N);
  forward(&d);
  reference(&d, dout, want, wmean, wrstd, rdx, rdw, rdb);
  char what[128];
  snprintf(what, sizeof what, "layernorm forward N %lld C %lld", (long long)N, (long long)C);
  leap_test_allclose(what, d.out, want, n, 2e-5, 2e-5);
  leap_test_allclose("layernorm mean", d.mean, wmean, N, 1e-6, 1e-6);
  leap_test_allclose("layernorm rstd", d.rstd, wrstd, N, 1e-6, 1e-4);

  memcpy(dx, prior, (size_t)n * 4), memcpy(dw, prior, (size_t)C * 4), memcpy(db, prior + 1, (size_t)C * 4);
  leap_layernorm_backward_cpu(dx, dw, db, ws, dout, d.x, d.w, d.mean, d.rstd, N, C);
  snprintf(what, sizeof what, "layernorm dinp N %lld C %lld", (long long)N, (long long)C);
  expect(want, prior, rdx, n);
  leap_test_allclose(what, dx, want, n, 1e-4, 1e-4);
  snprintf(what, sizeof what, "layernorm dweight N %lld C %lld", (long long)N, (long long)C);
  expect(want, prior, rdw, C);
  leap_test_allclose(what, dw, want, C, 1e-4, 1e-4);
  snprintf(what, sizeof what, "layernorm dbias N %lld C %lld", (long long)N, (long long)C);
  expect(want, prior + 1, rdb, C);
  leap_test_allclose(what, db, want, C, 1e-4, 1e-4);

  /* Each gradient alone (the others NULL) gives the same values. */
  float *dx2 = floats(n), *dw2 = floats(C);
  memcpy(dx2, prior, (size_t)n * 4), memcpy(dw2, prior, (size_t)C * 4);
  leap_layernorm_backward_cpu(dx2, NULL, NULL, NULL, dout, d.x, d.w, d.mean, d.rstd, N, C);
  leap_layernorm_backward_cpu(NULL, dw2, NULL, ws, dout, d.x, d.w, d.mean, d.rstd, N, C);
  LEAP_TEST_ASSERT(memcmp(dx, dx2, (size_t)n * 4) == 0 && memcmp(dw, dw2, (size_t)C * 4) == 0,
                   "N %lld C %lld: gradients computed alone differ", (long long)N, (long long)C);

  if (n <= 20000) {
    memset(dx, 0, (size_t)n * 4), memset(dw, 0, (size_t)C * 4), memset(db, 0, (size_t)C * 4);
    leap_layernorm_backward_cpu(dx, dw, db, ws, dout, d.x, d.w, d.mean, d.rstd, N, C);
    loss_ctx lc = {&d, dout};
    snprintf(what, sizeof what, "layernorm dinp N %lld C %lld", (long long)N, (long long)C);
    leap_test_gradcheck(what, loss_fn, &lc, d.x, dx, n, 1e-2, 2e-3, 2e-2, 200);
    if (d.w) {
      snprintf(what, sizeof what, "layernorm dweight N %lld C %lld", (long long)N, (long long)C);
      leap_test_gradcheck(what, loss_fn, &lc, d.w, dw, C, 1e-2, 2e-3, 2e-2, 200);
      snprintf(what, sizeof what, "layernorm dbias N %lld C %lld", (long long)N, (long long)C);
      leap_test_gradcheck(what, loss_fn, &lc, d.b, db, C, 1e-2, 2e-3, 2e-2, 200);
    }
  }
  free(d.x), free(d.w), free(d.b), free(d.out), free(d.mean), free(d.rstd), free(dout), free(want), free(wmean);
  free(wrstd), free(dx), free(dw), free(db), free(prior), free(rdx), free(rdw), free(rdb), free(ws), free(dx2),
      free(dw2);
}

static void test_threads(int64_t N, int64_t C) {
  int64_t n = N * C;
  float *x = floats(n), *w = floats(C), *b = floats(C), *dout = floats(n);
  float *ws = floats((int64_t)leap_layernorm_backward_workspace_floats(N, C));
  float *r[2][6];
  leap_test_fill_normal(x, n, 1.0f, 1), leap_test_fill_normal(w, C, 1.0f, 2), leap_test_fill_normal(b, C, 1.0f, 3);
  leap_test_fill_normal(dout, n, 1.0f, 4);
  for (int t = 0; t < 2; t++) {
    float **o = r[t];
    o[0] = floats(n), o[1] = floats(N), o[2] = floats(N), o[3] = floats(n), o[4] = floats(C), o[5] = floats(C);
    memset(o[3], 0, (size_t)n * 4), memset(o[4], 0, (size_t)C * 4), memset(o[5], 0, (size_t)C * 4);
    leap_kernels_set_threads(t + 1);
    leap_layernorm_forward_cpu(o[0], o[1], o[2], x, w, b, N, C, eps);
    leap_layernorm_backward_cpu(o[3], o[4], o[5], ws, dout, x, w, o[1], o[2], N, C);
  }
  const int64_t sizes[6] = {n, N, N, n, C, C};
  bool same = true;
  for (int i = 0; i < 6; i++) same = same && memcmp(r[0][i], r[1][i], (size_t)sizes[i] * 4) == 0;
  LEAP_TEST_ASSERT(same, "layernorm N %lld C %lld: 1 and 2 threads differ", (long long)N, (long long)C);
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 6; i++) free(r[t][i]);
  free(x), free(w), free(b), free(dout), free(ws);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
  test_threads(1000, 67);
  test_threads(257, 768);
  return leap_test_finish();
}
