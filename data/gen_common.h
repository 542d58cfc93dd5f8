/* What the seed tasks' generators (gen_robot.h, gen_vqa.h, gen_speech.h) share: the splits, and how each sample
 * draws its random numbers.
 *
 * Every random number a generator uses is a pure function of (seed, task, purpose, split, sample index, draw
 * number), taken from the counter-based Philox generator of kernels/rng/philox.h. A sample therefore never depends
 * on which thread made it or on what other samples were made, so generation parallelises over samples and gives
 * the same bits on any number of threads. Train, val and test use different streams, so they are independent
 * draws from the same distribution. */
#ifndef LEAP_DATA_GEN_COMMON_H
#define LEAP_DATA_GEN_COMMON_H

#include <stdint.h>

#include "kernels/rng/philox.h"

typedef enum leap_split { LEAP_SPLIT_TRAIN = 0, LEAP_SPLIT_VAL = 1, LEAP_SPLIT_TEST = 2 } leap_split;

#define LEAP_SPLIT_COUNT 3

/* Uniform draws one sample may take from one stream; a sample's draws are numbered sample * this + k. The
 * generators' rejection loops are bounded far below it. */
#define LEAP_GEN_DRAWS_PER_SAMPLE 65536u

/* The group name of a split in a file: "train", "val" or "test". */
static inline const char *leap_split_name(leap_split split) {
  return split == LEAP_SPLIT_TRAIN ? "train" : split == LEAP_SPLIT_VAL ? "val" : "test";
}

/* One stream per (task, purpose, split). */
static inline uint64_t leap_gen_stream(uint32_t task, uint32_t purpose, leap_split split) {
  return ((uint64_t)task << 32) | ((uint64_t)purpose << 8) | (uint64_t)split;
}

/* A cursor over one sample's draws of one stream. */
typedef struct leap_gen_rng {
  uint64_t seed, stream, next;
} leap_gen_rng;

static inline leap_gen_rng leap_gen_rng_at(uint64_t seed, uint64_t stream, int64_t sample) {
  leap_gen_rng r = {seed, stream, (uint64_t)sample * LEAP_GEN_DRAWS_PER_SAMPLE};
  return r;
}

/* Uniform in [0, 1). */
static inline float leap_gen_uniform(leap_gen_rng *r) { return leap_rng_uniform(r->seed, r->stream, r->next++); }

/* Uniform in [lo, hi). */
static inline float leap_gen_range(leap_gen_rng *r, float lo, float hi) {
  return lo + (hi - lo) * leap_gen_uniform(r);
}

/* Uniform integer in [0, n). */
static inline int leap_gen_int(leap_gen_rng *r, int n) {
  int k = (int)(leap_gen_uniform(r) * (float)n);
  return k < n ? k : n - 1;
}

/* Symmetric triangular noise in [-1, 1] from the two 16-bit halves of one 32-bit draw: cheap per-pixel noise. */
static inline float leap_gen_triangular(uint32_t bits) {
  return (float)((bits & 0xffffu) + (bits >> 16)) * (1.0f / 65535.0f) - 1.0f;
}

#endif
