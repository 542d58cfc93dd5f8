/* Pointwise activations over flat float arrays: GELU (tanh approximation) and ReLU.
 *
 * GELU is PyTorch's gelu(x, approximate='tanh') and GPT-2's:
 *   gelu(x) = 0.5 * x * (1 + tanh(u)),  u = sqrt(2/pi) * (x + 0.044715 * x^3).
 * The kernel uses the identity 0.5 * (1 + tanh(u)) = 1 / (1 + exp(-2u)) with a vectorised exp, which is both faster
 * and more accurate than evaluating tanh (no cancellation in 1 + tanh(u) for negative x).
 *
 * Backward functions take the forward's input x, ACCUMULATE (+=) into dinp, and are bit-identical whatever the
 * number of threads. out may be inp itself (in-place); in backward, dinp may not overlap dout or inp. */
#ifndef LEAP_KERNELS_ACTIVATION_ACTIVATION_H
#define LEAP_KERNELS_ACTIVATION_ACTIVATION_H

#include <stdint.h>

/* out = gelu(inp). */
void leap_gelu_forward_cpu(float *out,       /* (n) */
                           const float *inp, /* (n) */
                           int64_t n);

/* dinp += dout * gelu'(inp). ACCUMULATES. */
void leap_gelu_backward_cpu(float *dinp,       /* (n) */
                            const float *dout, /* (n) */
                            const float *inp,  /* (n) the forward's input */
                            int64_t n);

/* out = max(inp, 0); NaN passes through. */
void leap_relu_forward_cpu(float *out,       /* (n) */
                           const float *inp, /* (n) */
                           int64_t n);

/* dinp += dout where inp > 0 (the gradient at 0 is taken as 0, as in PyTorch). ACCUMULATES. */
void leap_relu_backward_cpu(float *dinp,       /* (n) */
                            const float *dout, /* (n) */
                            const float *inp,  /* (n) the forward's input */
                            int64_t n);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): every array is an activation of dtype act; fp32 math, the CPU's formulas. Backward
 * ACCUMULATES into dinp. out may be inp (in-place). */
void leap_gelu_forward_cuda(void *out /* (n) */, const void *inp /* (n) */, int64_t n, leap_dtype act,
                            leap_cuda_stream stream);
void leap_gelu_backward_cuda(void *dinp /* (n) */, const void *dout /* (n) */, const void *inp /* (n) */, int64_t n,
                             leap_dtype act, leap_cuda_stream stream);
void leap_relu_forward_cuda(void *out /* (n) */, const void *inp /* (n) */, int64_t n, leap_dtype act,
                            leap_cuda_stream stream);
void leap_relu_backward_cuda(void *dinp /* (n) */, const void *dout /* (n) */, const void *inp /* (n) */, int64_t n,
                             leap_dtype act, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
