/* What every op in train/core/ops/ uses: argument checks that report user errors naming the op and the tensors,
 * arena tensors, tape records and lazily-created gradient buffers. Internal to the engine (leap__ names). */
#ifndef LEAP_TRAIN_CORE_OP_SUPPORT_H
#define LEAP_TRAIN_CORE_OP_SUPPORT_H

#include <stdarg.h>

#include "kernels/common/cuda_common.h"
#include "train/core/context.h"
#include "train/core/tape.h"

/* Runs `cpu` on the CPU and `cuda` on a CUDA device; in a build without CUDA the CUDA branch is not compiled, so
 * it may name functions that only exist with CUDA. Each op calls its kernels through it. */
#ifdef LEAP_WITH_CUDA
#define LEAP__ON_DEVICE(ctx, cpu, cuda) \
  do {                                  \
    if ((ctx)->device == LEAP_CPU) {    \
      cpu;                              \
    } else {                            \
      cuda;                             \
    }                                   \
  } while (0)
#else
#define LEAP__ON_DEVICE(ctx, cpu, cuda) \
  do {                                  \
    cpu;                                \
  } while (0)
#endif

/* The pass's CUDA stream and matrix-product context (only meaningful on a CUDA device). */
leap_cuda_stream leap__stream(const leap_ctx *ctx);
leap_cuda_blas *leap__blas(const leap_ctx *ctx);
/* A parameter's bf16 copy for tensor-core products in bf16 mode (made on first use, refreshed by the optimizer),
 * or NULL in fp32 mode. */
const void *leap__weight_lowp(leap_ctx *ctx, leap_tensor *weight);

/* Sets ctx->err to "<op>: <message>" with the given status; returns NULL for `return leap__fail(...)`. */
leap_tensor *leap__fail(leap_ctx *ctx, leap_status status, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks that each of the n tensors exists (a NULL input means an earlier op failed: returns false quietly), lives
 * on the context's device, and that the op has a kernel there. */
bool leap__check_inputs(leap_ctx *ctx, const char *op, int n, leap_tensor *const *inputs);
bool leap__check_dtype(leap_ctx *ctx, const char *op, const leap_tensor *t, leap_dtype dtype);
/* A floating-point tensor the op can take: f32, or bf16 when the pass runs in bf16 mode. */
bool leap__check_float(leap_ctx *ctx, const char *op, const leap_tensor *t);
bool leap__check_ndim(leap_ctx *ctx, const char *op, const leap_tensor *t, int min_ndim, int max_ndim);
/* Requires a.shape == b.shape. */
bool leap__check_same_shape(leap_ctx *ctx, const char *op, const leap_tensor *a, const leap_tensor *b);

/* The tensor's elements readable on the host: its data on the CPU, a copy (valid until begin_step) on a device.
 * For validating small integer inputs (ids, targets, lengths). */
const void *leap__host_view(leap_ctx *ctx, const leap_tensor *t);

/* A new uninitialised arena tensor on the context's device. */
leap_tensor *leap__new_tensor(leap_ctx *ctx, leap_dtype dtype, int ndim, const int64_t *shape);
/* An activation: the pass's activation dtype (ctx->act). */
leap_tensor *leap__new_act(leap_ctx *ctx, int ndim, const int64_t *shape);
leap_tensor *leap__new_like(leap_ctx *ctx, const leap_tensor *t);
/* f32 scratch from the data arena (NULL when floats == 0). */
float *leap__workspace(leap_ctx *ctx, size_t floats);

/* Records the op when gradients are enabled and some input requires one: marks out as requiring a gradient and
 * returns the record for the caller to fill (saved tensors, attrs); otherwise returns NULL. */
leap_tape_record *leap__record(leap_ctx *ctx, leap_op op, leap_tensor *out, int n_inputs, leap_tensor *const *inputs);

/* The gradient buffer of t for backward to accumulate into, created zeroed on first use; NULL when t needs no
 * gradient (a frozen parameter, an integer input, a constant). Parameters' gradients are f32; an activation's has
 * the activation's dtype. */
void *leap__grad(leap_ctx *ctx, leap_tensor *t);
/* The gradient flowing into a record's output (never NULL inside a backward function). */
static inline const void *leap__dout(const leap_tape_record *rec) { return rec->output->grad->data; }

typedef void (*leap__backward_fn)(leap_ctx *ctx, const leap_tape_record *rec);

#define LEAP_OP_DECLARE_BACKWARD(upper, lower) void leap__backward_##lower(leap_ctx *ctx, const leap_tape_record *rec);
LEAP_OP_LIST(LEAP_OP_DECLARE_BACKWARD)
#undef LEAP_OP_DECLARE_BACKWARD

#endif
