/* leap_cross_entropy_{forward,backward}_cpu against F.cross_entropy(reduction='mean', ignore_index=...)
 * (tests/fixtures/cross_entropy.safetensors, made by tools/make_fixtures.py), with ignored rows, ignore_index 0,
 * V = 512, and a batch with every row ignored (where leap defines loss 0 and no gradient; PyTorch gives NaN, so the
 * fixture stores leap's values). Tolerances: |got - want| <= 1e-6 + 1e-5 |want|, against float64 references. The
 * backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/cross_entropy/cross_entropy.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t N = leap_fixture_int(fx, c, "N"), V = leap_fixture_int(fx, c, "V");
  int32_t ignore_index = (int32_t)leap_fixture_int(fx, c, "ignore_index");
  float *logits = leap_fixture_f32(fx, c, "logits", N * V), *dloss = leap_fixture_f32(fx, c, "dloss", 1);
  int32_t *targets = leap_fixture_i32(fx, c, "targets", N), *want_count = leap_fixture_i32(fx, c, "count", 1);
  float *loss = leap_fixture_poisoned(1), *lse = leap_fixture_poisoned(N), *dlogits = leap_fixture_zeros(N * V);
  if (logits && dloss && targets && want_count) {
    int64_t count = -1;
    leap_cross_entropy_forward_cpu(loss, &count, lse, logits, targets, N, V, ignore_index);
    LEAP_TEST_ASSERT(count == want_count[0], "cross_entropy/%s: count %lld, want %d", c, (long long)count,
                     want_count[0]);
    leap_fixture_check(fx, c, "loss", loss, 1, ATOL, RTOL);
    leap_fixture_check(fx, c, "lse", lse, N, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_cross_entropy_backward_cpu(dlogits, dloss, logits, targets, lse, N, V, ignore_index);
      leap_fixture_check_times(fx, c, "dlogits", dlogits, N * V, (float)pass, ATOL, RTOL);
    }
  }
  free(logits), free(dloss), free(targets), free(want_count), free(loss), free(lse), free(dlogits);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "cross_entropy")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
