/* Embedding lookup: out[n,:] = table[ids[n],:] for int32 ids, with the scatter-add backward.
 *
 * The kernel assumes 0 <= ids[n] < V (the op layer checks the ids). The backward pass adds rows that share an id
 * in the order n = 0, 1, ..., N-1; threads split the C columns among themselves, never the rows, so dtable is
 * bit-identical whatever the number of threads and needs no workspace or atomics. */
#ifndef LEAP_KERNELS_EMBEDDING_EMBEDDING_H
#define LEAP_KERNELS_EMBEDDING_EMBEDDING_H

#include <stdint.h>

/* out = table[ids]. */
void leap_embedding_forward_cpu(float *out,         /* (N,C) */
                                const int32_t *ids, /* (N) in [0, V) */
                                const float *table, /* (V,C) */
                                int64_t N, int64_t C);

/* dtable[ids[n],:] += dout[n,:] for every n. ACCUMULATES. */
void leap_embedding_backward_cpu(float *dtable,      /* (V,C) */
                                 const float *dout,  /* (N,C) */
                                 const int32_t *ids, /* (N) in [0, V) */
                                 int64_t N, int64_t C);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): out and dout are activations of dtype act; the table and its gradient are fp32.
 * The backward pass gives each dtable element one owning thread that adds its rows in the order n = 0, 1, ...
 * (no atomics, no workspace), so dtable equals the CPU's bit for bit. */
void leap_embedding_forward_cuda(void *out,          /* (N,C) act */
                                 const int32_t *ids, /* (N) in [0, V) */
                                 const float *table, /* (V,C) */
                                 int64_t N, int64_t C, leap_dtype act, leap_cuda_stream stream);

/* dtable[ids[n],:] += dout[n,:] for every n. ACCUMULATES. */
void leap_embedding_backward_cuda(float *dtable,      /* (V,C) */
                                  const void *dout,   /* (N,C) act */
                                  const int32_t *ids, /* (N) in [0, V) */
                                  int64_t N, int64_t C, leap_dtype act, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
