/* Layer normalisation over the last dimension of a (N,C) array:
 *   out[n,c] = (inp[n,c] - mean[n]) * rstd[n] * weight[c] + bias[c],  rstd[n] = 1 / sqrt(var[n] + eps),
 * with the biased variance (divided by C), as in PyTorch. weight and bias may be NULL (taken as 1 and 0).
 *
 * Determinism. Rows are independent in the forward pass. In the backward pass dweight and dbias sum over rows with
 * the fixed-block scheme of kernel_common.h, using a workspace of leap_layernorm_backward_workspace_floats(N, C)
 * floats, so every result is bit-identical whatever the number of threads. */
#ifndef LEAP_KERNELS_LAYERNORM_LAYERNORM_H
#define LEAP_KERNELS_LAYERNORM_LAYERNORM_H

#include <stddef.h>
#include <stdint.h>

/* out = layernorm(inp); also saves each row's mean and rstd for backward. out may be inp itself (in-place). */
void leap_layernorm_forward_cpu(float *out,          /* (N,C) */
                                float *mean,         /* (N) saved for backward */
                                float *rstd,         /* (N) saved for backward */
                                const float *inp,    /* (N,C) */
                                const float *weight, /* (C) or NULL */
                                const float *bias,   /* (C) or NULL */
                                int64_t N, int64_t C, float eps);

/* Floats of workspace leap_layernorm_backward_cpu needs for dweight and dbias (a call wanting neither may pass a
 * NULL workspace). */
size_t leap_layernorm_backward_workspace_floats(int64_t N, int64_t C);

/* Gradients of layernorm. ACCUMULATES: dinp += dL/dinp, dweight += dL/dweight, dbias += dL/dbias; any of them may be
 * NULL when not wanted. Needs the forward's input (not its output). */
void leap_layernorm_backward_cpu(float *dinp,         /* (N,C) or NULL */
                                 float *dweight,      /* (C) or NULL */
                                 float *dbias,        /* (C) or NULL */
                                 float *workspace,    /* leap_layernorm_backward_workspace_floats(N, C) */
                                 const float *dout,   /* (N,C) */
                                 const float *inp,    /* (N,C) the forward's input */
                                 const float *weight, /* (C) or NULL */
                                 const float *mean,   /* (N) from forward */
                                 const float *rstd,   /* (N) from forward */
                                 int64_t N, int64_t C);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): inp, out and their gradients are activations of dtype act; weight, bias, their
 * gradients and the saved mean/rstd are fp32. Row statistics are warp reductions; dweight and dbias are
 * deterministic column sums (an order fixed by the shape, see layernorm_cuda.cu). */
void leap_layernorm_forward_cuda(void *out,           /* (N,C) act; may be inp */
                                 float *mean,         /* (N) saved for backward */
                                 float *rstd,         /* (N) saved for backward */
                                 const void *inp,     /* (N,C) act */
                                 const float *weight, /* (C) or NULL */
                                 const float *bias,   /* (C) or NULL */
                                 int64_t N, int64_t C, float eps, leap_dtype act, leap_cuda_stream stream);

/* Floats of workspace leap_layernorm_backward_cuda needs for dweight and dbias (0: none, NULL allowed). */
size_t leap_layernorm_backward_workspace_floats_cuda(int64_t N, int64_t C);

/* ACCUMULATES into dinp, dweight, dbias; any may be NULL. Needs the forward's input. */
void leap_layernorm_backward_cuda(void *dinp,          /* (N,C) act, or NULL */
                                  float *dweight,      /* (C) or NULL */
                                  float *dbias,        /* (C) or NULL */
                                  float *workspace,    /* leap_layernorm_backward_workspace_floats_cuda(N, C) */
                                  const void *dout,    /* (N,C) act */
                                  const void *inp,     /* (N,C) act, the forward's input */
                                  const float *weight, /* (C) or NULL */
                                  const float *mean,   /* (N) from forward */
                                  const float *rstd,   /* (N) from forward */
                                  int64_t N, int64_t C, leap_dtype act, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
