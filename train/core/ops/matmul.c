/* matmul: batched products over the last two dims, with optional transposes and a 2-D b shared by the batch. */
#include "kernels/matmul/matmul.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_matmul(leap_ctx *ctx, leap_tensor *a, leap_tensor *b, bool trans_a, bool trans_b) {
  leap_tensor *in[2] = {a, b};
  if (!leap__check_inputs(ctx, "matmul", 2, in) || !leap__check_dtype(ctx, "matmul", a, LEAP_F32) ||
      !leap__check_dtype(ctx, "matmul", b, LEAP_F32) || !leap__check_ndim(ctx, "matmul", a, 2, LEAP_MAX_DIMS) ||
      !leap__check_ndim(ctx, "matmul", b, 2, LEAP_MAX_DIMS))
    return NULL;
  leap_matmul_shape s;
  s.trans_a = trans_a, s.trans_b = trans_b;
  s.M = a->shape[a->ndim - (trans_a ? 1 : 2)];
  s.K = a->shape[a->ndim - (trans_a ? 2 : 1)];
  s.N = b->shape[b->ndim - (trans_b ? 2 : 1)];
  int64_t kb = b->shape[b->ndim - (trans_b ? 1 : 2)];
  s.batch = leap_tensor_rows(a, 2);
  s.broadcast_b = b->ndim == 2 && a->ndim > 2;
  bool batch_ok = s.broadcast_b || (b->ndim == a->ndim && leap_tensor_rows(b, 2) == s.batch);
  for (int i = 0; batch_ok && !s.broadcast_b && i < a->ndim - 2; i++) batch_ok = a->shape[i] == b->shape[i];
  char da[128], db[128];
  if (kb != s.K || !batch_ok)
    return leap__fail(ctx, LEAP_ERR_SHAPE, "matmul", "%s%s x %s%s: inner or batch dims differ",
                      leap_tensor_describe(a, da, sizeof da), trans_a ? "^T" : "",
                      leap_tensor_describe(b, db, sizeof db), trans_b ? "^T" : "");
  int64_t shape[LEAP_MAX_DIMS];
  for (int i = 0; i < a->ndim - 2; i++) shape[i] = a->shape[i];
  shape[a->ndim - 2] = s.M, shape[a->ndim - 1] = s.N;
  leap_tensor *out = leap__new_tensor(ctx, LEAP_F32, a->ndim, shape);
  leap_matmul_forward_cpu(leap_f32(out), leap_f32(a), leap_f32(b), &s);
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_MATMUL, out, 2, in);
  if (rec) *LEAP_TAPE_ATTRS(rec, leap_matmul_shape) = s;
  return out;
}

void leap__backward_matmul(leap_ctx *ctx, const leap_tape_record *rec) {
  leap_matmul_backward_cpu(leap__grad(ctx, rec->inputs[0]), leap__grad(ctx, rec->inputs[1]), leap__dout(rec),
                           leap_f32(rec->inputs[0]), leap_f32(rec->inputs[1]),
                           LEAP_TAPE_ATTRS(rec, leap_matmul_shape));
}
