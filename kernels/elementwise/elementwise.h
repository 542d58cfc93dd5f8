/* Elementwise arithmetic on flat float arrays, with broadcasting of the second operand.
 *
 * Broadcasting. a has n elements; b has nb elements, where nb divides n and b is a's trailing shape, e.g.
 * a (N,T,C) with b (T,C) or (C). Viewed as rows, a is (n/nb, nb) and b is one row used for every row of a;
 * nb == n means no broadcast. The gradient of a broadcast b sums over the rows of a with the fixed-block scheme of
 * kernel_common.h, so it is bit-identical whatever the number of threads; that needs a workspace of
 * leap_sum_rows_workspace_floats(n / nb, nb) floats (0 when nb == n, where workspace may be NULL).
 *
 * Every backward function ACCUMULATES (+=) into its gradient buffers and accepts NULL for a gradient that is not
 * wanted. out may be a itself (in-place); no other buffers may overlap. */
#ifndef LEAP_KERNELS_ELEMENTWISE_ELEMENTWISE_H
#define LEAP_KERNELS_ELEMENTWISE_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

/* Floats of workspace that leap_sum_rows_cpu (and a broadcast gradient) needs for a (rows, cols) input. */
size_t leap_sum_rows_workspace_floats(int64_t rows, int64_t cols);

/* dst[c] += sum_r x[r,c] * y[r,c] (or sum_r x[r,c] when y is NULL), summed in fixed blocks of
 * LEAP_REDUCE_BLOCK rows, then the block partials in block order. ACCUMULATES into dst. */
void leap_sum_rows_cpu(float *dst,       /* (cols) */
                       float *workspace, /* leap_sum_rows_workspace_floats(rows, cols) */
                       const float *x,   /* (rows,cols) */
                       const float *y,   /* (rows,cols) or NULL */
                       int64_t rows, int64_t cols);

/* out = a + b. */
void leap_add_forward_cpu(float *out,     /* (n) */
                          const float *a, /* (n) */
                          const float *b, /* (nb), broadcast over the n/nb rows of a */
                          int64_t n, int64_t nb);

/* da += dout; db += sum over the broadcast rows of dout. ACCUMULATES; da, db may be NULL. */
void leap_add_backward_cpu(float *da,         /* (n) or NULL */
                           float *db,         /* (nb) or NULL */
                           float *workspace,  /* leap_sum_rows_workspace_floats(n/nb, nb), when db is wanted */
                           const float *dout, /* (n) */
                           int64_t n, int64_t nb);

/* out = a * b. */
void leap_mul_forward_cpu(float *out,     /* (n) */
                          const float *a, /* (n) */
                          const float *b, /* (nb), broadcast over the n/nb rows of a */
                          int64_t n, int64_t nb);

/* da += dout * b; db += sum over the broadcast rows of dout * a. ACCUMULATES; da, db may be NULL. */
void leap_mul_backward_cpu(float *da,         /* (n) or NULL */
                           float *db,         /* (nb) or NULL */
                           float *workspace,  /* leap_sum_rows_workspace_floats(n/nb, nb), when db is wanted */
                           const float *dout, /* (n) */
                           const float *a,    /* (n) */
                           const float *b,    /* (nb) */
                           int64_t n, int64_t nb);

/* out = alpha * a. */
void leap_scale_forward_cpu(float *out,     /* (n) */
                            const float *a, /* (n) */
                            float alpha, int64_t n);

/* da += alpha * dout. ACCUMULATES. */
void leap_scale_backward_cpu(float *da,         /* (n) */
                             const float *dout, /* (n) */
                             float alpha, int64_t n);

/* out = a + s. Its backward is da += dout: leap_add_backward_cpu with db NULL, or leap_scale_backward_cpu with
 * alpha 1. */
