/* Tests of the elementwise kernels (add, mul with broadcasting; scale; add_scalar) and of leap_sum_rows_cpu:
 * forward values and accumulated gradients against naive references in double, in-place forward, NULL gradients,
 * finite-difference gradient checks of every input, and bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/elementwise.h"
#include "tests/common/leap_test.h"

/* a has n elements, b has nb (b is a's trailing shape, broadcast over n / nb rows). */
typedef struct {
  int64_t n, nb;
} bcast_case;

static const bcast_case cases[] = {
    {1, 1}, {13, 13}, {7 * 5 * 3, 15}, {7 * 5 * 3, 3}, {2 * 9 * 11, 99}, {129 * 33, 33}, {65 * 17, 1}, {37, 1},
};

/* Large enough for several chunks, row blocks and column chunks, so that the threads really split the work. */
static const bcast_case big_cases[] = {{300 * 1031, 1031}, {70001, 70001}, {4099 * 7, 7}};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

typedef enum { OP_ADD, OP_MUL } op_kind;

static void forward(op_kind op, float *out, const float *a, const float *b, int64_t n, int64_t nb) {
  if (op == OP_ADD)
    leap_add_forward_cpu(out, a, b, n, nb);
  else
    leap_mul_forward_cpu(out, a, b, n, nb);
}

static void backward(op_kind op, float *da, float *db, float *ws, const float *dout, const float *a, const float *b,
                     int64_t n, int64_t nb) {
  if (op == OP_ADD)
    leap_add_backward_cpu(da, db, ws, dout, n, nb);
  else
    leap_mul_backward_cpu(da, db, ws, dout, a, b, n, nb);
}

typedef struct {
  op_kind op;
  float *a, *b, *w, *out;
  int64_t n, nb;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  forward(c->op, c->out, c->a, c->b, c->n, c->nb);
  return leap_test_dot(c->out, c->w, c->n);
}

