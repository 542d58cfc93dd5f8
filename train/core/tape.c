#include "train/core/tape.h"

#include <stdlib.h>
#include <string.h>

#include "train/core/op_support.h"

static const char *const g_op_names[] = {
#define LEAP_OP_NAME(upper, lower) #lower,
    LEAP_OP_LIST(LEAP_OP_NAME)
#undef LEAP_OP_NAME
};

static const leap__backward_fn g_backward[] = {
#define LEAP_OP_BACKWARD(upper, lower) leap__backward_##lower,
    LEAP_OP_LIST(LEAP_OP_BACKWARD)
#undef LEAP_OP_BACKWARD
};

const char *leap_op_name(leap_op op) { return (unsigned)op < LEAP_OP_COUNT ? g_op_names[op] : "?"; }

int leap_op_from_name(const char *name) {
  for (int i = 0; i < LEAP_OP_COUNT; i++)
    if (!strcmp(g_op_names[i], name)) return i;
  return -1;
}

void leap_tape_init(leap_tape *tape) { memset(tape, 0, sizeof *tape); }

void leap_tape_clear(leap_tape *tape) { tape->count = 0; }

void leap_tape_free(leap_tape *tape) {
  free(tape->records);
  memset(tape, 0, sizeof *tape);
}

leap_tape_record *leap_tape_push(leap_tape *tape) {
  if (tape->count == tape->capacity) {
    int capacity = tape->capacity ? tape->capacity * 2 : 256;
    leap_tape_record *records = realloc(tape->records, sizeof *records * (size_t)capacity);
    LEAP_ASSERT(records != NULL, "out of memory growing the tape to %d records", capacity);
    tape->records = records;
    tape->capacity = capacity;
  }
  return &tape->records[tape->count++];
}

/* Replays the tape in reverse. A record whose output received no gradient (a branch the loss does not depend on)
 * is skipped; every other record accumulates into its inputs' gradients. */
void leap__tape_backward(leap_ctx *ctx) {
  for (int i = ctx->tape.count - 1; i >= 0 && ctx->err.status == LEAP_OK; i--) {
    const leap_tape_record *rec = &ctx->tape.records[i];
    if (!rec->output->grad) continue;
    g_backward[rec->op](ctx, rec);
  }
}
