/* What every op in train/core/ops/ uses: argument checks that report user errors naming the op and the tensors,
 * arena tensors, tape records and lazily-created gradient buffers. Internal to the engine (leap__ names). */
#ifndef LEAP_TRAIN_CORE_OP_SUPPORT_H
#define LEAP_TRAIN_CORE_OP_SUPPORT_H

#include <stdarg.h>

#include "train/core/context.h"
#include "train/core/tape.h"

/* Sets ctx->err to "<op>: <message>" with the given status; returns NULL for `return leap__fail(...)`. */
leap_tensor *leap__fail(leap_ctx *ctx, leap_status status, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks that each of the n tensors exists (a NULL input means an earlier op failed: returns false quietly), lives
 * on the context's device, and that the op has a kernel there. */
bool leap__check_inputs(leap_ctx *ctx, const char *op, int n, leap_tensor *const *inputs);
bool leap__check_dtype(leap_ctx *ctx, const char *op, const leap_tensor *t, leap_dtype dtype);
bool leap__check_ndim(leap_ctx *ctx, const char *op, const leap_tensor *t, int min_ndim, int max_ndim);
/* Requires a.shape == b.shape. */
bool leap__check_same_shape(leap_ctx *ctx, const char *op, const leap_tensor *a, const leap_tensor *b);

/* A new uninitialised arena tensor on the context's device. */
leap_tensor *leap__new_tensor(leap_ctx *ctx, leap_dtype dtype, int ndim, const int64_t *shape);
leap_tensor *leap__new_like(leap_ctx *ctx, const leap_tensor *t);
/* f32 scratch from the data arena (NULL when floats == 0). */
float *leap__workspace(leap_ctx *ctx, size_t floats);

/* Records the op when gradients are enabled and some input requires one: marks out as requiring a gradient and
 * returns the record for the caller to fill (saved tensors, attrs); otherwise returns NULL. */
leap_tape_record *leap__record(leap_ctx *ctx, leap_op op, leap_tensor *out, int n_inputs, leap_tensor *const *inputs);

/* The f32 gradient buffer of t for backward to accumulate into, created zeroed on first use; NULL when t needs
 * no gradient (a frozen parameter, an integer input, a constant). */
float *leap__grad(leap_ctx *ctx, leap_tensor *t);
/* The gradient flowing into a record's output (never NULL inside a backward function). */
static inline const float *leap__dout(const leap_tape_record *rec) { return (const float *)rec->output->grad->data; }

typedef void (*leap__backward_fn)(leap_ctx *ctx, const leap_tape_record *rec);

#define LEAP_OP_DECLARE_BACKWARD(upper, lower) void leap__backward_##lower(leap_ctx *ctx, const leap_tape_record *rec);
LEAP_OP_LIST(LEAP_OP_DECLARE_BACKWARD)
#undef LEAP_OP_DECLARE_BACKWARD

#endif
