/* Tests of the learning-rate schedules: values worked by hand at step 0, mid-warmup, the end of the warmup,
 * mid-decay, the end and past the end, for each kind; and the name parser. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "tests/common/leap_test.h"
#include "train/core/schedule.h"

typedef struct {
  leap_schedule s;
  int64_t step;
  double want;
} lr_case;

/* base 1, min 0.1, warmup 4, total 12: the decay phase is steps 4..12 (8 steps). Cosine at t = 1/4 is
 * 0.1 + 0.9 * (1 + cos(pi/4)) / 2 = 0.868198052; at t = 1/2, 0.55; at t = 7/8, 0.1 + 0.9 * (1 + cos(7pi/8)) / 2 =
 * 0.134254218. */
#define COS_S {LEAP_SCHEDULE_WARMUP_COSINE, 1.0f, 0.1f, 4, 12}
#define LIN_S {LEAP_SCHEDULE_WARMUP_LINEAR, 1.0f, 0.1f, 4, 12}
#define CONST_S {LEAP_SCHEDULE_CONSTANT, 3e-4f, 0.0f, 10, 0}

static const lr_case cases[] = {
    {COS_S, 0, 0.0},
    {COS_S, 1, 0.25},
    {COS_S, 2, 0.5},
    {COS_S, 3, 0.75},
    {COS_S, 4, 1.0},
    {COS_S, 6, 0.868198052},
    {COS_S, 8, 0.55},
    {COS_S, 11, 0.134254218},
    {COS_S, 12, 0.1},
    {COS_S, 1000, 0.1},
    {COS_S, -3, 0.0},
    {LIN_S, 0, 0.0},
    {LIN_S, 2, 0.5},
    {LIN_S, 4, 1.0},
    {LIN_S, 6, 0.775},
    {LIN_S, 8, 0.55},
    {LIN_S, 12, 0.1},
    {LIN_S, 13, 0.1},
    {CONST_S, 0, 0.0},
    {CONST_S, 5, 1.5e-4},
    {CONST_S, 10, 3e-4},
    {CONST_S, 1000000, 3e-4},
    /* No warmup: the first step already has the base rate. */
    {{LEAP_SCHEDULE_CONSTANT, 0.5f, 0.0f, 0, 0}, 0, 0.5},
    {{LEAP_SCHEDULE_WARMUP_COSINE, 2e-3f, 0.0f, 0, 100}, 0, 2e-3},
    {{LEAP_SCHEDULE_WARMUP_COSINE, 2e-3f, 0.0f, 0, 100}, 50, 1e-3},
    {{LEAP_SCHEDULE_WARMUP_COSINE, 2e-3f, 0.0f, 0, 100}, 100, 0.0},
    /* Total steps no later than the warmup: warmup, then min_lr. */
    {{LEAP_SCHEDULE_WARMUP_COSINE, 1.0f, 0.25f, 8, 8}, 4, 0.5},
    {{LEAP_SCHEDULE_WARMUP_COSINE, 1.0f, 0.25f, 8, 8}, 8, 0.25},
    {{LEAP_SCHEDULE_WARMUP_LINEAR, 1.0f, 0.25f, 8, 5}, 9, 0.25},
};

static void test_values(void) {
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const lr_case *c = &cases[k];
    float got = leap_schedule_lr(&c->s, c->step);
    LEAP_TEST_ASSERT(fabs(got - c->want) <= 1e-7 + 2e-7 * fabs(c->want), "case %zu (%s, step %lld): %.9g want %.9g",
                     k, leap_schedule_kind_name(c->s.kind), (long long)c->step, got, c->want);
  }
  /* The warmup's last value and the decay's first are exact copies of base_lr; the held value of min_lr. */
  leap_schedule s = {LEAP_SCHEDULE_WARMUP_COSINE, 6e-4f, 6e-5f, 100, 5000};
  LEAP_TEST_ASSERT(leap_schedule_lr(&s, 100) == 6e-4f, "end of warmup is exactly base_lr");
  LEAP_TEST_ASSERT(leap_schedule_lr(&s, 5000) == 6e-5f && leap_schedule_lr(&s, 7777) == 6e-5f, "min_lr held");
  /* Monotone: rising through the warmup, falling through the decay. */
  bool monotone = true;
  for (int64_t t = 1; t <= 100; t++) monotone &= leap_schedule_lr(&s, t) > leap_schedule_lr(&s, t - 1);
  for (int64_t t = 101; t <= 5000; t++) monotone &= leap_schedule_lr(&s, t) <= leap_schedule_lr(&s, t - 1);
  LEAP_TEST_ASSERT(monotone, "warmup_cosine is not monotone where it should be");
}

static void test_names(void) {
  LEAP_TEST_ASSERT(leap_schedule_kind_from_name("constant") == LEAP_SCHEDULE_CONSTANT, "constant");
  LEAP_TEST_ASSERT(leap_schedule_kind_from_name("warmup_cosine") == LEAP_SCHEDULE_WARMUP_COSINE, "warmup_cosine");
  LEAP_TEST_ASSERT(leap_schedule_kind_from_name("warmup_linear") == LEAP_SCHEDULE_WARMUP_LINEAR, "warmup_linear");
  const char *bad[] = {"", "cosine", "Constant", "warmup_cosine ", "linear"};
  for (int k = 0; k < 5; k++)
    LEAP_TEST_ASSERT(leap_schedule_kind_from_name(bad[k]) == -1, "unknown name '%s' accepted", bad[k]);
  LEAP_TEST_ASSERT(leap_schedule_kind_from_name(NULL) == -1, "NULL name accepted");
  for (int k = 0; k < LEAP_SCHEDULE_KIND_COUNT; k++)
    LEAP_TEST_ASSERT(leap_schedule_kind_from_name(leap_schedule_kind_name((leap_schedule_kind)k)) == k,
                     "kind %d does not round-trip through its name", k);
  LEAP_TEST_ASSERT(leap_schedule_kind_name(LEAP_SCHEDULE_KIND_COUNT) == NULL, "out-of-range kind has a name");
}

int main(void) {
  test_values();
  test_names();
  return leap_test_finish();
}
