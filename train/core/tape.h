/* The autograd tape: an append-only array of records, one per op of the forward pass.
 *
 * backward() walks it in reverse with a loop and calls each op's backward from a table indexed by the op enum.
 * Records hold pointers to arena tensors and a small block of op attributes; the array itself is reused from step
 * to step (cleared, not freed), so a steady-state step does not allocate. */
#ifndef LEAP_TRAIN_CORE_TAPE_H
#define LEAP_TRAIN_CORE_TAPE_H

#include "train/core/op_list.h"
#include "train/core/tensor.h"

#define LEAP_TAPE_MAX_INPUTS 8
#define LEAP_TAPE_MAX_SAVED 4
#define LEAP_TAPE_ATTR_BYTES 128

typedef struct leap_tape_record {
  leap_op op;
  int n_inputs;
  leap_tensor *inputs[LEAP_TAPE_MAX_INPUTS];
  leap_tensor *output;
  leap_tensor *saved[LEAP_TAPE_MAX_SAVED]; /* what the backward needs beyond inputs and output */
  _Alignas(8) unsigned char attrs[LEAP_TAPE_ATTR_BYTES]; /* the op's own attribute struct */
} leap_tape_record;

typedef struct leap_tape {
  leap_tape_record *records;
  int count, capacity;
} leap_tape;

void leap_tape_init(leap_tape *tape);
void leap_tape_clear(leap_tape *tape);
void leap_tape_free(leap_tape *tape);
leap_tape_record *leap_tape_push(leap_tape *tape);

/* Stores/loads an op's attribute struct in a record (checked to fit at compile time by LEAP_TAPE_ATTRS). */
#define LEAP_TAPE_ATTRS(rec, type) \
  ((type *)((rec)->attrs + 0 * sizeof(char[sizeof(type) <= LEAP_TAPE_ATTR_BYTES ? 1 : -1])))

#endif
