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
  if (!leap__check_inputs(ctx, name, 2, in) || !leap__check_dtype(ctx, name, a, LEAP_F32) ||
      !leap__check_dtype(ctx, name, b, LEAP_F32))
    return NULL;
  char da[128], db[128];
  if (!broadcast_fits(a, b))
    return leap__fail(ctx, LEAP_ERR_SHAPE, name, "%s does not broadcast onto %s",
                      leap_tensor_describe(b, db, sizeof db), leap_tensor_describe(a, da, sizeof da));
  leap_tensor *out = leap__new_like(ctx, a);
  int64_t n = leap_tensor_numel(a), nb = leap_tensor_numel(b);
  if (op == LEAP_OP_ADD) leap_add_forward_cpu(leap_f32(out), leap_f32(a), leap_f32(b), n, nb);
  else leap_mul_forward_cpu(leap_f32(out), leap_f32(a), leap_f32(b), n, nb);
  leap__record(ctx, op, out, 2, in);
  return out;
}

leap_tensor *leap_add(leap_ctx *ctx, leap_tensor *a, leap_tensor *b) { return binary(ctx, LEAP_OP_ADD, a, b); }
leap_tensor *leap_mul(leap_ctx *ctx, leap_tensor *a, leap_tensor *b) { return binary(ctx, LEAP_OP_MUL, a, b); }

static float *broadcast_workspace(leap_ctx *ctx, float *db, int64_t n, int64_t nb) {
  return db ? leap__workspace(ctx, leap_sum_rows_workspace_floats(nb ? n / nb : 0, nb)) : NULL;
}

void leap__backward_add(leap_ctx *ctx, const leap_tape_record *rec) {
  int64_t n = leap_tensor_numel(rec->inputs[0]), nb = leap_tensor_numel(rec->inputs[1]);
  float *da = leap__grad(ctx, rec->inputs[0]), *db = leap__grad(ctx, rec->inputs[1]);
  leap_add_backward_cpu(da, db, broadcast_workspace(ctx, db, n, nb), leap__dout(rec), n, nb);
}

void leap__backward_mul(leap_ctx *ctx, const leap_tape_record *rec) {
  int64_t n = leap_tensor_numel(rec->inputs[0]), nb = leap_tensor_numel(rec->inputs[1]);
  float *da = leap__grad(ctx, rec->inputs[0]), *db = leap__grad(ctx, rec->inputs[1]);
  leap_mul_backward_cpu(da, db, broadcast_workspace(ctx, db, n, nb), leap__dout(rec), leap_f32(rec->inputs[0]),
                        leap_f32(rec->inputs[1]), n, nb);
}

leap_tensor *leap_scale(leap_ctx *ctx, leap_tensor *a, float alpha) {
  if (!leap__check_inputs(ctx, "scale", 1, &a) || !leap__check_dtype(ctx, "scale", a, LEAP_F32)) return NULL;
  leap_tensor *out = leap__new_like(ctx, a);
  leap_scale_forward_cpu(leap_f32(out), leap_f32(a), alpha, leap_tensor_numel(a));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_SCALE, out, 1, &a);
  if (rec) *LEAP_TAPE_ATTRS(rec, float) = alpha;
  return out;
}

void leap__backward_scale(leap_ctx *ctx, const leap_tape_record *rec) {
  float *da = leap__grad(ctx, rec->inputs[0]);
  if (da) leap_scale_backward_cpu(da, leap__dout(rec), *LEAP_TAPE_ATTRS(rec, float), leap_tensor_numel(rec->output));
}
