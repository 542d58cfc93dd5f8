/* Tests of the embedding lookup: forward rows, the scatter-add backward (repeated ids accumulate, untouched rows
 * keep their values) against a naive reference in double, a finite-difference gradient check of the table, and
 * bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/embedding/embedding.h"
#include "tests/common/leap_test.h"

typedef struct {
  int64_t N, V, C;
} emb_case;

/* Cases with N > V repeat ids for sure. */
static const emb_case cases[] = {{1, 1, 1}, {5, 3, 7}, {17, 50, 33}, {64, 10, 16}, {100, 7, 129}, {3, 1000, 768}};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

typedef struct {
  float *out, *table, *w;
  const int32_t *ids;
  int64_t N, C;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  leap_embedding_forward_cpu(c->out, c->ids, c->table, c->N, c->C);
  return leap_test_dot(c->out, c->w, c->N * c->C);
}

static void test_case(const emb_case *k) {
  int64_t N = k->N, V = k->V, C = k->C;
  float *table = floats(V * C), *out = floats(N * C), *dout = floats(N * C), *dt = floats(V * C), *want = floats(V * C);
  double *acc = malloc((size_t)(V * C) * sizeof(double));
  int32_t *ids = malloc((size_t)N * sizeof(int32_t));
  leap_test_fill_normal(table, V * C, 1.0f, (uint64_t)(V * C));
  leap_test_fill_normal(dout, N * C, 1.0f, (uint64_t)(N * C) + 1);
  leap_test_fill_int(ids, N, 0, (int32_t)V, (uint64_t)N);
  ids[0] = (int32_t)V - 1;
  leap_test_poison(out, N * C);
  leap_embedding_forward_cpu(out, ids, table, N, C);
  bool rows_ok = true;
  for (int64_t n = 0; n < N; n++) rows_ok = rows_ok && memcmp(out + n * C, table + ids[n] * C, (size_t)C * 4) == 0;
  LEAP_TEST_ASSERT(rows_ok, "embedding N %lld V %lld C %lld: forward rows differ", (long long)N, (long long)V,
                   (long long)C);

  leap_test_fill_uniform(dt, V * C, -1.0f, 1.0f, 3);
  for (int64_t i = 0; i < V * C; i++) acc[i] = dt[i];
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) acc[ids[n] * C + c] += dout[n * C + c];
  for (int64_t i = 0; i < V * C; i++) want[i] = (float)acc[i];
  leap_embedding_backward_cpu(dt, dout, ids, N, C);
  char what[96];
  snprintf(what, sizeof what, "embedding dtable N %lld V %lld C %lld", (long long)N, (long long)V, (long long)C);
  leap_test_allclose(what, dt, want, V * C, 1e-6, 1e-5);

  memset(dt, 0, (size_t)(V * C) * 4);
  leap_embedding_backward_cpu(dt, dout, ids, N, C);
  loss_ctx lc = {out, table, dout, ids, N, C};
  leap_test_gradcheck(what, loss_fn, &lc, table, dt, V * C, 1e-2, 1e-3, 1e-2, 300);
  free(table), free(out), free(dout), free(dt), free(want), free(acc), free(ids);
}

static void test_threads(int64_t N, int64_t V, int64_t C) {
  float *table = floats(V * C), *dout = floats(N * C), *o[2], *d[2];
  int32_t *ids = malloc((size_t)N * sizeof(int32_t));
  leap_test_fill_normal(table, V * C, 1.0f, 1), leap_test_fill_normal(dout, N * C, 1.0f, 2);
  leap_test_fill_int(ids, N, 0, (int32_t)V, 3);
  for (int i = 0; i < 2; i++) {
    o[i] = floats(N * C), d[i] = floats(V * C);
    memset(d[i], 0, (size_t)(V * C) * 4);
    leap_kernels_set_threads(i + 1);
    leap_embedding_forward_cpu(o[i], ids, table, N, C);
    leap_embedding_backward_cpu(d[i], dout, ids, N, C);
  }
  LEAP_TEST_ASSERT(memcmp(o[0], o[1], (size_t)(N * C) * 4) == 0 && memcmp(d[0], d[1], (size_t)(V * C) * 4) == 0,
                   "embedding N %lld C %lld: 1 and 2 threads differ", (long long)N, (long long)C);
  free(table), free(dout), free(ids), free(o[0]), free(o[1]), free(d[0]), free(d[1]);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
  test_threads(2000, 37, 771);
  test_threads(4099, 500, 33);
  return leap_test_finish();
}
