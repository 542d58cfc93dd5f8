/* Fused multi-head scaled dot-product attention: out = softmax(scale * Q K^T + mask) V, per batch and head.
 *
 * Layout is tokens-major with the heads inside, so that q, k and v read straight out of a linear layer without a
 * transpose: q is (B,Tq,H,D) where consecutive tokens are ldq floats apart (ldq >= H*D), and likewise k, v
 * (B,Tk,H,D) with ldk, ldv and out (B,Tq,H,D) with ldo. A fused qkv buffer (B,T,3,H,D) therefore gives
 * q = qkv, k = qkv + H*D, v = qkv + 2*H*D, all with stride 3*H*D. The saved log-sum-exp lse is (B,H,Tq),
 * contiguous: lse[b,h,i] = log sum_j exp(scale * q_i . k_j) over the keys query i may see.
 *
 * Masks. Causal: query i sees key j iff j <= i + (Tk - Tq) (bottom-right aligned; j <= i when Tq == Tk).
 * Key padding: with key_len given, keys j >= key_len[b] are hidden in batch b. A query that sees no key gets
 * out = 0 and lse = -INFINITY, and contributes nothing to the gradients.
 *
 * Threads and workspace. The functions run on leap_kernels_threads() OpenMP threads and need a workspace of
 * leap_attention_workspace_floats(shape, leap_kernels_threads()) floats (one size covers both directions).
 * Results are bit-identical whatever the number of threads. */
#ifndef LEAP_KERNELS_ATTENTION_ATTENTION_H
#define LEAP_KERNELS_ATTENTION_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct leap_attention_shape {
  int64_t B, H, Tq, Tk, D;     /* batch, heads, query tokens, key tokens, head size */
  int64_t ldq, ldk, ldv, ldo;  /* row strides (floats) between consecutive tokens of q, k, v and out */
  bool causal;                 /* bottom-right aligned causal mask */
  float scale;                 /* score scale, usually 1/sqrt(D) */
} leap_attention_shape;

/* Floats of workspace that forward and backward need when run on `threads` threads. */
size_t leap_attention_workspace_floats(const leap_attention_shape *s, int threads);

/* out = attention(q, k, v); lse = the log-sum-exp of each query's scaled scores, saved for backward.
 * Writes every element of out's rows (not the padding between them, when ldo > H*D) and all of lse. */
void leap_attention_forward_cpu(float *out,                  /* (B,Tq,H,D), row stride ldo */
                                float *lse,                  /* (B,H,Tq) */
                                const float *q,              /* (B,Tq,H,D), row stride ldq */
                                const float *k,              /* (B,Tk,H,D), row stride ldk */
                                const float *v,              /* (B,Tk,H,D), row stride ldv */
                                const int32_t *key_len,      /* (B) visible keys per batch, or NULL for all */
                                const leap_attention_shape *s, float *workspace);

/* Gradients of attention. ACCUMULATES: dq += dL/dq, dk += dL/dk, dv += dL/dv; any of them may be NULL when not
 * wanted. dq, dk, dv use the strides of q, k, v (so they may share one fused dqkv buffer), and dout that of out.
 * The probabilities are recomputed from lse rather than saved. */
void leap_attention_backward_cpu(float *dq,                  /* (B,Tq,H,D), row stride ldq, or NULL */
                                 float *dk,                  /* (B,Tk,H,D), row stride ldk, or NULL */
                                 float *dv,                  /* (B,Tk,H,D), row stride ldv, or NULL */
                                 const float *dout,          /* (B,Tq,H,D), row stride ldo */
                                 const float *q,             /* (B,Tq,H,D), row stride ldq */
                                 const float *k,             /* (B,Tk,H,D), row stride ldk */
                                 const float *v,             /* (B,Tk,H,D), row stride ldv */
                                 const float *out,           /* (B,Tq,H,D), row stride ldo: forward's output */
                                 const float *lse,           /* (B,H,Tq): forward's log-sum-exp */
                                 const int32_t *key_len,     /* (B) visible keys per batch, or NULL for all */
                                 const leap_attention_shape *s, float *workspace);

#ifdef LEAP_WITH_CUDA
#include "kernels/common/cuda_common.h"

LEAP_EXTERN_C_BEGIN

/* The CUDA twins (docs/cuda.md) of exactly the functions above: q, k, v, out and their gradients are of dtype act,
 * with the row strides ldq, ldk, ldv, ldo counted in elements of that dtype; lse is fp32 and all arithmetic fp32;
 * key_len is device memory. D is at most 256. Forward needs no workspace; backward needs
 * leap_attention_workspace_floats_cuda(s) floats of device workspace, ACCUMULATES into dq, dk and dv (any may be
 * NULL) and gives bit-identical results from run to run (no atomics).
 *
 * These are the flash-attention kernels (docs/attention-kernels.md): tiled with an online softmax, the T x T
 * scores never reach device memory. bf16 with D = 64 or 128 runs on the tensor cores (mma.sync on sm_80 and later,
 * wgmma on sm_90a) when every pointer is 16-byte aligned and every row stride a multiple of 8 elements; every other
 * case (fp32, other head sizes, unaligned views) runs a generic FMA kernel with the same tiling. */
