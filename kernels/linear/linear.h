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

#endif
