/* The context a forward/backward pass runs in: the runtime, the step's arenas, the tape, the grad mode and the
 * first user error of the pass.
 *
 * Ops take the context and return a new tensor, or NULL when they fail: the error is kept in ctx->err (the first
 * one wins) and every later op given a NULL input returns NULL at once, so a model's forward can be written as a
 * straight sequence of calls and checked once at the end with leap_ctx_ok(). */
#ifndef LEAP_TRAIN_CORE_CONTEXT_H
#define LEAP_TRAIN_CORE_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "train/core/arena.h"
#include "train/core/runtime.h"
#include "train/core/tape.h"

typedef struct leap_ctx {
  leap_runtime *rt;
  leap_device device;
  leap_arena meta;    /* host memory: tensor structs, small per-step metadata */
  leap_arena data;    /* device memory: activations, their gradients, kernel workspaces */
  leap_tape tape;
  bool grad_enabled;  /* false: no-grad mode, nothing is recorded */
  bool training;      /* dropout active, batch norm uses batch statistics */
  leap_dtype act;     /* activation dtype: f32, or bf16 for mixed precision on CUDA */
  uint64_t seed;      /* for dropout: each dropout call draws fresh counters from rng_offset */
  uint64_t rng_offset;
  leap_error err;
} leap_ctx;

void leap_ctx_init(leap_ctx *ctx, leap_runtime *rt, uint64_t seed);
void leap_ctx_free(leap_ctx *ctx);
/* Mixed precision: LEAP_BF16 activations (CUDA only; parameters stay fp32 masters) or LEAP_F32 (the default). */
leap_status leap_ctx_set_precision(leap_ctx *ctx, leap_dtype act);
/* Forgets the previous step: resets the arenas and the tape, clears the error. */
void leap_ctx_begin_step(leap_ctx *ctx);
static inline bool leap_ctx_ok(const leap_ctx *ctx) { return ctx->err.status == LEAP_OK; }

/* Tensors that live until the next begin_step: an input batch, a constant. Zero-filled when zero is true. */
leap_tensor *leap_ctx_tensor(leap_ctx *ctx, leap_dtype dtype, int ndim, const int64_t *shape, bool zero);
/* Scratch memory on the context's device until the next begin_step. */
void *leap_ctx_scratch(leap_ctx *ctx, size_t bytes);

/* Backward from a scalar loss: seeds d(loss) = scale (1/micro-batches for accumulation) and replays the tape.
 * Gradients accumulate (+=) into parameters' .grad. Returns LEAP_ERR_NONFINITE (with a message naming the loss)
 * without touching any gradient when the loss is NaN or Inf. */
leap_status leap_backward(leap_ctx *ctx, leap_tensor *loss, float scale);

/* Backward from any tensor given its gradient (f32, same shape, on the context's device): for op-level tests and
 * benchmarks of one op. */
leap_status leap_backward_with_grad(leap_ctx *ctx, leap_tensor *out, const leap_tensor *grad);

#endif
