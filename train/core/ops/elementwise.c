/* add, mul, scale: elementwise, with b either a's shape or a's trailing shape (broadcast over leading dims). */
#include "kernels/elementwise/elementwise.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

/* b fits a when its dims equal a's last b->ndim dims. */
static bool broadcast_fits(const leap_tensor *a, const leap_tensor *b) {
  if (b->ndim > a->ndim) return false;
  for (int i = 0; i < b->ndim; i++)
    if (b->shape[b->ndim - 1 - i] != a->shape[a->ndim - 1 - i]) return false;
  return true;
}

static leap_tensor *binary(leap_ctx *ctx, leap_op op, leap_tensor *a, leap_tensor *b) {
  const char *name = leap_op_name(op);
  leap_tensor *in[2] = {a, b};
  if (!leap__check_inputs(ctx, name, 2, in) || !leap__check_float(ctx, name, a) || !leap__check_float(ctx, name, b))
    return NULL;
  char da[128], db[128];
  if (!broadcast_fits(a, b))
    return leap__fail(ctx, LEAP_ERR_SHAPE, name, "%s does not broadcast onto %s",
                      leap_tensor_describe(b, db, sizeof db), leap_tensor_describe(a, da, sizeof da));
  leap_tensor *out = leap__new_like(ctx, a);
  int64_t n = leap_tensor_numel(a), nb = leap_tensor_numel(b);
  if (op == LEAP_OP_ADD)
    LEAP__ON_DEVICE(ctx, leap_add_forward_cpu(out->data, a->data, b->data, n, nb),
                    leap_add_forward_cuda(out->data, a->data, b->data, n, nb, a->dtype, b->dtype, leap__stream(ctx)));
  else
    LEAP__ON_DEVICE(ctx, leap_mul_forward_cpu(out->data, a->data, b->data, n, nb),
                    leap_mul_forward_cuda(out->data, a->data, b->data, n, nb, a->dtype, b->dtype, leap__stream(ctx)));
  leap__record(ctx, op, out, 2, in);
  return out;
}

leap_tensor *leap_add(leap_ctx *ctx, leap_tensor *a, leap_tensor *b) { return binary(ctx, LEAP_OP_ADD, a, b); }
leap_tensor *leap_mul(leap_ctx *ctx, leap_tensor *a, leap_tensor *b) { return binary(ctx, LEAP_OP_MUL, a, b); }

/* Scratch for reducing db over the broadcast rows, when b needs a gradient. */
static float *broadcast_workspace(leap_ctx *ctx, const void *db, int64_t n, int64_t nb) {
  if (!db) return NULL;
  int64_t rows = nb ? n / nb : 0;
  size_t floats = 0;
  LEAP__ON_DEVICE(ctx, floats = leap_sum_rows_workspace_floats(rows, nb),
                  floats = leap_sum_rows_workspace_floats_cuda(rows, nb));
  return leap__workspace(ctx, floats);
}

void leap__backward_add(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *a = rec->inputs[0], *b = rec->inputs[1];
  int64_t n = leap_tensor_numel(a), nb = leap_tensor_numel(b);
  void *da = leap__grad(ctx, rec->inputs[0]), *db = leap__grad(ctx, rec->inputs[1]);
  float *ws = broadcast_workspace(ctx, db, n, nb);
  LEAP__ON_DEVICE(ctx, leap_add_backward_cpu(da, db, ws, leap__dout(rec), n, nb),
                  leap_add_backward_cuda(da, db, ws, leap__dout(rec), n, nb, a->dtype, b->dtype, leap__stream(ctx)));
}

void leap__backward_mul(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *a = rec->inputs[0], *b = rec->inputs[1];
  int64_t n = leap_tensor_numel(a), nb = leap_tensor_numel(b);
  void *da = leap__grad(ctx, rec->inputs[0]), *db = leap__grad(ctx, rec->inputs[1]);
  float *ws = broadcast_workspace(ctx, db, n, nb);
  LEAP__ON_DEVICE(ctx, leap_mul_backward_cpu(da, db, ws, leap__dout(rec), a->data, b->data, n, nb),
                  leap_mul_backward_cuda(da, db, ws, leap__dout(rec), a->data, b->data, n, nb, a->dtype, b->dtype,
                                         leap__stream(ctx)));
}

leap_tensor *leap_scale(leap_ctx *ctx, leap_tensor *a, float alpha) {
  if (!leap__check_inputs(ctx, "scale", 1, &a) || !leap__check_float(ctx, "scale", a)) return NULL;
  leap_tensor *out = leap__new_like(ctx, a);
  int64_t n = leap_tensor_numel(a);
  LEAP__ON_DEVICE(ctx, leap_scale_forward_cpu(out->data, a->data, alpha, n),
                  leap_scale_forward_cuda(out->data, a->data, alpha, n, a->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_SCALE, out, 1, &a);
  if (rec) *LEAP_TAPE_ATTRS(rec, float) = alpha;
  return out;
}

void leap__backward_scale(leap_ctx *ctx, const leap_tape_record *rec) {
  void *da = leap__grad(ctx, rec->inputs[0]);
  float alpha = *LEAP_TAPE_ATTRS(rec, float);
  int64_t n = leap_tensor_numel(rec->output);
  if (da)
    LEAP__ON_DEVICE(ctx, leap_scale_backward_cpu(da, leap__dout(rec), alpha, n),
                    leap_scale_backward_cuda(da, leap__dout(rec), alpha, n, rec->output->dtype, leap__stream(ctx)));
}
