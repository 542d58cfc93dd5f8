/* Mean squared error over all n elements: loss = (1/n) * sum_i (pred[i] - target[i])^2.
 *
 * The sum runs over fixed chunks of LEAP_VEC_CHUNK elements (the flat-array form of kernel_common.h's fixed-block
 * scheme); each chunk's partial goes to the workspace and the partials are added in chunk order, in double, so the
 * loss is bit-identical whatever the number of threads. */
#ifndef LEAP_KERNELS_MSE_MSE_H
#define LEAP_KERNELS_MSE_MSE_H

#include <stddef.h>
#include <stdint.h>

/* Floats of workspace leap_mse_forward_cpu needs for n elements. */
size_t leap_mse_forward_workspace_floats(int64_t n);

/* Writes the mean squared error (0 when n is 0). */
void leap_mse_forward_cpu(float *loss,         /* (1) */
                          float *workspace,    /* leap_mse_forward_workspace_floats(n) */
                          const float *pred,   /* (n) */
                          const float *target, /* (n) */
                          int64_t n);

/* dpred += 2 * (pred - target) / n * dloss and dtarget -= the same. ACCUMULATES; either may be NULL. */
void leap_mse_backward_cpu(float *dpred,        /* (n) or NULL */
                           float *dtarget,      /* (n) or NULL */
                           const float *dloss,  /* (1) */
                           const float *pred,   /* (n) */
                           const float *target, /* (n) */
                           int64_t n);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): pred, target and their gradients are activations of dtype act; loss, dloss and the
 * workspace are fp32 device memory. The sum is deterministic: fixed chunks summed in fp32, their partials in
 * double in chunk order (see mse_cuda.cu). */
size_t leap_mse_forward_workspace_floats_cuda(int64_t n);

void leap_mse_forward_cuda(float *loss,        /* (1) */
                           float *workspace,   /* leap_mse_forward_workspace_floats_cuda(n) */
                           const void *pred,   /* (n) */
                           const void *target, /* (n) */
                           int64_t n, leap_dtype act, leap_cuda_stream stream);

/* dpred += 2 * (pred - target) / n * dloss and dtarget -= the same. ACCUMULATES; either may be NULL. */
void leap_mse_backward_cuda(void *dpred,        /* (n) or NULL */
                            void *dtarget,      /* (n) or NULL */
                            const float *dloss, /* (1) */
                            const void *pred,   /* (n) */
                            const void *target, /* (n) */
                            int64_t n, leap_dtype act, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
