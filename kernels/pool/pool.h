/* 2-D pooling over NHWC feature maps: max pool, average pool and global average pool.
 *
 * Windows. Output (N,P,Q,C) with P = (H + 2*pad_h - kh)/stride_h + 1 and likewise Q (floor mode). A window covers
 * input rows p*stride_h - pad_h .. + kh - 1 and columns q*stride_w - pad_w .. + kw - 1; the positions that fall in
 * the padding are ignored: max pool does not see them (as if -inf) and average pool divides by the number of
 * positions inside the image (count_include_pad = false). Padding must not exceed half the window
 * (pad_h <= kh/2, pad_w <= kw/2), as in PyTorch, so that every window holds at least one input position.
 *
 * Max pool saves, for each output element, the position of its maximum as an int32 index h*W + w into its input
 * plane; ties go to the first position in window order (row, then column), and a NaN wins over any number.
 *
 * Threads: the functions run on the OpenMP threads and their results do not depend on how many. */
#ifndef LEAP_KERNELS_POOL_POOL_H
#define LEAP_KERNELS_POOL_POOL_H

#include <stdint.h>

typedef struct leap_pool_shape {
  int64_t N, H, W, C;          /* input batch, height, width, channels */
  int64_t kh, kw;              /* window height and width */
  int64_t stride_h, stride_w;  /* strides (>= 1) */
  int64_t pad_h, pad_w;        /* padding on each side (<= half the window) */
  int64_t P, Q;                /* output height and width, computed by leap_pool_shape_init */
} leap_pool_shape;

/* Fills s and computes P and Q. */
void leap_pool_shape_init(leap_pool_shape *s, int64_t N, int64_t H, int64_t W, int64_t C, int64_t kh, int64_t kw,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w);

/* out = the maximum of each window; argmax = where it was (h*W + w within the image's (H,W) plane). */
void leap_maxpool_forward_cpu(float *out,               /* (N,P,Q,C) */
                              int32_t *argmax,          /* (N,P,Q,C) saved for backward */
                              const float *inp,         /* (N,H,W,C) */
                              const leap_pool_shape *s);

/* ACCUMULATES dinp += dL/dinp: each output's gradient goes to the input position its argmax names. */
void leap_maxpool_backward_cpu(float *dinp,             /* (N,H,W,C) */
                               const float *dout,       /* (N,P,Q,C) */
                               const int32_t *argmax,   /* (N,P,Q,C) from forward */
                               const leap_pool_shape *s);

/* out = the mean of each window over its positions inside the image (count_include_pad = false). */
void leap_avgpool_forward_cpu(float *out,               /* (N,P,Q,C) */
                              const float *inp,         /* (N,H,W,C) */
                              const leap_pool_shape *s);

/* ACCUMULATES dinp += dL/dinp. */
void leap_avgpool_backward_cpu(float *dinp,             /* (N,H,W,C) */
                               const float *dout,       /* (N,P,Q,C) */
                               const leap_pool_shape *s);

/* out[n,c] = the mean of inp[n,:,c] over the HW positions of image n. */
void leap_global_avgpool_forward_cpu(float *out,        /* (N,C) */
                                     const float *inp,  /* (N,HW,C) */
                                     int64_t N, int64_t HW, int64_t C);

/* ACCUMULATES dinp += dL/dinp = dout[n,c] / HW at every position. */
void leap_global_avgpool_backward_cpu(float *dinp,      /* (N,HW,C) */
                                      const float *dout, /* (N,C) */
                                      int64_t N, int64_t HW, int64_t C);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md): inputs, outputs and their gradients are of dtype act; argmax stays int32. They
 * need no workspace, never scatter (backward gathers from the covering windows) and give the same results as the
 * CPU functions above, summed in the same order; the backward functions ACCUMULATE as theirs do. */
void leap_maxpool_forward_cuda(void *out,               /* (N,P,Q,C) act */
                               int32_t *argmax,         /* (N,P,Q,C) saved for backward */
                               const void *inp,         /* (N,H,W,C) act */
                               const leap_pool_shape *s, leap_dtype act, leap_cuda_stream stream);
void leap_maxpool_backward_cuda(void *dinp,             /* (N,H,W,C) act */
                                const void *dout,       /* (N,P,Q,C) act */
                                const int32_t *argmax,  /* (N,P,Q,C) from forward */
                                const leap_pool_shape *s, leap_dtype act, leap_cuda_stream stream);
void leap_avgpool_forward_cuda(void *out,               /* (N,P,Q,C) act */
                               const void *inp,         /* (N,H,W,C) act */
                               const leap_pool_shape *s, leap_dtype act, leap_cuda_stream stream);
void leap_avgpool_backward_cuda(void *dinp,             /* (N,H,W,C) act */
                                const void *dout,       /* (N,P,Q,C) act */
                                const leap_pool_shape *s, leap_dtype act, leap_cuda_stream stream);
void leap_global_avgpool_forward_cuda(void *out,        /* (N,C) act */
                                      const void *inp,  /* (N,HW,C) act */
                                      int64_t N, int64_t HW, int64_t C, leap_dtype act, leap_cuda_stream stream);
void leap_global_avgpool_backward_cuda(void *dinp,      /* (N,HW,C) act */
                                       const void *dout, /* (N,C) act */
                                       int64_t N, int64_t HW, int64_t C, leap_dtype act, leap_cuda_stream stream);

LEAP_EXTERN_C_END
#endif

#endif
