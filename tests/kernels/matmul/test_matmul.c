/* Tests of the batched matrix product: forward and accumulated gradients against a naive reference in double for
 * every combination of trans_a, trans_b and broadcast_b over odd shapes, NULL gradients, finite-difference gradient
 * checks of a and b, leap_sgemm_tiled_cpu on its own (alpha, beta, a shared C), and bit-identical results on 1 and
 * 2 threads for products small (one tile) and large (many tiles, and sizes where OpenBLAS's own threading is not
 * reproducible). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/matmul/matmul.h"
#include "tests/common/leap_test.h"

static const int64_t shapes[][4] = {
    /* batch, M, N, K */
    {1, 1, 1, 1}, {3, 5, 7, 4}, {2, 13, 1, 9}, {4, 2, 3, 65}, {1, 33, 17, 70}, {70, 6, 5, 3},
};

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

/* Element (i, j) of op(x) for a matrix stored (rows, cols) untransposed or (cols, rows) transposed. */
static double at(const float *x, bool trans, int64_t rows, int64_t cols, int64_t i, int64_t j) {
  return trans ? x[j * rows + i] : x[i * cols + j];
}

static int64_t b_numel(const leap_matmul_shape *s) { return (s->broadcast_b ? 1 : s->batch) * s->K * s->N; }

/* Reference out, and the gradients of sum(out * dout) added onto prior, in a's and b's stored layouts. */
static void reference(const leap_matmul_shape *s, const float *a, const float *b, const float *dout, float prior,
                      float *out, float *da, float *db) {
  int64_t M = s->M, N = s->N, K = s->K;
  double *gb = calloc((size_t)b_numel(s), sizeof(double));
  for (int64_t i = 0; i < s->batch * M * K; i++) da[i] = prior;
  for (int64_t z = 0; z < s->batch; z++) {
    const float *az = a + z * M * K, *bz = b + (s->broadcast_b ? 0 : z * K * N), *gz = dout + z * M * N;
    double *gbz = gb + (s->broadcast_b ? 0 : z * K * N);
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0.0;
        for (int64_t k = 0; k < K; k++) acc += at(az, s->trans_a, M, K, i, k) * at(bz, s->trans_b, K, N, k, j);
        out[z * M * N + i * N + j] = (float)acc;
      }
    for (int64_t i = 0; i < M; i++)
      for (int64_t k = 0; k < K; k++) {
        double acc = 0.0;
        for (int64_t j = 0; j < N; j++) acc += (double)gz[i * N + j] * at(bz, s->trans_b, K, N, k, j);
        da[z * M * K + (s->trans_a ? k * M + i : i * K + k)] += (float)acc;
      }
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0.0;
        for (int64_t i = 0; i < M; i++) acc += at(az, s->trans_a, M, K, i, k) * gz[i * N + j];
        gbz[s->trans_b ? j * K + k : k * N + j] += acc;
      }
  }
  for (int64_t i = 0; i < b_numel(s); i++) db[i] = (float)(prior + gb[i]);
  free(gb);
}

typedef struct {
  const leap_matmul_shape *s;
  float *a, *b, *out, *w;
} loss_ctx;

static double loss_fn(void *user) {
  loss_ctx *c = user;
  leap_matmul_forward_cpu(c->out, c->a, c->b, c->s);
  return leap_test_dot(c->out, c->w, c->s->batch * c->s->M * c->s->N);
}

static void test_case(const leap_matmul_shape *s) {
  int64_t na = s->batch * s->M * s->K, nb = b_numel(s), no = s->batch * s->M * s->N;
  float *a = floats(na), *b = floats(nb), *out = floats(no), *dout = floats(no), *want = floats(no);
  float *da = floats(na), *db = floats(nb), *wda = floats(na), *wdb = floats(nb);
  leap_test_fill_normal(a, na, 1.0f, (uint64_t)na);
  leap_test_fill_normal(b, nb, 1.0f, (uint64_t)nb + 1);
  leap_test_fill_normal(dout, no, 1.0f, (uint64_t)no + 2);
  reference(s, a, b, dout, 0.5f, want, wda, wdb);
  leap_test_poison(out, no);
  leap_matmul_forward_cpu(out, a, b, s);
  char what[128];
  snprintf(what, sizeof what, "matmul batch %lld M %lld N %lld K %lld ta %d tb %d bcast %d", (long long)s->batch,
           (long long)s->M, (long long)s->N, (long long)s->K, s->trans_a, s->trans_b, s->broadcast_b);
  leap_test_allclose(what, out, want, no, 1e-5, 1e-5);
  for (int64_t i = 0; i < na; i++) da[i] = 0.5f;
  for (int64_t i = 0; i < nb; i++) db[i] = 0.5f;
  leap_matmul_backward_cpu(da, NULL, dout, a, b, s);
  leap_matmul_backward_cpu(NULL, db, dout, a, b, s);
  leap_test_allclose(what, da, wda, na, 1e-5, 1e-5);
  leap_test_allclose(what, db, wdb, nb, 1e-5, 1e-5);

  memset(da, 0, (size_t)na * 4), memset(db, 0, (size_t)nb * 4);
  leap_matmul_backward_cpu(da, db, dout, a, b, s);
  loss_ctx lc = {s, a, b, out, dout};
  leap_test_gradcheck(what, loss_fn, &lc, a, da, na, 1e-2, 1e-3, 1e-2, 100);
  leap_test_gradcheck(what, loss_fn, &lc, b, db, nb, 1e-2, 1e-3, 1e-2, 100);
  free(a), free(b), free(out), free(dout), free(want), free(da), free(db), free(wda), free(wdb);
}

