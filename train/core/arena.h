/* A bump allocator for per-step memory (activations, saved tensors, activation gradients, kernel workspaces).
 *
 * The first steps grow it block by block; on reset, several blocks are merged into one block as large as the
 * step's peak, so that from then on a step of the same shape allocates nothing from the system. */
#ifndef LEAP_TRAIN_CORE_ARENA_H
#define LEAP_TRAIN_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "train/core/tensor.h"

#define LEAP_ARENA_MAX_BLOCKS 64

typedef struct leap_arena {
  leap_device device;
  struct {
    char *base;
    size_t size, used;
  } blocks[LEAP_ARENA_MAX_BLOCKS];
  int n_blocks;
  size_t step_used;   /* bytes handed out since the last reset */
  size_t peak;        /* the largest step_used seen */
  int64_t system_allocs; /* blocks ever allocated: a steady-state step leaves this unchanged */
} leap_arena;

void leap_arena_init(leap_arena *arena, leap_device device, size_t initial_bytes);
/* Memory aligned to LEAP_ALIGNMENT, valid until the next reset. Aborts when the device is out of memory. */
void *leap_arena_alloc(leap_arena *arena, size_t bytes);
void leap_arena_reset(leap_arena *arena);
void leap_arena_free(leap_arena *arena);

#endif