static void test_binary(op_kind op, const bcast_case *c) {
  const char *name = op == OP_ADD ? "add" : "mul";
  int64_t n = c->n, nb = c->nb;
  float *a = floats(n), *b = floats(nb), *out = floats(n), *want = floats(n), *dout = floats(n);
  float *da = floats(n), *db = floats(nb), *da0 = floats(n), *db0 = floats(nb);
  float *ws = floats((int64_t)leap_sum_rows_workspace_floats(n / nb, nb));
  leap_test_fill_uniform(a, n, -2.0f, 2.0f, (uint64_t)n);
  leap_test_fill_uniform(b, nb, -2.0f, 2.0f, (uint64_t)nb + 7);
  leap_test_fill_uniform(dout, n, -1.0f, 1.0f, (uint64_t)n + 3);
  leap_test_fill_uniform(da0, n, -1.0f, 1.0f, 11);
  leap_test_fill_uniform(db0, nb, -1.0f, 1.0f, 12);

  leap_test_poison(out, n);
  forward(op, out, a, b, n, nb);
  for (int64_t i = 0; i < n; i++) want[i] = (float)(op == OP_ADD ? (double)a[i] + b[i % nb] : (double)a[i] * b[i % nb]);
  char what[128];
  snprintf(what, sizeof what, "%s forward n %lld nb %lld", name, (long long)n, (long long)nb);
  leap_test_allclose(what, out, want, n, 0.0, 1e-6);

  /* In place: out is a. */
  memcpy(out, a, (size_t)n * sizeof(float));
  forward(op, out, out, b, n, nb);
  snprintf(what, sizeof what, "%s in-place forward n %lld nb %lld", name, (long long)n, (long long)nb);
  leap_test_allclose(what, out, want, n, 0.0, 1e-6);

  /* Backward accumulates onto the existing gradients. */
  memcpy(da, da0, (size_t)n * sizeof(float));
  memcpy(db, db0, (size_t)nb * sizeof(float));
  backward(op, da, db, ws, dout, a, b, n, nb);
  for (int64_t i = 0; i < n; i++) want[i] = (float)(da0[i] + (op == OP_ADD ? dout[i] : (double)dout[i] * b[i % nb]));
  snprintf(what, sizeof what, "%s da n %lld nb %lld", name, (long long)n, (long long)nb);
  leap_test_allclose(what, da, want, n, 1e-6, 1e-6);
  for (int64_t j = 0; j < nb; j++) {
    double s = db0[j];
    for (int64_t r = 0; r < n / nb; r++)
      s += op == OP_ADD ? dout[r * nb + j] : (double)dout[r * nb + j] * a[r * nb + j];
    want[j] = (float)s;
  }
  snprintf(what, sizeof what, "%s db n %lld nb %lld", name, (long long)n, (long long)nb);
  leap_test_allclose(what, db, want, nb, 1e-5, 1e-5);

  /* NULL gradients are skipped, and the other one is still computed. */
  memcpy(db, db0, (size_t)nb * sizeof(float));
  backward(op, NULL, db, ws, dout, a, b, n, nb);
  backward(op, NULL, NULL, ws, dout, a, b, n, nb);
  snprintf(what, sizeof what, "%s db with da NULL n %lld", name, (long long)n);
  leap_test_allclose(what, db, want, nb, 1e-5, 1e-5);

  /* Gradient checks of a and b with loss = sum(out * w): the analytic gradient is backward(dout = w). */
  if (n <= 5000) {
    loss_ctx lc = {op, a, b, dout, out, n, nb};
    memset(da, 0, (size_t)n * sizeof(float));
    memset(db, 0, (size_t)nb * sizeof(float));
    backward(op, da, db, ws, dout, a, b, n, nb);
    snprintf(what, sizeof what, "%s da n %lld nb %lld", name, (long long)n, (long long)nb);
    leap_test_gradcheck(what, loss_fn, &lc, a, da, n, 1e-2, 1e-3, 1e-2, 64);
    snprintf(what, sizeof what, "%s db n %lld nb %lld", name, (long long)n, (long long)nb);
    leap_test_gradcheck(what, loss_fn, &lc, b, db, nb, 1e-2, 1e-3, 1e-2, 64);
  }
  free(a), free(b), free(out), free(want), free(dout), free(da), free(db), free(da0), free(db0), free(ws);
}

static void test_scalar_ops(int64_t n) {
  float *a = floats(n), *out = floats(n), *want = floats(n), *dout = floats(n), *da = floats(n);
  leap_test_fill_uniform(a, n, -3.0f, 3.0f, (uint64_t)n + 1);
  leap_test_fill_uniform(dout, n, -1.0f, 1.0f, (uint64_t)n + 2);
  leap_test_poison(out, n);
  leap_scale_forward_cpu(out, a, -1.75f, n);
  for (int64_t i = 0; i < n; i++) want[i] = (float)(-1.75 * a[i]);
  leap_test_allclose("scale forward", out, want, n, 0.0, 1e-6);
  leap_test_poison(out, n);
  leap_add_scalar_forward_cpu(out, a, 0.3f, n);
  for (int64_t i = 0; i < n; i++) want[i] = (float)((double)a[i] + 0.3f);
  leap_test_allclose("add_scalar forward", out, want, n, 0.0, 1e-6);
  for (int64_t i = 0; i < n; i++) da[i] = 0.5f, want[i] = (float)(0.5 + 2.5 * dout[i]);
  leap_scale_backward_cpu(da, dout, 2.5f, n);
  leap_test_allclose("scale backward accumulates", da, want, n, 1e-6, 1e-6);
  free(a), free(out), free(want), free(dout), free(da);
}

