/* Group normalisation over NHWC feature maps viewed as (N,HW,C): the C channels form G groups of C/G consecutive
 * channels; each (image n, group g) is normalised by its own mean and variance (biased) over its HW x C/G
 * elements, then scaled and shifted per channel: out = (x - mean[n,g]) * rstd[n,g] * gamma[c] + beta[c], with
 * rstd = 1/sqrt(var + eps). C must be a multiple of G. gamma and beta may be NULL (gamma = 1, beta = 0).
 *
 * Sums over the rows use the fixed-block scheme of kernel_common.h within each image, so results are
 * bit-identical whatever the number of threads; the block partials live in a workspace of
 * leap_groupnorm_workspace_floats(N, HW, C) floats (the same for forward and backward). */
#ifndef LEAP_KERNELS_GROUPNORM_GROUPNORM_H
#define LEAP_KERNELS_GROUPNORM_GROUPNORM_H

#include <stddef.h>
#include <stdint.h>

size_t leap_groupnorm_workspace_floats(int64_t N, int64_t HW, int64_t C);

/* out = groupnorm(inp); mean and rstd of each (image, group) are saved for backward. */
void leap_groupnorm_forward_cpu(float *out,             /* (N,HW,C) */
                                float *mean,            /* (N,G) saved for backward */
                                float *rstd,            /* (N,G) saved for backward */
                                const float *inp,       /* (N,HW,C) */
                                const float *gamma,     /* (C), or NULL */
                                const float *beta,      /* (C), or NULL */
                                int64_t N, int64_t HW, int64_t C, int64_t G, float eps, float *workspace);

/* Gradients of groupnorm. ACCUMULATES: dinp += dL/dinp, dgamma += dL/dgamma, dbeta += dL/dbeta; any of them may
 * be NULL when not wanted. */
void leap_groupnorm_backward_cpu(float *dinp,           /* (N,HW,C), or NULL */
                                 float *dgamma,         /* (C), or NULL */
                                 float *dbeta,          /* (C), or NULL */
                                 const float *dout,     /* (N,HW,C) */
                                 const float *inp,      /* (N,HW,C) */
                                 const float *gamma,    /* (C), or NULL */
                                 const float *mean,     /* (N,G) from forward */
                                 const float *rstd,     /* (N,G) from forward */
                                 int64_t N, int64_t HW, int64_t C, int64_t G, float *workspace);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): inp, out, dinp and dout are of dtype act; gamma, beta, mean, rstd and the
 * parameter gradients are fp32, and all arithmetic is fp32. Sums use the CPU's fixed blocks in a fixed order (no
 * atomics). workspace is device memory of leap_groupnorm_workspace_floats_cuda(N, HW, C) floats; backward
 * ACCUMULATES into dinp, dgamma and dbeta, any of which may be NULL. */
size_t leap_groupnorm_workspace_floats_cuda(int64_t N, int64_t HW, int64_t C);

void leap_groupnorm_forward_cuda(void *out,             /* (N,HW,C) act */
                                 float *mean,           /* (N,G) saved for backward */
                                 float *rstd,           /* (N,G) saved for backward */
                                 const void *inp,       /* (N,HW,C) act */
                                 const float *gamma,    /* (C), or NULL */
                                 const float *beta,     /* (C), or NULL */
                                 int64_t N, int64_t HW, int64_t C, int64_t G, float eps, float *workspace,
                                 leap_dtype act, leap_cuda_stream stream);

void leap_groupnorm_backward_cuda(void *dinp,           /* (N,HW,C) act, or NULL */
                                  float *dgamma,        /* (C), or NULL */
                                  float *dbeta,         /* (C), or NULL */
                                  const void *dout,     /* (N,HW,C) act */
                                  const void *inp,      /* (N,HW,C) act */
                                  const float *gamma,   /* (C), or NULL */
                                  const float *mean,    /* (N,G) from forward */
                                  const float *rstd,    /* (N,G) from forward */
                                  int64_t N, int64_t HW, int64_t C, int64_t G, float *workspace, leap_dtype act,
                                  leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
