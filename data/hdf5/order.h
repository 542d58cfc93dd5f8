/* The loader's epoch order: which sample each position of an epoch holds, the same on any machine for a given
 * (seed, epoch), and how positions are split among ranks.
 *
 * Samples are grouped in blocks of block_rows consecutive samples (a dataset's chunks along the sample dimension).
 * A shuffled epoch permutes the blocks, cuts the permuted blocks into groups of group_blocks, and permutes the
 * samples inside each group: a reader then decompresses each chunk once per epoch and holds at most a group's
 * chunks at a time, while every batch mixes samples from group_blocks chunks. With one block holding everything,
 * this is a plain uniform permutation.
 *
 * Random draws are Philox4x32-10 (kernels/rng/philox.h) keyed by the seed: draw k of stream s is the 64-bit value
 * whose low half is 32-bit value 2k and high half value 2k+1 of (seed, s). Stream (epoch << 2) | 0 permutes the
 * blocks, (epoch << 2) | 1 the samples in groups, (epoch << 2) | 2 places token windows. A permutation of m items is
 * Fisher-Yates from the back: for k = m-1 down to 1, swap item k with item floor(draw * (k+1) / 2^64) (draws
 * numbered k, plus the group's first position for the sample permutation). tools/bench_w6_h5py.py reimplements this
 * in Python; tests/data/test_loader_order.c pins a few values. */
#ifndef LEAP_DATA_HDF5_ORDER_H
#define LEAP_DATA_HDF5_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#define LEAP__STREAM_BLOCKS 0u
#define LEAP__STREAM_SAMPLES 1u
#define LEAP__STREAM_WINDOWS 2u

/* Draw k of (seed, stream) as 64 bits, and mapped to [0, m). */
uint64_t leap__order_draw(uint64_t seed, uint64_t stream, uint64_t k);
uint64_t leap__order_below(uint64_t seed, uint64_t stream, uint64_t k, uint64_t m);

/* Fills order (n) with epoch `epoch`'s sample order over samples 0..n-1. Unshuffled, it is 0..n-1. block_scratch
 * holds ceil(n / block_rows) entries. */
void leap__epoch_order(int64_t *order, int64_t n, int64_t block_rows, int64_t group_blocks, bool shuffle, uint64_t seed,
                       int64_t epoch, int64_t *block_scratch);

/* The first token of window k of an epoch over a stream of n_tokens, for windows of window+1 tokens: uniform over
 * [0, n_tokens - window - 1] when shuffled, else k * window (clamped to the last full window). */
int64_t leap__window_start(int64_t k, int64_t n_tokens, int64_t window, bool shuffle, uint64_t seed, int64_t epoch);

/* Rank r's positions of an epoch of n: [*lo, *hi), contiguous so that a rank reads only its own groups. */
void leap__rank_range(int64_t n, int rank, int world, int64_t *lo, int64_t *hi);

#endif
