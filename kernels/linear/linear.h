/* Fully connected layer in PyTorch's layout: out (N,OUT) = inp (N,IN) weight^T + bias, weight (OUT,IN).
 *
 * The products go through leap_sgemm_tiled_cpu (matmul.h); the bias gradient sums over rows with the fixed-block scheme
 * of kernel_common.h (leap_sum_rows_cpu, with a workspace), so every result is bit-identical whatever the number of
 * threads. */
#ifndef LEAP_KERNELS_LINEAR_LINEAR_H
#define LEAP_KERNELS_LINEAR_LINEAR_H

#include <stddef.h>
#include <stdint.h>

/* out = inp weight^T + bias (bias may be NULL). */
void leap_linear_forward_cpu(float *out,          /* (N,OUT) */
                             const float *inp,    /* (N,IN) */
                             const float *weight, /* (OUT,IN) */
                             const float *bias,   /* (OUT) or NULL */
                             int64_t N, int64_t IN, int64_t OUT);

/* Floats of workspace leap_linear_backward_cpu needs for dbias (a call without dbias may pass NULL). */
size_t leap_linear_backward_workspace_floats(int64_t N, int64_t OUT);

/* Gradients. ACCUMULATES: dinp += dout weight, dweight += dout^T inp, dbias += column sums of dout; any of them may
 * be NULL when not wanted. */
void leap_linear_backward_cpu(float *dinp,         /* (N,IN) or NULL */
                              float *dweight,      /* (OUT,IN) or NULL */
                              float *dbias,        /* (OUT) or NULL */
                              float *workspace,    /* leap_linear_backward_workspace_floats(N, OUT) */
                              const float *dout,   /* (N,OUT) */
                              const float *inp,    /* (N,IN) */
                              const float *weight, /* (OUT,IN) */
                              int64_t N, int64_t IN, int64_t OUT);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): inp, out and their gradients are activations of dtype act; weight, bias and their
 * gradients are fp32. In bf16 mode the products read weight_lowp, the weight's bf16 copy (NULL in fp32 mode), and
 * accumulate in fp32; dweight is written in fp32 directly. dbias is a deterministic column sum (elementwise.h).
 * The forward bias may be added in the product's epilogue, in fp32 before out is rounded to act. */
void leap_linear_forward_cuda(void *out,               /* (N,OUT) act */
                              const void *inp,         /* (N,IN) act */
                              const float *weight,     /* (OUT,IN) */
                              const void *weight_lowp, /* (OUT,IN) bf16 copy in bf16 mode, else NULL */
                              const float *bias,       /* (OUT) or NULL */
                              int64_t N, int64_t IN, int64_t OUT, leap_dtype act, leap_cuda_blas *blas);

/* Floats of workspace leap_linear_backward_cuda needs for dbias (0: none, NULL allowed). */
size_t leap_linear_backward_workspace_floats_cuda(int64_t N, int64_t OUT);

/* ACCUMULATES: dinp += dout weight, dweight += dout^T inp, dbias += column sums of dout; any may be NULL. */
void leap_linear_backward_cuda(void *dinp,              /* (N,IN) act, or NULL */
                               float *dweight,          /* (OUT,IN) or NULL */
                               float *dbias,            /* (OUT) or NULL */
                               float *workspace,        /* leap_linear_backward_workspace_floats_cuda(N, OUT) */
                               const void *dout,        /* (N,OUT) act */
                               const void *inp,         /* (N,IN) act */
                               const float *weight,     /* (OUT,IN) */
                               const void *weight_lowp, /* (OUT,IN) bf16 copy in bf16 mode, else NULL */
                               int64_t N, int64_t IN, int64_t OUT, leap_dtype act, leap_cuda_blas *blas);

LEAP_EXTERN_C_END
#endif

#endif
