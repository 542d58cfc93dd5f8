/* leap_embedding_{forward,backward}_cpu against F.embedding, with repeated ids in the scatter-add
 * (tests/fixtures/embedding.safetensors, made by tools/make_fixtures.py). Tolerances: |got - want| <= 1e-6 + 1e-5
 * |want|, against float64 references. The backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/embedding/embedding.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t V = leap_fixture_int(fx, c, "V"), C = leap_fixture_int(fx, c, "C"), N = leap_fixture_int(fx, c, "N");
  float *table = leap_fixture_f32(fx, c, "table", V * C), *dout = leap_fixture_f32(fx, c, "dout", N * C);
  int32_t *ids = leap_fixture_i32(fx, c, "ids", N);
  float *out = leap_fixture_poisoned(N * C), *dtable = leap_fixture_zeros(V * C);
  if (table && dout && ids) {
    leap_embedding_forward_cpu(out, ids, table, N, C);
    leap_fixture_check(fx, c, "out", out, N * C, 0.0, 0.0);
    for (int pass = 1; pass <= 2; pass++) {
      leap_embedding_backward_cpu(dtable, dout, ids, N, C);
      leap_fixture_check_times(fx, c, "dtable", dtable, V * C, (float)pass, ATOL, RTOL);
    }
  }
  free(table), free(dout), free(ids), free(out), free(dtable);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "embedding")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
