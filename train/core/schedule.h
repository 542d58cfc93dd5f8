/* Learning-rate schedules: a plain struct the config fills, and the learning rate at a given step.
 *
 * Every kind starts with an optional linear warmup from 0: for step < warmup_steps the rate is
 * base_lr * step / warmup_steps (step 0 gives 0, as transformers' get_*_schedule_with_warmup). After the warmup:
 *   constant       base_lr;
 *   warmup_cosine  min_lr + (base_lr - min_lr) * (1 + cos(pi * t)) / 2, t = (step - warmup) / (total - warmup);
 *   warmup_linear  min_lr + (base_lr - min_lr) * (1 - t);
 * and the decaying kinds hold min_lr from total_steps on. */
#ifndef LEAP_TRAIN_CORE_SCHEDULE_H
#define LEAP_TRAIN_CORE_SCHEDULE_H

#include <stdint.h>

typedef enum leap_schedule_kind {
  LEAP_SCHEDULE_CONSTANT = 0,
  LEAP_SCHEDULE_WARMUP_COSINE,
  LEAP_SCHEDULE_WARMUP_LINEAR,
  LEAP_SCHEDULE_KIND_COUNT
} leap_schedule_kind;

typedef struct leap_schedule {
  leap_schedule_kind kind;
  float base_lr;         /* The peak rate, reached at the end of the warmup. */
  float min_lr;          /* The rate the decaying kinds end at; unused by constant. */
  int64_t warmup_steps;  /* 0 for no warmup. */
  int64_t total_steps;   /* The step at which decay reaches min_lr; unused by constant. */
} leap_schedule;

/* The learning rate for 0-based step `step` (a negative step is treated as 0). */
float leap_schedule_lr(const leap_schedule *s, int64_t step /* 0-based */);

/* "constant", "warmup_cosine" or "warmup_linear" to its kind; -1 for any other name (or NULL). */
int leap_schedule_kind_from_name(const char *name);

/* The name leap_schedule_kind_from_name accepts for kind, or NULL for an out-of-range kind. */
const char *leap_schedule_kind_name(leap_schedule_kind kind);

#endif
