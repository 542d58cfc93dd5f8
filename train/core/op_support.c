#include "train/core/op_support.h"

#include <stdio.h>
#include <string.h>

#include "train/core/cuda_state.h"
#include "train/core/device_memory.h"

leap_tensor *leap__fail(leap_ctx *ctx, leap_status status, const char *op, const char *fmt, ...) {
  if (ctx->err.status != LEAP_OK) return NULL;
  char message[LEAP_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  leap_error_set(&ctx->err, status, "op '%s': %s", op, message);
  return NULL;
}

bool leap__check_inputs(leap_ctx *ctx, const char *op, int n, leap_tensor *const *inputs) {
  if (ctx->err.status != LEAP_OK) return false;
  char desc[128];
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) {
      leap__fail(ctx, LEAP_ERR_VALUE, op, "input %d is missing", i);
      return false;
    }
    if (inputs[i]->device != ctx->device) {
      leap__fail(ctx, LEAP_ERR_DEVICE, op, "input %d %s is on %s, but this pass runs on %s", i,
                 leap_tensor_describe(inputs[i], desc, sizeof desc), leap_device_name(inputs[i]->device),
                 leap_device_name(ctx->device));
      return false;
    }
  }
  return true;
}

bool leap__check_float(leap_ctx *ctx, const char *op, const leap_tensor *t) {
  if (t->dtype == LEAP_F32 || (t->dtype == LEAP_BF16 && ctx->act == LEAP_BF16)) return true;
  char desc[128];
  leap__fail(ctx, LEAP_ERR_DTYPE, op, "%s must be f32%s", leap_tensor_describe(t, desc, sizeof desc),
             ctx->act == LEAP_BF16 ? " or bf16" : "");
  return false;
}

leap_cuda_stream leap__stream(const leap_ctx *ctx) { return ctx->rt->cuda ? ctx->rt->cuda->stream : NULL; }

leap_cuda_blas *leap__blas(const leap_ctx *ctx) { return ctx->rt->cuda ? ctx->rt->cuda->blas : NULL; }

const void *leap__weight_lowp(leap_ctx *ctx, leap_tensor *weight) {
  if (ctx->act != LEAP_BF16 || weight->dtype != LEAP_F32) return NULL;
  if (!weight->lowp) {
    leap_error err = {0};
    weight->lowp = leap_tensor_create(weight->device, LEAP_BF16, weight->ndim, weight->shape, NULL, false, &err);
    LEAP_ASSERT(weight->lowp != NULL, "%s", err.message);
    leap__tensor_refresh_lowp(weight);
  }
  return weight->lowp->data;
}

bool leap__check_dtype(leap_ctx *ctx, const char *op, const leap_tensor *t, leap_dtype dtype) {
  if (t->dtype == dtype) return true;
  char desc[128];
  leap__fail(ctx, LEAP_ERR_DTYPE, op, "%s must be %s", leap_tensor_describe(t, desc, sizeof desc),
             leap_dtype_name(dtype));
  return false;
}

bool leap__check_ndim(leap_ctx *ctx, const char *op, const leap_tensor *t, int min_ndim, int max_ndim) {
  if (t->ndim >= min_ndim && t->ndim <= max_ndim) return true;
  char desc[128];
  if (min_ndim == max_ndim)
    leap__fail(ctx, LEAP_ERR_SHAPE, op, "%s must have %d dims", leap_tensor_describe(t, desc, sizeof desc), min_ndim);
  else
    leap__fail(ctx, LEAP_ERR_SHAPE, op, "%s must have %d to %d dims", leap_tensor_describe(t, desc, sizeof desc),
               min_ndim, max_ndim);
  return false;
}

bool leap__check_same_shape(leap_ctx *ctx, const char *op, const leap_tensor *a, const leap_tensor *b) {
  if (leap_tensor_same_shape(a, b)) return true;
  char da[128], db[128];
  leap__fail(ctx, LEAP_ERR_SHAPE, op, "shapes differ: %s vs %s", leap_tensor_describe(a, da, sizeof da),
             leap_tensor_describe(b, db, sizeof db));
  return false;
}

leap_tensor *leap__new_tensor(leap_ctx *ctx, leap_dtype dtype, int ndim, const int64_t *shape) {
  leap_tensor *t = leap_arena_alloc(&ctx->meta, sizeof *t);
  memset(t, 0, sizeof *t);
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
  t->dtype = dtype;
  t->device = ctx->device;
  t->data = leap_arena_alloc(&ctx->data, leap_tensor_bytes(t));
  return t;
}

const void *leap__host_view(leap_ctx *ctx, const leap_tensor *t) {
  if (t->device == LEAP_CPU) return t->data;
  void *host = leap_arena_alloc(&ctx->meta, leap_tensor_bytes(t));
  leap_tensor_to_host(host, t);
  return host;
}

leap_tensor *leap__new_act(leap_ctx *ctx, int ndim, const int64_t *shape) {
  return leap__new_tensor(ctx, ctx->act, ndim, shape);
}

leap_tensor *leap__new_like(leap_ctx *ctx, const leap_tensor *t) {
  return leap__new_tensor(ctx, t->dtype, t->ndim, t->shape);
}

float *leap__workspace(leap_ctx *ctx, size_t floats) {
  return floats ? leap_arena_alloc(&ctx->data, floats * sizeof(float)) : NULL;
}

leap_tape_record *leap__record(leap_ctx *ctx, leap_op op, leap_tensor *out, int n_inputs, leap_tensor *const *inputs) {
  if (!ctx->grad_enabled) return NULL;
  bool any = false;
  for (int i = 0; i < n_inputs; i++) any = any || (inputs[i] && inputs[i]->requires_grad);
  if (!any) return NULL;
  LEAP_ASSERT(n_inputs <= LEAP_TAPE_MAX_INPUTS, "op %s has %d inputs", leap_op_name(op), n_inputs);
  out->requires_grad = true;
  leap_tape_record *rec = leap_tape_push(&ctx->tape);
  memset(rec, 0, sizeof *rec);
  rec->op = op;
  rec->n_inputs = n_inputs;
  for (int i = 0; i < n_inputs; i++) rec->inputs[i] = inputs[i];
  rec->output = out;
  return rec;
}

void *leap__grad(leap_ctx *ctx, leap_tensor *t) {
  if (!t || !t->requires_grad) return NULL;
  if (!t->grad) {
    LEAP_ASSERT(!t->long_lived, "parameter '%s' requires a gradient but has no buffer", t->name ? t->name : "?");
    leap_tensor *g = leap__new_tensor(ctx, t->dtype, t->ndim, t->shape);
    leap_device_memset_zero(ctx->device, g->data, leap_tensor_bytes(g));
    t->grad = g;
  }
  return t->grad->data;
}
