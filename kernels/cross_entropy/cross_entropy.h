/* Softmax cross-entropy over logits (N,V) and int32 class targets (N), fused: the probabilities are never stored.
 *
 *   lse[n]  = log sum_v exp(logits[n,v])
 *   loss    = (1 / count) * sum over counted rows of (lse[n] - logits[n, targets[n]])
 *
 * A row whose target equals ignore_index is not counted: it adds nothing to the loss or the gradient. count is the
 * number of counted rows; the loss is 0 when it is 0. Targets other than ignore_index must lie in [0, V) (the op
 * layer checks them). The loss sum uses the fixed-block scheme of kernel_common.h (in double), and rows are
 * independent otherwise, so results are bit-identical whatever the number of threads. */
#ifndef LEAP_KERNELS_CROSS_ENTROPY_CROSS_ENTROPY_H
#define LEAP_KERNELS_CROSS_ENTROPY_CROSS_ENTROPY_H

#include <stdint.h>

/* Writes the mean loss, the count of counted rows (when count is not NULL), and every row's lse (ignored rows
 * included) for backward. */
void leap_cross_entropy_forward_cpu(float *loss,            /* (1) */
                                    int64_t *count,         /* (1) or NULL */
                                    float *lse,             /* (N) saved for backward */
                                    const float *logits,    /* (N,V) */
                                    const int32_t *targets, /* (N) */
                                    int64_t N, int64_t V, int32_t ignore_index);

/* dlogits[n,v] += (softmax(logits)[n,v] - [v == targets[n]]) * dloss / count for every counted row n, from the
 * saved lse; ignored rows get nothing. ACCUMULATES. count is recomputed from targets. */
void leap_cross_entropy_backward_cpu(float *dlogits,         /* (N,V) */
                                     const float *dloss,     /* (1) */
                                     const float *logits,    /* (N,V) */
                                     const int32_t *targets, /* (N) */
                                     const float *lse,       /* (N) from forward */
                                     int64_t N, int64_t V, int32_t ignore_index);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): logits and dlogits are activations of dtype act; loss, lse, dloss and the
 * workspace are fp32 device memory, count an int64 in device memory; all math is fp32 and the loss sum double, in
 * a fixed order. Nothing is read back to the host: dloss stays on the device. */
void leap_cross_entropy_forward_cuda(float *loss,            /* (1) */
                                     int64_t *count,         /* (1) or NULL */
                                     float *lse,             /* (N) saved for backward */
                                     const void *logits,     /* (N,V) act */
                                     const int32_t *targets, /* (N) */
                                     int64_t N, int64_t V, int32_t ignore_index, leap_dtype act,
                                     leap_cuda_stream stream);

/* Floats of workspace leap_cross_entropy_backward_cuda needs (the gradient scale and a flag). */
size_t leap_cross_entropy_backward_workspace_floats_cuda(void);

/* dlogits[n,v] += (softmax(logits)[n,v] - [v == targets[n]]) * dloss / count for every counted row. ACCUMULATES. */
void leap_cross_entropy_backward_cuda(void *dlogits,          /* (N,V) act */
                                      float *workspace,       /* leap_cross_entropy_backward_workspace_floats_cuda() */
                                      const float *dloss,     /* (1) */
                                      const void *logits,     /* (N,V) act */
                                      const int32_t *targets, /* (N) */
                                      const float *lse,       /* (N) from forward */
                                      int64_t N, int64_t V, int32_t ignore_index, leap_dtype act,
                                      leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
