/* Philox4x32-10, the counter-based generator shared by the CPU and CUDA paths (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11; the same constants and round structure as Random123 and cuRAND).
 *
 * A counter-based generator has no state to carry: value number i of a (seed, stream) pair is a pure function of
 * (seed, stream, i), so any thread, on any device, can compute any value directly, and results never depend on how
 * the work was split. The stream of values is defined as:
 *
 *   key     = (seed & 0xffffffff, seed >> 32)
 *   counter = (block & 0xffffffff, block >> 32, stream & 0xffffffff, stream >> 32), block = i / 4
 *   bits(i) = lane i % 4 of Philox4x32-10(counter, key)
 *
 * Everything here is static inline and marked LEAP_HOST_DEVICE so that a CUDA kernel includes this same file. */
#ifndef LEAP_KERNELS_RNG_PHILOX_H
#define LEAP_KERNELS_RNG_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define LEAP_HOST_DEVICE __host__ __device__
#else
#define LEAP_HOST_DEVICE
#endif

#define LEAP_PHILOX_M0 0xD2511F53u
#define LEAP_PHILOX_M1 0xCD9E8D57u
#define LEAP_PHILOX_W0 0x9E3779B9u
#define LEAP_PHILOX_W1 0xBB67AE85u
#define LEAP_PHILOX_ROUNDS 10

/* 2^-24: a uniform float keeps the top 24 bits of a 32-bit draw, exactly the precision of a float mantissa. */
#define LEAP_RNG_INV_2POW24 5.9604644775390625e-08f
#define LEAP_RNG_TWO_PI 6.28318530717958647692f

typedef struct leap_philox4 {
  uint32_t x[4];
} leap_philox4;

/* The raw generator: ten rounds over the counter, bumping the key by the Weyl constants between rounds. */
static inline LEAP_HOST_DEVICE leap_philox4 leap_philox4x32_10(leap_philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < LEAP_PHILOX_ROUNDS; r++) {
    if (r > 0) {
      k0 += LEAP_PHILOX_W0;
      k1 += LEAP_PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)LEAP_PHILOX_M0 * ctr.x[0];
    uint64_t p1 = (uint64_t)LEAP_PHILOX_M1 * ctr.x[2];
    leap_philox4 next = {{(uint32_t)(p1 >> 32) ^ ctr.x[1] ^ k0, (uint32_t)p1, (uint32_t)(p0 >> 32) ^ ctr.x[3] ^ k1,
                          (uint32_t)p0}};
    ctr = next;
  }
  return ctr;
}

/* The four 32-bit values numbered 4*block .. 4*block+3 of (seed, stream). */
static inline LEAP_HOST_DEVICE leap_philox4 leap_rng_block(uint64_t seed, uint64_t stream, uint64_t block) {
  leap_philox4 ctr = {{(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)}};
  return leap_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* 32-bit value number i of (seed, stream). */
static inline LEAP_HOST_DEVICE uint32_t leap_rng_bits(uint64_t seed, uint64_t stream, uint64_t i) {
  return leap_rng_block(seed, stream, i >> 2).x[i & 3];
}

/* Maps 32 random bits to [0, 1) in steps of 2^-24. */
static inline LEAP_HOST_DEVICE float leap_rng_bits_to_uniform(uint32_t bits) {
  return (float)(bits >> 8) * LEAP_RNG_INV_2POW24;
}

/* Box-Muller from two draws: a is mapped to (0, 1] so that its logarithm is finite, b to [0, 1). The cosine branch
 * only, so that normal number i depends on nothing but draws 2i and 2i+1. */
static inline LEAP_HOST_DEVICE float leap_rng_bits_to_normal(uint32_t a, uint32_t b) {
  float u1 = (float)((a >> 8) + 1u) * LEAP_RNG_INV_2POW24;
  float u2 = (float)(b >> 8) * LEAP_RNG_INV_2POW24;
  return sqrtf(-2.0f * logf(u1)) * cosf(LEAP_RNG_TWO_PI * u2);
}

/* Uniform number i of (seed, stream), in [0, 1). */
static inline LEAP_HOST_DEVICE float leap_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  return leap_rng_bits_to_uniform(leap_rng_bits(seed, stream, i));
}

/* Standard normal number i of (seed, stream): Box-Muller over uniform draws 2i and 2i+1 of the same stream, which
 * are lanes 2*(i%2) and 2*(i%2)+1 of block i/2. */
static inline LEAP_HOST_DEVICE float leap_rng_normal(uint64_t seed, uint64_t stream, uint64_t i) {
  leap_philox4 r = leap_rng_block(seed, stream, i >> 1);
  unsigned lane = 2u * (unsigned)(i & 1);
  return leap_rng_bits_to_normal(r.x[lane], r.x[lane + 1]);
}

#endif
