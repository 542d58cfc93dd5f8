/* The differentiable ops. Each takes the context, returns a new arena tensor, and records itself on the tape when
 * gradients are on and an input needs one. On bad input an op returns NULL with ctx->err naming the op and the
 * shapes (train/core/context.h); any NULL input makes it return NULL at once.
 *
 * Shapes: "..." means any leading dims (flattened into rows). Images and feature maps are NHWC. f32 throughout on
 * the CPU; integer inputs (ids, targets, lengths) are i32. */
#ifndef LEAP_TRAIN_CORE_OPS_H
#define LEAP_TRAIN_CORE_OPS_H

#include "train/core/context.h"

/* (...,M,K) x (...,K,N) -> (...,M,N), with optional transposes of the last two dims of a or b. b may have no
 * leading dims (2-D), then it is shared by every matrix of a. */
leap_tensor *leap_matmul(leap_ctx *ctx, leap_tensor *a, leap_tensor *b, bool trans_a, bool trans_b);
/* x (...,IN), weight (OUT,IN), bias (OUT) or NULL -> (...,OUT). */
leap_tensor *leap_linear(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias);
/* gelu(leap_linear(x, weight, bias)) as one op: bit-identical to the two on the CPU and in fp32, the GELU fused
 * into the product's epilogue in bf16 on CUDA. */
leap_tensor *leap_linear_gelu(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias);
/* a + b, a * b: b has a's shape or a's trailing shape (broadcast over the leading dims). */
leap_tensor *leap_add(leap_ctx *ctx, leap_tensor *a, leap_tensor *b);
leap_tensor *leap_mul(leap_ctx *ctx, leap_tensor *a, leap_tensor *b);
leap_tensor *leap_scale(leap_ctx *ctx, leap_tensor *a, float alpha);
/* table (V,C), ids i32 (...) -> (...,C). An id outside [0,V) is an error naming it. */
leap_tensor *leap_embedding(leap_ctx *ctx, leap_tensor *table, leap_tensor *ids);
/* Over the last dim C: weight, bias (C). */
leap_tensor *leap_layernorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, float eps);
leap_tensor *leap_gelu(leap_ctx *ctx, leap_tensor *x); /* tanh approximation, as GPT-2 */
leap_tensor *leap_relu(leap_ctx *ctx, leap_tensor *x);
leap_tensor *leap_softmax(leap_ctx *ctx, leap_tensor *x); /* over the last dim */
/* logits (...,V), targets i32 (...) -> the mean loss over targets != ignore_index (a scalar). */
leap_tensor *leap_cross_entropy(leap_ctx *ctx, leap_tensor *logits, leap_tensor *targets, int32_t ignore_index);
/* mean((pred - target)^2) over all elements (a scalar); target gets no gradient. */
leap_tensor *leap_mse(leap_ctx *ctx, leap_tensor *pred, leap_tensor *target);
/* x (N,H,W,C), weight (K,R,S,C), bias (K) or NULL -> (N,P,Q,K). */
leap_tensor *leap_conv2d(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, int stride,
                         int padding);
/* relu(conv2d(x, weight) + bias) as one op (the ReLU fused into the convolution's CUDA epilogue); the same values as
 * leap_conv2d followed by leap_relu, bit for bit on the CPU. */
leap_tensor *leap_conv2d_relu(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, int stride,
                              int padding);
/* Which kernels run conv2d and conv2d_relu on CUDA, for the whole process (train/core/ops/conv2d.c): the
 * implicit-GEMM tensor-core kernels (the default), the simple reference kernels, or cuDNN (a baseline for
 * benchmarks and comparisons, only in builds with LEAP_WITH_CUDNN). Set it before a run, not during one. Returns
 * false, changing nothing, for an engine this build lacks. */
typedef enum leap_conv2d_engine {
  LEAP_CONV2D_ENGINE_IMPLICIT_GEMM = 0,
  LEAP_CONV2D_ENGINE_REFERENCE,
  LEAP_CONV2D_ENGINE_CUDNN
} leap_conv2d_engine;
bool leap_conv2d_set_cuda_engine(leap_conv2d_engine engine);
leap_conv2d_engine leap_conv2d_cuda_engine(void);
/* x (...,C); gamma, beta (C); running_mean, running_var (C) buffers, updated in training mode. */
leap_tensor *leap_batchnorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *gamma, leap_tensor *beta,
                            leap_tensor *running_mean, leap_tensor *running_var, float momentum, float eps);
/* x (N,H,W,C) (or (N,L,C)); gamma, beta (C); C divisible by groups. */
leap_tensor *leap_groupnorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *gamma, leap_tensor *beta, int groups,
                            float eps);
/* x (N,H,W,C) -> (N,P,Q,C). */
leap_tensor *leap_maxpool(leap_ctx *ctx, leap_tensor *x, int window, int stride, int padding);
leap_tensor *leap_avgpool(leap_ctx *ctx, leap_tensor *x, int window, int stride, int padding);
leap_tensor *leap_global_avgpool(leap_ctx *ctx, leap_tensor *x); /* (N,H,W,C) -> (N,C) */
/* Same data, new shape (one dim may be -1). */
leap_tensor *leap_reshape(leap_ctx *ctx, leap_tensor *x, int ndim, const int64_t *shape);
/* out.shape[i] = x.shape[perm[i]]. */
leap_tensor *leap_transpose(leap_ctx *ctx, leap_tensor *x, const int *perm);
leap_tensor *leap_concat(leap_ctx *ctx, int n, leap_tensor *const *xs, int axis);
leap_tensor *leap_slice(leap_ctx *ctx, leap_tensor *x, int axis, int64_t start, int64_t end);
/* The same values in another floating-point dtype (f32 <-> bf16 on CUDA; on the CPU only f32). Gradients flow
 * back converted. Inputs enter a bf16 pass through it. */
leap_tensor *leap_cast(leap_ctx *ctx, leap_tensor *x, leap_dtype dtype);
/* Zeroes each element with probability p and scales the rest by 1/(1-p), in training mode only. */
leap_tensor *leap_dropout(leap_ctx *ctx, leap_tensor *x, float p);

/* Multi-head attention, fused. q (B,Tq,H*D), k and v (B,Tk,H*D) -> (B,Tq,H*D), heads of size D inside the last
 * dim. key_len i32 (B) or NULL masks keys j >= key_len[b]. causal: query i sees keys j <= i + Tk - Tq. */
leap_tensor *leap_attention(leap_ctx *ctx, leap_tensor *q, leap_tensor *k, leap_tensor *v, leap_tensor *key_len,
                            int heads, bool causal);
/* The same from one fused projection qkv (B,T,3*H*D) laid out [q | k | v] per token: no copies. */
leap_tensor *leap_attention_qkv(leap_ctx *ctx, leap_tensor *qkv, leap_tensor *key_len, int heads, bool causal);
/* On CUDA, true switches every later attention op to the simple reference kernels (leap_attention_*_ref_cuda)
 * instead of the flash kernels: for tests that compare the two. Process-wide; the CPU path ignores it. */
void leap_attention_use_reference(bool on);

#endif
