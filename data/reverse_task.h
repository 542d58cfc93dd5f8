/* A small built-in sequence task for language models: a random sequence of `length` symbols, a separator, then
 * the same symbols reversed. Only the reversed half is scored (other targets are -1, ignored), so a model must
 * learn to attend by position: a quick check that a GPT learns, with no data files. */
#ifndef LEAP_DATA_REVERSE_TASK_H
#define LEAP_DATA_REVERSE_TASK_H

#include <stdint.h>

/* Vocabulary: 0 is the separator, 1..vocab-1 the symbols. Context needed: 2 * length + 1. */
typedef struct leap_reverse_task {
  int vocab, length;
} leap_reverse_task;

static inline int leap_reverse_task_context(const leap_reverse_task *t) { return 2 * t->length + 1; }

/* Fills tokens and targets, each (batch, 2*length+1) i32, with batch `index` of the stream for `seed`. */
void leap_reverse_task_batch(const leap_reverse_task *t, int batch, uint64_t seed, uint64_t index, int32_t *tokens,
                             int32_t *targets);

#endif
