/* The progress line of long work: step, loss, lr, throughput and ETA. On a terminal it redraws one line; in a log
 * (not a terminal) it prints a plain line every `every` steps and at the end. */
#ifndef LEAP_TRAIN_LOOP_PROGRESS_H
#define LEAP_TRAIN_LOOP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct leap_progress {
  FILE *out;
  bool tty;
  int64_t total_steps, every;
  double start, last;
  double items;          /* items (tokens, samples) processed so far */
  const char *item_unit; /* "tok/s", "samples/s" */
} leap_progress;

void leap_progress_init(leap_progress *p, FILE *out, int64_t total_steps, int64_t every, const char *item_unit);
/* Reports step (1-based) after it finished with this loss and lr, having processed `items` more items. */
void leap_progress_update(leap_progress *p, int64_t step, double loss, double lr, double items);
void leap_progress_finish(leap_progress *p);
double leap_progress_now(void);

#endif
