/* dropout: the mask is never stored; forward and backward regenerate it from the counter-based RNG at the same
 * (seed, stream, offset), and each call takes a fresh range of counters from the context. */
#include "kernels/dropout/dropout.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

#define DROPOUT_STREAM 0x64726f70u /* "drop": keeps dropout's draws apart from initialisation streams */

typedef struct dropout_attrs {
  float p;
  uint64_t offset;
} dropout_attrs;

leap_tensor *leap_dropout(leap_ctx *ctx, leap_tensor *x, float p) {
  if (!leap__check_inputs(ctx, "dropout", 1, &x) || !leap__check_float(ctx, "dropout", x)) return NULL;
  if (!(p >= 0.0f && p < 1.0f)) return leap__fail(ctx, LEAP_ERR_VALUE, "dropout", "p = %g is outside [0, 1)", p);
  if (!ctx->training || p == 0.0f) return x;
  int64_t n = leap_tensor_numel(x);
  dropout_attrs a = {p, ctx->rng_offset};
  ctx->rng_offset += (uint64_t)n;
  leap_tensor *out = leap__new_like(ctx, x);
  LEAP__ON_DEVICE(ctx, leap_dropout_forward_cpu(out->data, x->data, n, p, ctx->seed, DROPOUT_STREAM, a.offset),
                  leap_dropout_forward_cuda(out->data, x->data, n, p, ctx->seed, DROPOUT_STREAM, a.offset, x->dtype,
                                            leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_DROPOUT, out, 1, &x);
  if (rec) *LEAP_TAPE_ATTRS(rec, dropout_attrs) = a;
  return out;
}

void leap__backward_dropout(leap_ctx *ctx, const leap_tape_record *rec) {
  const dropout_attrs *a = LEAP_TAPE_ATTRS(rec, dropout_attrs);
  void *dx = leap__grad(ctx, rec->inputs[0]);
  int64_t n = leap_tensor_numel(rec->output);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_dropout_backward_cpu(dx, leap__dout(rec), n, a->p, ctx->seed, DROPOUT_STREAM, a->offset),
                    leap_dropout_backward_cuda(dx, leap__dout(rec), n, a->p, ctx->seed, DROPOUT_STREAM, a->offset,
                                               rec->output->dtype, leap__stream(ctx)));
}
