/* leap_mse_{forward,backward}_cpu against F.mse_loss (mean) (tests/fixtures/mse.safetensors, made by
 * tools/make_fixtures.py). Tolerances: |got - want| <= 1e-6 + 1e-5 |want|, against float64 references. The
 * backward runs twice to check that it accumulates. */
#include <stdlib.h>

#include "kernels/mse/mse.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5

static void run_case(const leap_fixture *fx, const char *c) {
  int64_t n = leap_fixture_int(fx, c, "n");
  float *pred = leap_fixture_f32(fx, c, "pred", n), *target = leap_fixture_f32(fx, c, "target", n);
  float *dloss = leap_fixture_f32(fx, c, "dloss", 1), *loss = leap_fixture_poisoned(1);
  float *dpred = leap_fixture_zeros(n), *dtarget = leap_fixture_zeros(n);
  float *ws = malloc((leap_mse_forward_workspace_floats(n) + 1) * sizeof(float));
  if (pred && target && dloss) {
    leap_mse_forward_cpu(loss, ws, pred, target, n);
    leap_fixture_check(fx, c, "loss", loss, 1, ATOL, RTOL);
    for (int pass = 1; pass <= 2; pass++) {
      leap_mse_backward_cpu(dpred, dtarget, dloss, pred, target, n);
      leap_fixture_check_times(fx, c, "dpred", dpred, n, (float)pass, ATOL, RTOL);
      leap_fixture_check_times(fx, c, "dtarget", dtarget, n, (float)pass, ATOL, RTOL);
    }
  }
  free(pred), free(target), free(dloss), free(loss), free(dpred), free(dtarget), free(ws);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "mse")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