/* leap_sgemm_tiled_cpu with alpha and beta, per-entry C and one shared C, against the double reference. */
static void test_tiled(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, bool shared_c) {
  int64_t lda = ta ? M : K, ldb = tb ? K : N;
  float *A = floats(batch * M * K), *B = floats(batch * K * N), *C = floats(batch * M * N),
        *want = floats(batch * M * N);
  leap_test_fill_normal(A, batch * M * K, 1.0f, 1), leap_test_fill_normal(B, batch * K * N, 1.0f, 2);
  leap_test_fill_normal(C, batch * M * N, 1.0f, 3);
  const float alpha = 0.75f, beta = -1.5f;
  int64_t nc = shared_c ? 1 : batch;
  for (int64_t c = 0; c < nc; c++)
    for (int64_t i = 0; i < M * N; i++) {
      double acc = beta * (double)C[c * M * N + i];
      for (int64_t z = shared_c ? 0 : c; z < (shared_c ? batch : c + 1); z++)
        for (int64_t k = 0; k < K; k++)
          acc += alpha * at(A + z * M * K, ta, M, K, i / N, k) * at(B + z * K * N, tb, K, N, k, i % N);
      want[c * M * N + i] = (float)acc;
    }
  leap_sgemm_tiled_cpu(ta, tb, batch, M, N, K, alpha, A, lda, M * K, B, ldb, K * N, beta, C, N, shared_c ? 0 : M * N);
  char what[96];
  snprintf(what, sizeof what, "sgemm_tiled ta %d tb %d batch %lld M %lld N %lld K %lld shared %d", ta, tb,
           (long long)batch, (long long)M, (long long)N, (long long)K, shared_c);
  leap_test_allclose(what, C, want, nc * M * N, 1e-4, 1e-4);
  free(A), free(B), free(C), free(want);
}

static void test_threads(const leap_matmul_shape *s) {
  int64_t na = s->batch * s->M * s->K, nb = b_numel(s), no = s->batch * s->M * s->N;
  float *a = floats(na), *b = floats(nb), *dout = floats(no), *r[2][3];
  leap_test_fill_normal(a, na, 1.0f, 1), leap_test_fill_normal(b, nb, 1.0f, 2),
      leap_test_fill_normal(dout, no, 1.0f, 3);
  const int64_t sizes[3] = {no, na, nb};
  for (int t = 0; t < 2; t++) {
    for (int i = 0; i < 3; i++) r[t][i] = floats(sizes[i]), memset(r[t][i], 0, (size_t)sizes[i] * 4);
    leap_kernels_set_threads(t + 1);
    leap_matmul_forward_cpu(r[t][0], a, b, s);
    leap_matmul_backward_cpu(r[t][1], r[t][2], dout, a, b, s);
  }
  bool same = true;
  for (int i = 0; i < 3; i++) same = same && memcmp(r[0][i], r[1][i], (size_t)sizes[i] * 4) == 0;
  LEAP_TEST_ASSERT(same, "matmul batch %lld M %lld N %lld K %lld ta %d tb %d bcast %d: 1 and 2 threads differ",
                   (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K, s->trans_a, s->trans_b,
                   s->broadcast_b);
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 3; i++) free(r[t][i]);
  free(a), free(b), free(dout);
}

int main(void) {
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int flags = 0; flags < 8; flags++) {
      leap_matmul_shape s = {shapes[i][0], shapes[i][1],     shapes[i][2],    shapes[i][3],
                             flags & 1,    (flags >> 1) & 1, (flags >> 2) & 1};
      test_case(&s);
    }
  for (int flags = 0; flags < 4; flags++) {
    test_tiled(flags & 1, flags >> 1, 3, 300, 131, 70, false);
    test_tiled(flags & 1, flags >> 1, 3, 300, 131, 70, true);
    test_tiled(flags & 1, flags >> 1, 1, 7, 600, 9, false);
  }
  /* Without OpenMP, OpenBLAS threads each call its own way (matmul.h): no guarantee to check. */
#ifdef LEAP_WITH_OPENMP
  const int64_t big[][4] = {{1, 385, 96, 1031}, {2, 300, 257, 131}, {6, 64, 64, 64}, {3, 129, 70, 513}};
  for (int i = 0; i < 4; i++)
    for (int flags = 0; flags < 8; flags++) {
      leap_matmul_shape s = {big[i][0], big[i][1], big[i][2], big[i][3], flags & 1, (flags >> 1) & 1, (flags >> 2) & 1};
      test_threads(&s);
    }
#else
  (void)test_threads;
#endif
  return leap_test_finish();
}
