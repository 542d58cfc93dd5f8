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
#include <stdbool.h>

#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): activations (inp, out, dinp, dout) are of dtype act, the weight, bias and their
 * gradients fp32. In bf16 mode weight_lowp is the weight's bf16 copy (K,R,S,C), which the products read when given;
 * NULL: they read the fp32 weight, rounded to bf16 on its way into the tensor cores. fp32 mode ignores it.
 *
 * These are the implicit-GEMM kernels of conv2d_cuda.cu (design: docs/conv-kernels.md): bf16 on the tensor cores
 * with fp32 accumulation, fp32 with FMAs; no im2col buffer. Backward needs leap_conv2d_workspace_floats_cuda(s)
 * floats of device workspace (forward none). Every reduction has a fixed order and no atomics: results are
 * bit-identical from run to run. Sizes and GEMM extents (N*P*Q, N*H*W, R*S*C, R*S*K) must fit in 32 bits. */
size_t leap_conv2d_workspace_floats_cuda(const leap_conv2d_shape *s);

/* out = conv2d(inp, weight) + bias. Writes every element of out. */
void leap_conv2d_forward_cuda(void *out,                 /* (N,P,Q,K) act */
                              const void *inp,           /* (N,H,W,C) act */
                              const float *weight,       /* (K,R,S,C) */
                              const void *weight_lowp,   /* (K,R,S,C) bf16, or NULL */
                              const float *bias,         /* (K), or NULL */
                              const leap_conv2d_shape *s, leap_dtype act, leap_cuda_stream stream);

/* out = relu(conv2d(inp, weight) + bias) in one pass (the ReLU in the epilogue). Writes every element of out. */
void leap_conv2d_forward_relu_cuda(void *out,                 /* (N,P,Q,K) act */
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

/* The gradient through a fused ReLU, from the ReLU's output: masked = dout where out > 0, else 0 (the gradient at 0
 * is 0, as leap_relu_backward_cpu). Writes every element of masked, which may be dout itself. */
void leap_conv2d_relu_mask_cuda(void *masked,            /* (n) act */
                                const void *dout,        /* (n) act */
                                const void *out,         /* (n) act, the fused op's output */
                                int64_t n, leap_dtype act, leap_cuda_stream stream);

/* The reference path (conv2d_ref_cuda.cu): a simple fp32-FMA implicit GEMM, with the same arguments and meaning
 * as leap_conv2d_forward_cuda / leap_conv2d_backward_cuda and its own workspace size. Slow; the GPU tests and the
 * op layer's engine switch compare the implicit-GEMM kernels against it. */
size_t leap_conv2d_workspace_floats_ref_cuda(const leap_conv2d_shape *s);
void leap_conv2d_forward_ref_cuda(void *out, const void *inp, const float *weight, const void *weight_lowp,
                                  const float *bias, const leap_conv2d_shape *s, leap_dtype act,
                                  leap_cuda_stream stream);
void leap_conv2d_backward_ref_cuda(void *dinp, float *dweight, float *dbias, const void *dout, const void *inp,
                                   const float *weight, const void *weight_lowp, const leap_conv2d_shape *s,
                                   float *workspace, leap_dtype act, leap_cuda_stream stream);

#ifdef LEAP_WITH_CUDNN
/* cuDNN's convolution on the same layout (NHWC input and output, KRSC filter) and precision: the BASELINE the
 * hand-written kernels are measured against (conv2d_cudnn.cu), never the engine's default path. A context owns a
 * cuDNN handle (set to the stream of each call), a cache of descriptors and chosen algorithms per shape and dtype
 * (the algorithm of each pass is measured once, by cudnnFind*, at the first call for a shape: that call allocates
 * and synchronises, so benchmarks warm up first), and a device workspace that grows as needed. Arguments have the
 * meaning of leap_conv2d_forward_cuda / leap_conv2d_backward_cuda; backward ACCUMULATES (cuDNN's beta = 1). In bf16
 * mode cuDNN computes the filter gradient in bf16 into the context's buffer, which is then added to the fp32
 * dweight; the bias (and ReLU) run in small kernels of their own, the bias gradient in the fixed-order reduction of
 * the implicit-GEMM path. Not thread-safe: one context per thread. */
typedef struct leap_conv2d_cudnn leap_conv2d_cudnn;

leap_conv2d_cudnn *leap_conv2d_cudnn_create(void);
void leap_conv2d_cudnn_destroy(leap_conv2d_cudnn *c);

void leap_conv2d_forward_cudnn(leap_conv2d_cudnn *c, void *out, const void *inp, const float *weight,
                               const void *weight_lowp, const float *bias, bool relu, const leap_conv2d_shape *s,
                               leap_dtype act, leap_cuda_stream stream);
void leap_conv2d_backward_cudnn(leap_conv2d_cudnn *c, void *dinp, float *dweight, float *dbias, const void *dout,
                                const void *inp, const float *weight, const void *weight_lowp,
                                const leap_conv2d_shape *s, leap_dtype act, leap_cuda_stream stream);
#endif

LEAP_EXTERN_C_END
#endif

#endif
