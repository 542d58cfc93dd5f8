#include "train/core/context.h"

#include <math.h>
#include <string.h>

#include "train/core/device_memory.h"
#include "train/core/op_support.h"

void leap__tape_backward(leap_ctx *ctx);

void leap_ctx_init(leap_ctx *ctx, leap_runtime *rt, uint64_t seed) {
  memset(ctx, 0, sizeof *ctx);
  ctx->rt = rt;
  ctx->device = rt->device;
  leap_arena_init(&ctx->meta, LEAP_CPU, 0);
  leap_arena_init(&ctx->data, rt->device, 0);
  leap_tape_init(&ctx->tape);
  ctx->grad_enabled = true;
  ctx->training = true;
  ctx->act = LEAP_F32;
  ctx->seed = seed;
}

leap_status leap_ctx_set_precision(leap_ctx *ctx, leap_dtype act) {
  if (act != LEAP_F32 && act != LEAP_BF16)
    return leap_error_set(&ctx->err, LEAP_ERR_DTYPE, "precision must be f32 or bf16, not %s", leap_dtype_name(act));
  if (act == LEAP_BF16 && ctx->device != LEAP_CUDA)
    return leap_error_set(&ctx->err, LEAP_ERR_UNSUPPORTED, "bf16 mixed precision needs a CUDA device");
  ctx->act = act;
  return LEAP_OK;
}

void leap_ctx_free(leap_ctx *ctx) {
  leap_arena_free(&ctx->meta);
  leap_arena_free(&ctx->data);
  leap_tape_free(&ctx->tape);
}

void leap_ctx_begin_step(leap_ctx *ctx) {
  leap_arena_reset(&ctx->meta);
  leap_arena_reset(&ctx->data);
  leap_tape_clear(&ctx->tape);
  leap_error_clear(&ctx->err);
}

leap_tensor *leap_ctx_tensor(leap_ctx *ctx, leap_dtype dtype, int ndim, const int64_t *shape, bool zero) {
  leap_tensor *t = leap__new_tensor(ctx, dtype, ndim, shape);
  if (zero) leap_device_memset_zero(ctx->device, t->data, leap_tensor_bytes(t));
  return t;
}

void *leap_ctx_scratch(leap_ctx *ctx, size_t bytes) { return leap_arena_alloc(&ctx->data, bytes); }

leap_status leap_backward(leap_ctx *ctx, leap_tensor *loss, float scale) {
  if (ctx->err.status != LEAP_OK) return ctx->err.status;
  if (!loss) return leap_error_set(&ctx->err, LEAP_ERR_VALUE, "backward: no loss (the forward pass failed)");
  char desc[128];
  if (leap_tensor_numel(loss) != 1 || loss->dtype != LEAP_F32)
    return leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "backward: the loss %s must be one f32 value",
                          leap_tensor_describe(loss, desc, sizeof desc));
  float value;
  leap_tensor_to_host(&value, loss);
  if (!isfinite(value))
    return leap_error_set(&ctx->err, LEAP_ERR_NONFINITE, "backward: the loss is %s; no gradient was applied",
                          isnan(value) ? "NaN" : "infinite");
  if (!loss->requires_grad)
    return leap_error_set(&ctx->err, LEAP_ERR_VALUE,
                          "backward: the loss does not depend on any trainable parameter (or grad mode was off)");
  float *g = leap__grad(ctx, loss);
  leap_device_copy(ctx->device, g, LEAP_CPU, &scale, sizeof scale);
  leap__tape_backward(ctx);
  return ctx->err.status;
}

leap_status leap_backward_with_grad(leap_ctx *ctx, leap_tensor *out, const leap_tensor *grad) {
  if (ctx->err.status != LEAP_OK) return ctx->err.status;
  if (!out || !out->requires_grad)
    return leap_error_set(&ctx->err, LEAP_ERR_VALUE, "backward: the tensor does not require a gradient");
  char d1[128], d2[128];
  if (!leap_tensor_same_shape(out, grad) || grad->dtype != out->dtype || grad->device != out->device)
    return leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "backward: gradient %s does not match %s",
                          leap_tensor_describe(grad, d1, sizeof d1), leap_tensor_describe(out, d2, sizeof d2));
  void *g = leap__grad(ctx, out);
  leap_device_copy(ctx->device, g, grad->device, grad->data, leap_tensor_bytes(grad));
  leap__tape_backward(ctx);
  return ctx->err.status;
}
