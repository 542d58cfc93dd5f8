/* Softmax over the last dimension of a (N,C) array: out[n,c] = exp(inp[n,c] - max_c) / sum_c exp(inp[n,c] - max_c).
 * Rows are independent and run in parallel, each on one thread, so results are bit-identical whatever the number
 * of threads. */
#ifndef LEAP_KERNELS_SOFTMAX_SOFTMAX_H
#define LEAP_KERNELS_SOFTMAX_SOFTMAX_H

#include <stdint.h>

/* out = softmax(inp) along C. out may be inp itself (in-place). */
void leap_softmax_forward_cpu(float *out,       /* (N,C) */
                              const float *inp, /* (N,C) */
                              int64_t N, int64_t C);

/* dinp += out * (dout - sum_c(dout * out)), from the forward's output. ACCUMULATES; dinp may not overlap the
 * others. */
void leap_softmax_backward_cpu(float *dinp,       /* (N,C) */
                               const float *dout, /* (N,C) */
                               const float *out,  /* (N,C) the forward's output */
                               int64_t N, int64_t C);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): every array is an activation of dtype act; fp32 math; one block per row (N up to
 * 2^31 - 1). Backward ACCUMULATES into dinp. out may be inp in the forward pass. */
void leap_softmax_forward_cuda(void *out,       /* (N,C) */
                               const void *inp, /* (N,C) */
                               int64_t N, int64_t C, leap_dtype act, leap_cuda_stream stream);
void leap_softmax_backward_cuda(void *dinp,       /* (N,C) */
                                const void *dout, /* (N,C) */
                                const void *out,  /* (N,C) the forward's output */
                                int64_t N, int64_t C, leap_dtype act, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
