/* 2-D convolution over NHWC feature maps, as im2col + sgemm (register tiles for layers with few channels), and
 * Winograd F(2x2,3x3) for 3x3 stride-1 layers with 8 or more input channels (kernels/conv2d/conv2d_winograd_cpu.c).
 *
 * Layout. Input (N,H,W,C), weight (K,R,S,C), bias (K), output (N,P,Q,K) with P = (H + 2*pad_h - R)/stride_h + 1
 * and Q = (W + 2*pad_w - S)/stride_w + 1. With the weight in (K,R,S,C) order, the receptive field of one output
 * pixel, read in (r,s,c) order, is one contiguous row of the im2col matrix and matches one row of the weight, so
 * the forward pass is out (rows,K) = col (rows,RSC) x weight^T for rows = N*P*Q output pixels. Zero padding is
 * implicit: padded positions read as zero and receive no gradient.
 *
 * Threads and workspace. The functions run on leap_kernels_threads() OpenMP threads and need a workspace of
 * leap_conv2d_workspace_floats(shape, leap_kernels_threads()) floats (one size covers both directions); it is a
 * few MB per thread whatever the batch size, because the im2col matrix and the Winograd transforms are built in
 * chunks of rows or tiles; Winograd adds the transformed filters (16*C*K floats) and 2 to 8 partial filter gradients
 * of that size (16 MB together at most, unless two alone are bigger, as with 512 channels in and out).
 * Results are bit-identical whatever the number of threads. */
#ifndef LEAP_KERNELS_CONV2D_CONV2D_H
#define LEAP_KERNELS_CONV2D_CONV2D_H

#include <stddef.h>
#include <stdint.h>

typedef struct leap_conv2d_shape {
  int64_t N, H, W, C;          /* input batch, height, width, channels */
  int64_t K, R, S;             /* output channels, kernel height, kernel width */
  int64_t stride_h, stride_w;  /* strides (>= 1) */
  int64_t pad_h, pad_w;        /* zero padding on each side (>= 0) */
  int64_t P, Q;                /* output height and width, computed by leap_conv2d_shape_init */
} leap_conv2d_shape;

/* Fills s and computes P and Q. The kernel must fit the padded input (H + 2*pad_h >= R, likewise W). */
void leap_conv2d_shape_init(leap_conv2d_shape *s, int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t R,
                            int64_t S, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w);

/* Floats of workspace that forward and backward need when run on `threads` threads. */
size_t leap_conv2d_workspace_floats(const leap_conv2d_shape *s, int threads);

/* out = conv2d(inp, weight) + bias. Writes every element of out. */
void leap_conv2d_forward_cpu(float *out,                /* (N,P,Q,K) */
                             const float *inp,          /* (N,H,W,C) */
                             const float *weight,       /* (K,R,S,C) */
                             const float *bias,         /* (K), or NULL for none */
                             const leap_conv2d_shape *s, float *workspace);

/* Gradients of conv2d. ACCUMULATES: dinp += dL/dinp, dweight += dL/dweight, dbias += dL/dbias; any of them may be
 * NULL when not wanted (the input of a first layer usually needs none). */
void leap_conv2d_backward_cpu(float *dinp,              /* (N,H,W,C), or NULL */
                              float *dweight,           /* (K,R,S,C), or NULL */
                              float *dbias,             /* (K), or NULL */
                              const float *dout,        /* (N,P,Q,K) */
                              const float *inp,         /* (N,H,W,C) */
                              const float *weight,      /* (K,R,S,C) */
                              const leap_conv2d_shape *s, float *workspace);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): activations (inp, out, dinp, dout) are of dtype act, the weight, bias and their
 * gradients fp32. In bf16 mode weight_lowp is the weight's bf16 copy (K,R,S,C), which the products read when given
 * (NULL: they read the fp32 weight); fp32 mode ignores it. The TEMPORARY implicit-GEMM kernels in conv2d_cuda.cu
 * need no im2col buffer; backward needs leap_conv2d_workspace_floats_cuda(s) floats of device workspace (forward
 * none). Every reduction has a fixed order: results are bit-identical from run to run. */
size_t leap_conv2d_workspace_floats_cuda(const leap_conv2d_shape *s);

/* out = conv2d(inp, weight) + bias. Writes every element of out. */
void leap_conv2d_forward_cuda(void *out,                 /* (N,P,Q,K) act */
                              const void *inp,           /* (N,H,W,C) act */
                              const float *weight,       /* (K,R,S,C) */
                              const void *weight_lowp,   /* (K,R,S,C) bf16, or NULL */
                              const float *bias,         /* (K), or NULL */
                              const leap_conv2d_shape *s, leap_dtype act, leap_cuda_stream stream);

/* ACCUMULATES dinp += dL/dinp, dweight += dL/dweight, dbias += dL/dbias; any of them may be NULL. */
void leap_conv2d_backward_cuda(void *dinp,               /* (N,H,W,C) act, or NULL */
                               float *dweight,           /* (K,R,S,C), or NULL */
                               float *dbias,             /* (K), or NULL */
                               const void *dout,         /* (N,P,Q,K) act */
                               const void *inp,          /* (N,H,W,C) act */
                               const float *weight,      /* (K,R,S,C) */
                               const void *weight_lowp,  /* (K,R,S,C) bf16, or NULL */
                               const leap_conv2d_shape *s, float *workspace, leap_dtype act,
                               leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
