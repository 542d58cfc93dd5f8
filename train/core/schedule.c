#include "train/core/schedule.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define SCHEDULE_PI 3.14159265358979323846

static const char *const schedule_names[LEAP_SCHEDULE_KIND_COUNT] = {
    [LEAP_SCHEDULE_CONSTANT] = "constant",
    [LEAP_SCHEDULE_WARMUP_COSINE] = "warmup_cosine",
    [LEAP_SCHEDULE_WARMUP_LINEAR] = "warmup_linear",
};

/* The decay factor in [0, 1] at fraction t of the decay phase. */
static double decay_factor(leap_schedule_kind kind, double t) {
  if (kind == LEAP_SCHEDULE_WARMUP_COSINE) return 0.5 * (1.0 + cos(SCHEDULE_PI * t));
  return 1.0 - t;
}

float leap_schedule_lr(const leap_schedule *s, int64_t step) {
  const double base = s->base_lr, min = s->min_lr;
  if (step < 0) step = 0;
  /* The rate is computed in double and rounded once, so that the warmup's end and the decay's ends are exact. */
  if (step < s->warmup_steps) return (float)(base * (double)step / (double)s->warmup_steps);
  if (s->kind == LEAP_SCHEDULE_CONSTANT) return s->base_lr;
  if (step >= s->total_steps) return s->min_lr;
  const double t = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
  return (float)(min + (base - min) * decay_factor(s->kind, t));
}

int leap_schedule_kind_from_name(const char *name) {
  if (name == NULL) return -1;
  for (int k = 0; k < LEAP_SCHEDULE_KIND_COUNT; k++)
    if (strcmp(name, schedule_names[k]) == 0) return k;
  return -1;
}

const char *leap_schedule_kind_name(leap_schedule_kind kind) {
  if ((int)kind < 0 || kind >= LEAP_SCHEDULE_KIND_COUNT) return NULL;
  return schedule_names[kind];
}
