/* Batch normalisation over NHWC feature maps viewed as (M,C), M = N*H*W rows: statistics per channel over the
 * rows, then out = (x - mean) * invstd * gamma + beta, invstd = 1/sqrt(var + eps).
 *
 * Training mode uses the batch's mean and biased variance, saves mean and invstd for backward, and updates the
 * running statistics in place as PyTorch does: running = (1 - momentum) * running + momentum * batch, where the
 * running variance takes the UNBIASED batch variance (times M/(M-1)); M must be at least 2. Evaluation mode uses
 * the running statistics, which are then constants for backward.
 *
 * gamma and beta may be NULL (no affine transform: gamma = 1, beta = 0). Per-channel sums over the rows use the
 * fixed-block scheme of kernel_common.h, so results are bit-identical whatever the number of threads; their block
 * partials live in a workspace of leap_batchnorm_workspace_floats(M, C) floats (the same for every function). */
#ifndef LEAP_KERNELS_BATCHNORM_BATCHNORM_H
#define LEAP_KERNELS_BATCHNORM_BATCHNORM_H

#include <stddef.h>
#include <stdint.h>

size_t leap_batchnorm_workspace_floats(int64_t M, int64_t C);

/* Training forward: normalise with the batch statistics, save them, and update the running statistics. */
void leap_batchnorm_forward_train_cpu(float *out,              /* (M,C) */
                                      float *mean,             /* (C) saved for backward */
                                      float *invstd,           /* (C) saved for backward */
                                      float *running_mean,     /* (C) updated in place */
                                      float *running_var,      /* (C) updated in place */
                                      const float *inp,        /* (M,C) */
                                      const float *gamma,      /* (C), or NULL */
                                      const float *beta,       /* (C), or NULL */
                                      int64_t M, int64_t C, float momentum, float eps, float *workspace);

/* Evaluation forward: normalise with the running statistics. */
void leap_batchnorm_forward_eval_cpu(float *out,               /* (M,C) */
                                     const float *inp,         /* (M,C) */
                                     const float *gamma,       /* (C), or NULL */
                                     const float *beta,        /* (C), or NULL */
                                     const float *running_mean, /* (C) */
                                     const float *running_var, /* (C) */
                                     int64_t M, int64_t C, float eps, float *workspace);

/* Training backward, through the batch statistics. ACCUMULATES: dinp += dL/dinp, dgamma += dL/dgamma,
 * dbeta += dL/dbeta; any of them may be NULL when not wanted. */
void leap_batchnorm_backward_train_cpu(float *dinp,            /* (M,C), or NULL */
                                       float *dgamma,          /* (C), or NULL */
                                       float *dbeta,           /* (C), or NULL */
                                       const float *dout,      /* (M,C) */
                                       const float *inp,       /* (M,C) */
                                       const float *gamma,     /* (C), or NULL */
                                       const float *mean,      /* (C) from the training forward */
                                       const float *invstd,    /* (C) from the training forward */
                                       int64_t M, int64_t C, float *workspace);

/* Evaluation backward: the running statistics are constants. ACCUMULATES like the training backward. */
void leap_batchnorm_backward_eval_cpu(float *dinp,             /* (M,C), or NULL */
                                      float *dgamma,           /* (C), or NULL */
                                      float *dbeta,            /* (C), or NULL */
                                      const float *dout,       /* (M,C) */
                                      const float *inp,        /* (M,C) */
                                      const float *gamma,      /* (C), or NULL */
                                      const float *running_mean, /* (C) */
                                      const float *running_var, /* (C) */
                                      int64_t M, int64_t C, float eps, float *workspace);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): inp, out, dinp and dout are of dtype act; gamma, beta, the statistics and the
 * parameter gradients are fp32, and all arithmetic is fp32. Per-channel sums use the same fixed blocks as the CPU
 * functions, in a fixed order (no atomics). workspace is device memory of leap_batchnorm_workspace_floats_cuda(M, C)
 * floats; the backward functions ACCUMULATE into dinp, dgamma and dbeta, any of which may be NULL. */
size_t leap_batchnorm_workspace_floats_cuda(int64_t M, int64_t C);

void leap_batchnorm_forward_train_cuda(void *out,              /* (M,C) act */
                                       float *mean,            /* (C) saved for backward */
                                       float *invstd,          /* (C) saved for backward */
                                       float *running_mean,    /* (C) updated in place */
                                       float *running_var,     /* (C) updated in place */
                                       const void *inp,        /* (M,C) act */
                                       const float *gamma,     /* (C), or NULL */
                                       const float *beta,      /* (C), or NULL */
                                       int64_t M, int64_t C, float momentum, float eps, float *workspace,
                                       leap_dtype act, leap_cuda_stream stream);

void leap_batchnorm_forward_eval_cuda(void *out,               /* (M,C) act */
                                      const void *inp,         /* (M,C) act */
                                      const float *gamma,      /* (C), or NULL */
                                      const float *beta,       /* (C), or NULL */
                                      const float *running_mean, /* (C) */
                                      const float *running_var, /* (C) */
                                      int64_t M, int64_t C, float eps, float *workspace, leap_dtype act,
                                      leap_cuda_stream stream);

void leap_batchnorm_backward_train_cuda(void *dinp,            /* (M,C) act, or NULL */
                                        float *dgamma,         /* (C), or NULL */
                                        float *dbeta,          /* (C), or NULL */
                                        const void *dout,      /* (M,C) act */
                                        const void *inp,       /* (M,C) act */
                                        const float *gamma,    /* (C), or NULL */
                                        const float *mean,     /* (C) from the training forward */
                                        const float *invstd,   /* (C) from the training forward */
                                        int64_t M, int64_t C, float *workspace, leap_dtype act,
                                        leap_cuda_stream stream);

void leap_batchnorm_backward_eval_cuda(void *dinp,             /* (M,C) act, or NULL */
                                       float *dgamma,          /* (C), or NULL */
                                       float *dbeta,           /* (C), or NULL */
                                       const void *dout,       /* (M,C) act */
                                       const void *inp,        /* (M,C) act */
                                       const float *gamma,     /* (C), or NULL */
                                       const float *running_mean, /* (C) */
                                       const float *running_var, /* (C) */
                                       int64_t M, int64_t C, float eps, float *workspace, leap_dtype act,
                                       leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
