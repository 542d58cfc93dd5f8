/* leap_matmul_{forward,backward}_cpu against torch.matmul, with transposed operands and a B broadcast over the
 * batch (tests/fixtures/matmul.safetensors, made by tools/make_fixtures.py). Tolerances: |got - want| <= 1e-6 +
 * 1e-5 |want|, against float64 references. The backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/matmul/matmul.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  leap_matmul_shape s = {
      .batch = leap_fixture_int(fx, c, "batch"), .M = leap_fixture_int(fx, c, "M"),
      .N = leap_fixture_int(fx, c, "N"), .K = leap_fixture_int(fx, c, "K"),
      .trans_a = leap_fixture_int(fx, c, "trans_a") != 0, .trans_b = leap_fixture_int(fx, c, "trans_b") != 0,
      .broadcast_b = leap_fixture_int(fx, c, "broadcast_b") != 0};
  int64_t na = s.batch * s.M * s.K, nb = (s.broadcast_b ? 1 : s.batch) * s.K * s.N, nc = s.batch * s.M * s.N;
  float *a = leap_fixture_f32(fx, c, "a", na), *b = leap_fixture_f32(fx, c, "b", nb);
  float *dout = leap_fixture_f32(fx, c, "dout", nc), *out = leap_fixture_poisoned(nc);
  float *da = leap_fixture_zeros(na), *db = leap_fixture_zeros(nb);
  if (a && b && dout) {
    leap_matmul_forward_cpu(out, a, b, &s);
    leap_fixture_check(fx, c, "out", out, nc, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_matmul_backward_cpu(da, db, dout, a, b, &s);
      leap_fixture_check_times(fx, c, "da", da, na, (float)pass, ATOL, RTOL);
      leap_fixture_check_times(fx, c, "db", db, nb, (float)pass, ATOL, RTOL);
    }
  }
  free(a), free(b), free(dout), free(out), free(da), free(db);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "matmul")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
