/* Data movement: transpose (any permutation of up to LEAP_TRANSPOSE_MAX_DIMS dimensions), concatenation and slicing
 * along one axis. Reshape needs no kernel.
 *
 * Concat and slice describe an array by the axis they work along: (outer, dim, inner), where outer is the product
 * of the dimensions before the axis and inner that of the dimensions after it; e.g. concatenating (B,T,C1) and
 * (B,T,C2) along the last axis is outer = B*T, sizes {C1, C2}, inner = 1.
 *
 * Every backward function ACCUMULATES (+=) into its gradient buffers. Each output element depends on exactly one
 * input element, so results are bit-identical whatever the number of threads. No buffers may overlap. */
#ifndef LEAP_KERNELS_SHAPE_SHAPE_H
#define LEAP_KERNELS_SHAPE_SHAPE_H

#include <stdint.h>

#define LEAP_TRANSPOSE_MAX_DIMS 5
#define LEAP_CONCAT_MAX_INPUTS 8

/* out = inp with its dimensions permuted: out's dimension i is inp's dimension perm[i], so out's shape is
 * (in_shape[perm[0]], ..., in_shape[perm[ndim-1]]). 1 <= ndim <= LEAP_TRANSPOSE_MAX_DIMS. */
void leap_transpose_forward_cpu(float *out,              /* in_shape permuted by perm */
                                const float *inp,        /* in_shape */
                                const int64_t *in_shape, /* (ndim) */
                                const int *perm,         /* (ndim) a permutation of 0..ndim-1 */
                                int ndim);

/* dinp += dout permuted back. ACCUMULATES. The shapes and perm are the forward's. */
void leap_transpose_backward_cpu(float *dinp,             /* in_shape */
                                 const float *dout,       /* in_shape permuted by perm */
                                 const int64_t *in_shape, /* (ndim) */
                                 const int *perm,         /* (ndim) */
                                 int ndim);

/* out = the n inputs concatenated along the axis: out is (outer, sum of sizes, inner), input i is
 * (outer, sizes[i], inner). 1 <= n <= LEAP_CONCAT_MAX_INPUTS. */
void leap_concat_forward_cpu(float *out,               /* (outer, sum(sizes), inner) */
                             const float *const *inps, /* (n) pointers, input i (outer, sizes[i], inner) */
                             const int64_t *sizes,     /* (n) */
                             int n, int64_t outer, int64_t inner);

/* dinps[i] += input i's part of dout. ACCUMULATES; any dinps[i] may be NULL when not wanted. */
void leap_concat_backward_cpu(float *const *dinps,  /* (n) pointers, gradient i (outer, sizes[i], inner) or NULL */
                              const float *dout,    /* (outer, sum(sizes), inner) */
                              const int64_t *sizes, /* (n) */
                              int n, int64_t outer, int64_t inner);

/* out = inp[:, start:end, :] along the axis, 0 <= start <= end <= dim. */
void leap_slice_forward_cpu(float *out,       /* (outer, end-start, inner) */
                            const float *inp, /* (outer, dim, inner) */
                            int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end);

/* dinp[:, start:end, :] += dout; the rest of dinp is left as it is. ACCUMULATES. */
void leap_slice_backward_cpu(float *dinp,       /* (outer, dim, inner) */
                             const float *dout, /* (outer, end-start, inner) */
                             int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md). act is the element type (LEAP_F32 or LEAP_BF16); these ops only move data, so an
 * fp32 parameter is moved with LEAP_F32 in either precision mode. Array arguments are device memory; in_shape,
 * perm, sizes and the pointer arrays inps/dinps themselves are host memory. Results equal the CPU's exactly, and
 * backward functions ACCUMULATE as theirs do. */
void leap_transpose_forward_cuda(void *out, const void *inp, const int64_t *in_shape, const int *perm, int ndim,
                                 leap_dtype act, leap_cuda_stream stream);
void leap_transpose_backward_cuda(void *dinp, const void *dout, const int64_t *in_shape, const int *perm, int ndim,
                                  leap_dtype act, leap_cuda_stream stream);
void leap_concat_forward_cuda(void *out,               /* (outer, sum(sizes), inner) */
                              const void *const *inps, /* (n) device pointers, input i (outer, sizes[i], inner) */
                              const int64_t *sizes,    /* (n) */
                              int n, int64_t outer, int64_t inner, leap_dtype act, leap_cuda_stream stream);
void leap_concat_backward_cuda(void *const *dinps,  /* (n) device pointers or NULL, (outer, sizes[i], inner) */
                               const void *dout,    /* (outer, sum(sizes), inner) */
                               const int64_t *sizes, /* (n) */
                               int n, int64_t outer, int64_t inner, leap_dtype act, leap_cuda_stream stream);
void leap_slice_forward_cuda(void *out,       /* (outer, end-start, inner) */
                             const void *inp, /* (outer, dim, inner) */
                             int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end, leap_dtype act,
                             leap_cuda_stream stream);
void leap_slice_backward_cuda(void *dinp,       /* (outer, dim, inner) */
                              const void *dout, /* (outer, end-start, inner) */
                              int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end, leap_dtype act,
                              leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
