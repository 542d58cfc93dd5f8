/* Private to kernels/conv2d: the Winograd F(2x2,3x3) path of the CPU convolution (conv2d_winograd_cpu.c says how
 * it works). conv2d_cpu.c decides per shape and direction whether to use it; these functions assume
 * leap__conv2d_wino_geometry_ok(s) and a workspace of at least leap__conv2d_wino_workspace_floats(s, threads)
 * floats, where threads is the most OpenMP threads the calls may run on. Results do not depend on the thread
 * count. */
#ifndef LEAP_KERNELS_CONV2D_CONV2D_WINOGRAD_H
#define LEAP_KERNELS_CONV2D_CONV2D_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/conv2d/conv2d.h"

/* A 3x3, stride-1 convolution with padding of at most 2 on each side and a non-empty output. */
bool leap__conv2d_wino_geometry_ok(const leap_conv2d_shape *s);

size_t leap__conv2d_wino_workspace_floats(const leap_conv2d_shape *s, int threads);

/* out = conv2d(inp, weight) + bias; writes every element of out. */
void leap__conv2d_wino_forward(float *out,               /* (N,P,Q,K) */
                               const float *inp,         /* (N,H,W,C) */
                               const float *weight,      /* (K,3,3,C) */
                               const float *bias,        /* (K), or NULL */
                               const leap_conv2d_shape *s, float *workspace);

/* ACCUMULATES dinp += dL/dinp. */
void leap__conv2d_wino_backward_data(float *dinp,         /* (N,H,W,C) */
                                     const float *dout,   /* (N,P,Q,K) */
                                     const float *weight, /* (K,3,3,C) */
                                     const leap_conv2d_shape *s, float *workspace);

/* ACCUMULATES dweight += dL/dweight. */
void leap__conv2d_wino_backward_filter(float *dweight,     /* (K,3,3,C) */
                                       const float *dout,  /* (N,P,Q,K) */
                                       const float *inp,   /* (N,H,W,C) */
                                       const leap_conv2d_shape *s, float *workspace);

#endif