static void test_sum_rows(int64_t rows, int64_t cols, bool with_y) {
  float *x = floats(rows * cols), *y = floats(rows * cols), *dst = floats(cols), *want = floats(cols);
  float *ws = floats((int64_t)leap_sum_rows_workspace_floats(rows, cols));
  leap_test_fill_uniform(x, rows * cols, -1.0f, 1.0f, (uint64_t)(rows * 31 + cols));
  leap_test_fill_uniform(y, rows * cols, -1.0f, 1.0f, (uint64_t)(rows * 37 + cols));
  for (int64_t c = 0; c < cols; c++) {
    dst[c] = (float)c;
    double s = (double)c;
    for (int64_t r = 0; r < rows; r++) s += with_y ? (double)x[r * cols + c] * y[r * cols + c] : x[r * cols + c];
    want[c] = (float)s;
  }
  leap_sum_rows_cpu(dst, ws, x, with_y ? y : NULL, rows, cols);
  char what[96];
  snprintf(what, sizeof what, "sum_rows rows %lld cols %lld y %d", (long long)rows, (long long)cols, with_y);
  leap_test_allclose(what, dst, want, cols, 1e-5, 1e-5);
  free(x), free(y), free(dst), free(want), free(ws);
}

/* One full forward and backward run on the given number of threads, into out, da, db. */
static void run_all(op_kind op, int threads, const bcast_case *c, const float *a, const float *b, const float *dout,
                    float *out, float *da, float *db, float *ws) {
  leap_kernels_set_threads(threads);
  forward(op, out, a, b, c->n, c->nb);
  memset(da, 0, (size_t)c->n * sizeof(float));
  memset(db, 0, (size_t)c->nb * sizeof(float));
  backward(op, da, db, ws, dout, a, b, c->n, c->nb);
}

static void test_threads(op_kind op, const bcast_case *c) {
  int64_t n = c->n, nb = c->nb;
  float *a = floats(n), *b = floats(nb), *dout = floats(n),
        *ws = floats((int64_t)leap_sum_rows_workspace_floats(n / nb, nb));
  float *out1 = floats(n), *da1 = floats(n), *db1 = floats(nb), *out2 = floats(n), *da2 = floats(n), *db2 = floats(nb);
  leap_test_fill_normal(a, n, 1.0f, 5);
  leap_test_fill_normal(b, nb, 1.0f, 6);
  leap_test_fill_normal(dout, n, 1.0f, 7);
  run_all(op, 1, c, a, b, dout, out1, da1, db1, ws);
  run_all(op, 2, c, a, b, dout, out2, da2, db2, ws);
  bool same = memcmp(out1, out2, (size_t)n * 4) == 0 && memcmp(da1, da2, (size_t)n * 4) == 0 &&
              memcmp(db1, db2, (size_t)nb * 4) == 0;
  LEAP_TEST_ASSERT(same, "op %d n %lld nb %lld: 1 and 2 threads differ", (int)op, (long long)n, (long long)nb);
  free(a), free(b), free(dout), free(ws), free(out1), free(da1), free(db1), free(out2), free(da2), free(db2);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_binary(OP_ADD, &cases[i]);
    test_binary(OP_MUL, &cases[i]);
  }
  for (size_t i = 0; i < sizeof big_cases / sizeof big_cases[0]; i++) {
    test_binary(OP_MUL, &big_cases[i]);
    test_threads(OP_ADD, &big_cases[i]);
    test_threads(OP_MUL, &big_cases[i]);
  }
  const int64_t scalar_sizes[] = {1, 17, 100003};
  for (int i = 0; i < 3; i++) test_scalar_ops(scalar_sizes[i]);
  const int64_t sum_shapes[][2] = {{1, 5}, {2, 3}, {64, 7}, {65, 9}, {129, 1031}, {1000, 3}, {3, 2500}};
  for (int i = 0; i < 7; i++) {
    test_sum_rows(sum_shapes[i][0], sum_shapes[i][1], false);
    test_sum_rows(sum_shapes[i][0], sum_shapes[i][1], true);
  }
  return leap_test_finish();
}
