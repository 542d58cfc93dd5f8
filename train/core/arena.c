#include "train/core/arena.h"

#include <string.h>

#include "train/core/device_memory.h"

#define ARENA_MIN_BLOCK ((size_t)1 << 20)

static size_t round_up(size_t n) { return (n + LEAP_ALIGNMENT - 1) / LEAP_ALIGNMENT * LEAP_ALIGNMENT; }

static void add_block(leap_arena *arena, size_t size) {
  LEAP_ASSERT(arena->n_blocks < LEAP_ARENA_MAX_BLOCKS, "arena has too many blocks");
  void *base = leap_device_alloc(arena->device, size);
  LEAP_ASSERT(base != NULL, "out of %s memory allocating a %zu-byte arena block", leap_device_name(arena->device),
              size);
  arena->blocks[arena->n_blocks].base = base;
  arena->blocks[arena->n_blocks].size = size;
  arena->blocks[arena->n_blocks].used = 0;
  arena->n_blocks++;
  arena->system_allocs++;
}

void leap_arena_init(leap_arena *arena, leap_device device, size_t initial_bytes) {
  memset(arena, 0, sizeof *arena);
  arena->device = device;
  if (initial_bytes) add_block(arena, round_up(initial_bytes));
}

void *leap_arena_alloc(leap_arena *arena, size_t bytes) {
  bytes = round_up(bytes ? bytes : 1);
  if (arena->n_blocks == 0 || arena->blocks[arena->n_blocks - 1].used + bytes > arena->blocks[arena->n_blocks - 1].size) {
    size_t last = arena->n_blocks ? arena->blocks[arena->n_blocks - 1].size : 0;
    size_t size = last * 2 > bytes ? last * 2 : bytes;
    add_block(arena, size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK);
  }
  char *p = arena->blocks[arena->n_blocks - 1].base + arena->blocks[arena->n_blocks - 1].used;
  arena->blocks[arena->n_blocks - 1].used += bytes;
  arena->step_used += bytes;
  if (arena->step_used > arena->peak) arena->peak = arena->step_used;
  return p;
}

void leap_arena_reset(leap_arena *arena) {
  if (arena->n_blocks > 1) {
    /* Merge into one block with some headroom, so the next step of this shape fits without growing. */
    size_t size = round_up(arena->peak + arena->peak / 8);
    for (int i = 0; i < arena->n_blocks; i++) leap_device_free(arena->device, arena->blocks[i].base);
    arena->n_blocks = 0;
    add_block(arena, size);
  }
  for (int i = 0; i < arena->n_blocks; i++) arena->blocks[i].used = 0;
  arena->step_used = 0;
}

void leap_arena_free(leap_arena *arena) {
  for (int i = 0; i < arena->n_blocks; i++) leap_device_free(arena->device, arena->blocks[i].base);
  arena->n_blocks = 0;
}
