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

#endif
