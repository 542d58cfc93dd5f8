/* matmul: batched products over the last two dims, with optional transposes and a 2-D b shared by the batch. */
#include "kernels/matmul/matmul.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_matmul(leap_ctx *ctx, leap_tensor *a, leap_tensor *b, bool trans_a, bool trans_b) {
  leap_tensor *in[2] = {a, b};
  if (!leap__check_inputs(ctx, "matmul", 2, in) || !leap__check_float(ctx, "matmul", a) ||
      !leap__check_dtype(ctx, "matmul", b, a->dtype) || !leap__check_ndim(ctx, "matmul", a, 2, LEAP_MAX_DIMS) ||
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
  leap_tensor *out = leap__new_tensor(ctx, a->dtype, a->ndim, shape);
  LEAP__ON_DEVICE(ctx, leap_matmul_forward_cpu(out->data, a->data, b->data, &s),
                  leap_matmul_forward_cuda(out->data, a->data, b->data, &s, a->dtype, leap__blas(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_MATMUL, out, 2, in);
  if (rec) *LEAP_TAPE_ATTRS(rec, leap_matmul_shape) = s;
  return out;
}

void leap__backward_matmul(leap_ctx *ctx, const leap_tape_record *rec) {
  void *da = leap__grad(ctx, rec->inputs[0]), *db = leap__grad(ctx, rec->inputs[1]);
  const void *a = rec->inputs[0]->data, *b = rec->inputs[1]->data;
  const leap_matmul_shape *s = LEAP_TAPE_ATTRS(rec, leap_matmul_shape);
  LEAP__ON_DEVICE(ctx, leap_matmul_backward_cpu(da, db, leap__dout(rec), a, b, s),
                  leap_matmul_backward_cuda(da, db, leap__dout(rec), a, b, s, rec->inputs[0]->dtype, leap__blas(ctx)));
}
