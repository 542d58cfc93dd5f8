/* Shared definitions for the CPU kernels: restrict, threading, and the fixed-block reduction scheme.
 *
 * Reductions across rows (bias gradients, norm statistics, loss sums) must give the same bits whatever the
 * number of threads, so that a CPU run is reproducible. Every such reduction splits its rows into blocks of
 * LEAP_REDUCE_BLOCK rows (a constant, independent of the thread count), sums each block in row order, and then
 * adds the block partials in block order on one thread. Threads only decide who computes which block. */
#ifndef LEAP_KERNELS_COMMON_KERNEL_COMMON_H
#define LEAP_KERNELS_COMMON_KERNEL_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define LEAP_RESTRICT __restrict__
#define LEAP_REDUCE_BLOCK 64

#ifdef LEAP_WITH_OPENMP
#include <omp.h>
#define LEAP_PRAGMA(x) _Pragma(#x)
#define LEAP_OMP_FOR LEAP_PRAGMA(omp parallel for schedule(static))
#else
#define LEAP_OMP_FOR
#endif

/* Number of row blocks for a fixed-block reduction over n rows. */
static inline int64_t leap_reduce_blocks(int64_t n) { return (n + LEAP_REDUCE_BLOCK - 1) / LEAP_REDUCE_BLOCK; }

/* Threads the CPU kernels may use; set once by the runtime (leap_kernels_set_threads). */
int leap_kernels_threads(void);
void leap_kernels_set_threads(int n);

#endif