void leap_add_scalar_forward_cpu(float *out,     /* (n) */
                                 const float *a, /* (n) */
                                 float s, int64_t n);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md). a, out, dout and da are activations of dtype act. The broadcast operand b and its
 * gradient db have their own dtype b_dtype: act for an activation, LEAP_F32 for an fp32 parameter (a learned
 * position table, say), read directly and whose gradient is summed into fp32. Sums over rows are deterministic (a
 * fixed order that depends on the shape only, see elementwise_cuda.cu) but not in the CPU's order, so they match
 * it to rounding. Backward functions ACCUMULATE as on the CPU and accept NULL gradients. */

/* Floats of workspace leap_sum_rows_cuda (and a broadcast gradient) needs for a (rows, cols) input; 0 when it
 * needs none (the workspace may then be NULL). */
size_t leap_sum_rows_workspace_floats_cuda(int64_t rows, int64_t cols);

/* dst[c] += sum_r x[r,c] * y[r,c] (or sum_r x[r,c] when y is NULL); x, y of dtype act, dst of dtype dst_dtype. */
void leap_sum_rows_cuda(void *dst,        /* (cols) dst_dtype */
                        leap_dtype dst_dtype,
                        float *workspace, /* leap_sum_rows_workspace_floats_cuda(rows, cols) */
                        const void *x,    /* (rows,cols) */
                        const void *y,    /* (rows,cols) or NULL */
                        int64_t rows, int64_t cols, leap_dtype act, leap_cuda_stream stream);

/* out = a + b. */
void leap_add_forward_cuda(void *out,     /* (n) */
                           const void *a, /* (n) */
                           const void *b, /* (nb) b_dtype, broadcast over the n/nb rows of a */
                           int64_t n, int64_t nb, leap_dtype act, leap_dtype b_dtype, leap_cuda_stream stream);

/* da += dout; db += sum over the broadcast rows of dout. ACCUMULATES; da, db may be NULL. */
void leap_add_backward_cuda(void *da,         /* (n) or NULL */
                            void *db,         /* (nb) b_dtype, or NULL */
                            float *workspace, /* leap_sum_rows_workspace_floats_cuda(n/nb, nb), when db is wanted */
                            const void *dout, /* (n) */
                            int64_t n, int64_t nb, leap_dtype act, leap_dtype b_dtype, leap_cuda_stream stream);

/* out = a * b. */
void leap_mul_forward_cuda(void *out,     /* (n) */
                           const void *a, /* (n) */
                           const void *b, /* (nb) b_dtype, broadcast over the n/nb rows of a */
                           int64_t n, int64_t nb, leap_dtype act, leap_dtype b_dtype, leap_cuda_stream stream);

/* da += dout * b; db += sum over the broadcast rows of dout * a. ACCUMULATES; da, db may be NULL. */
void leap_mul_backward_cuda(void *da,         /* (n) or NULL */
                            void *db,         /* (nb) b_dtype, or NULL */
                            float *workspace, /* leap_sum_rows_workspace_floats_cuda(n/nb, nb), when db is wanted */
                            const void *dout, /* (n) */
                            const void *a,    /* (n) */
                            const void *b,    /* (nb) b_dtype */
                            int64_t n, int64_t nb, leap_dtype act, leap_dtype b_dtype, leap_cuda_stream stream);

/* out = alpha * a. */
void leap_scale_forward_cuda(void *out, const void *a, float alpha, int64_t n, leap_dtype act,
                             leap_cuda_stream stream);

/* da += alpha * dout. ACCUMULATES. */
void leap_scale_backward_cuda(void *da, const void *dout, float alpha, int64_t n, leap_dtype act,
                              leap_cuda_stream stream);

/* out = a + s. */
void leap_add_scalar_forward_cuda(void *out, const void *a, float s, int64_t n, leap_dtype act,
                                  leap_cuda_stream stream);

/* dst = src converted between LEAP_F32 and LEAP_BF16 (round to nearest even); the same dtype copies. Makes the
 * first bf16 copy of a parameter (the optimizer keeps it up to date after that) and converts inputs. */
void leap_cast_cuda(void *dst, leap_dtype dst_dtype, const void *src, leap_dtype src_dtype, int64_t n,
                    leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