size_t leap_attention_workspace_floats_cuda(const leap_attention_shape *s);

void leap_attention_forward_cuda(void *out,                 /* (B,Tq,H,D) act, row stride ldo */
                                 float *lse,                /* (B,H,Tq) */
                                 const void *q,             /* (B,Tq,H,D) act, row stride ldq */
                                 const void *k,             /* (B,Tk,H,D) act, row stride ldk */
                                 const void *v,             /* (B,Tk,H,D) act, row stride ldv */
                                 const int32_t *key_len,    /* (B), or NULL for all */
                                 const leap_attention_shape *s, leap_dtype act, leap_cuda_stream stream);

void leap_attention_backward_cuda(void *dq,                 /* (B,Tq,H,D) act, row stride ldq, or NULL */
                                  void *dk,                 /* (B,Tk,H,D) act, row stride ldk, or NULL */
                                  void *dv,                 /* (B,Tk,H,D) act, row stride ldv, or NULL */
                                  const void *dout,         /* (B,Tq,H,D) act, row stride ldo */
                                  const void *q,            /* (B,Tq,H,D) act, row stride ldq */
                                  const void *k,            /* (B,Tk,H,D) act, row stride ldk */
                                  const void *v,            /* (B,Tk,H,D) act, row stride ldv */
                                  const void *out,          /* (B,Tq,H,D) act, row stride ldo: forward's output */
                                  const float *lse,         /* (B,H,Tq): forward's log-sum-exp */
                                  const int32_t *key_len,   /* (B), or NULL for all */
                                  const leap_attention_shape *s, float *workspace, leap_dtype act,
                                  leap_cuda_stream stream);

/* The REFERENCE CUDA attention (attention_ref_cuda.cu): the same arguments and contract as the three functions
 * above, computed the simple way (a warp per row, no tiling, no tensor cores). It is what the flash kernels are
 * checked against on the device where the CPU would be too slow, and what the op layer runs under
 * leap_attention_use_reference(). */
size_t leap_attention_workspace_floats_ref_cuda(const leap_attention_shape *s);

void leap_attention_forward_ref_cuda(void *out, float *lse, const void *q, const void *k, const void *v,
                                     const int32_t *key_len, const leap_attention_shape *s, leap_dtype act,
                                     leap_cuda_stream stream);
void leap_attention_backward_ref_cuda(void *dq, void *dk, void *dv, const void *dout, const void *q, const void *k,
                                      const void *v, const void *out, const float *lse, const int32_t *key_len,
                                      const leap_attention_shape *s, float *workspace, leap_dtype act,
                                      leap_cuda_stream stream);

#ifdef LEAP_WITH_CUDNN
/* cuDNN's fused attention (scaled dot-product attention through the cuDNN backend graph API), the BASELINE that
 * `leap bench` measures the flash kernels against; never the engine's path. bf16 q, k, v, out (and gradients) in
 * leap's layout (the strides of the shape, given to cuDNN as (B,H,T,D) strides; dq, dk, dv take those of q, k, v
 * and dout that of out), fp32 lse in leap's convention (which is cuDNN's Stats: natural-log, (B,H,Tq)); no key_len,
 * causal only with Tq == Tk. A plan is built once per shape and direction by leap_attention_cudnn_create (the
 * forward graph, or the backward one when backward is true; NULL, with the reason in msg, when cuDNN or this code
 * rejects the shape: never an abort), then run any number of times on any stream with device pointers. The
 * workspace it needs is allocated by create, outside the timed runs. Running a plan in the other direction aborts. */
typedef struct leap_attention_cudnn leap_attention_cudnn;

leap_attention_cudnn *leap_attention_cudnn_create(const leap_attention_shape *s, bool backward, char *msg,
                                                  size_t msg_size);
/* out = attention(q, k, v) and lse (B,H,Tq) fp32, as leap_attention_forward_cuda in bf16; only for a plan created
 * with backward = false. */
void leap_attention_cudnn_forward(leap_attention_cudnn *a, void *out, float *lse, const void *q, const void *k,
                                  const void *v, leap_cuda_stream stream);
/* dq, dk, dv (WRITTEN, not accumulated: cuDNN's semantics) from dout, q, k, v, out, lse; only for a plan created
 * with backward = true. Deterministic: the same bits from run to run. */
void leap_attention_cudnn_backward(leap_attention_cudnn *a, void *dq, void *dk, void *dv, const void *dout,
                                   const void *q, const void *k, const void *v, const void *out, const float *lse,
                                   leap_cuda_stream stream);
void leap_attention_cudnn_destroy(leap_attention_cudnn *a);
#endif

LEAP_EXTERN_C_END
#endif

#endif
