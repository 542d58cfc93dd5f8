/* The losses: fused softmax cross-entropy (with an ignore index) and mean squared error. Each returns an f32
 * scalar, whatever the activation dtype. */
#include "kernels/cross_entropy/cross_entropy.h"
#include "kernels/mse/mse.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

static const int64_t g_scalar_shape[1] = {1};

static bool check_targets(leap_ctx *ctx, const leap_tensor *targets, int64_t N, int64_t V, int32_t ignore_index) {
  const int32_t *t = leap__host_view(ctx, targets);
  for (int64_t i = 0; i < N; i++)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= V)) {
      leap__fail(ctx, LEAP_ERR_VALUE, "cross_entropy", "target[%lld] = %d is outside [0, %lld)", (long long)i, t[i],
                 (long long)V);
      return false;
    }
  return true;
}

leap_tensor *leap_cross_entropy(leap_ctx *ctx, leap_tensor *logits, leap_tensor *targets, int32_t ignore_index) {
  leap_tensor *in[2] = {logits, targets};
  if (!leap__check_inputs(ctx, "cross_entropy", 2, in) || !leap__check_float(ctx, "cross_entropy", logits) ||
      !leap__check_dtype(ctx, "cross_entropy", targets, LEAP_I32))
    return NULL;
  int64_t V = logits->shape[logits->ndim - 1], N = leap_tensor_rows(logits, 1);
  char dl[128], dt[128];
  if (leap_tensor_numel(targets) != N)
    return leap__fail(ctx, LEAP_ERR_SHAPE, "cross_entropy", "targets %s do not match logits %s",
                      leap_tensor_describe(targets, dt, sizeof dt), leap_tensor_describe(logits, dl, sizeof dl));
  if (!check_targets(ctx, targets, N, V, ignore_index)) return NULL;
  leap_tensor *loss = leap__new_tensor(ctx, LEAP_F32, 1, g_scalar_shape);
  leap_tensor *lse = leap__new_tensor(ctx, LEAP_F32, 1, &N);
  const int32_t *t = leap_i32(targets);
  LEAP__ON_DEVICE(ctx,
                  leap_cross_entropy_forward_cpu(leap_f32(loss), NULL, leap_f32(lse), logits->data, t, N, V, ignore_index),
                  leap_cross_entropy_forward_cuda(leap_f32(loss), NULL, leap_f32(lse), logits->data, t, N, V,
                                                  ignore_index, logits->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_CROSS_ENTROPY, loss, 2, in);
  if (rec) {
    rec->saved[0] = lse;
    *LEAP_TAPE_ATTRS(rec, int32_t) = ignore_index;
  }
  return loss;
}

void leap__backward_cross_entropy(leap_ctx *ctx, const leap_tape_record *rec) {
  leap_tensor *logits = rec->inputs[0];
  void *dlogits = leap__grad(ctx, logits);
  if (!dlogits) return;
  int64_t V = logits->shape[logits->ndim - 1], N = leap_tensor_rows(logits, 1);
  int32_t ignore = *LEAP_TAPE_ATTRS(rec, int32_t);
  const int32_t *t = leap_i32(rec->inputs[1]);
  const float *lse = leap_f32(rec->saved[0]);
  LEAP__ON_DEVICE(
      ctx, leap_cross_entropy_backward_cpu(dlogits, leap__dout(rec), logits->data, t, lse, N, V, ignore),
      leap_cross_entropy_backward_cuda(dlogits, leap__workspace(ctx, leap_cross_entropy_backward_workspace_floats_cuda()),
                                       leap__dout(rec), logits->data, t, lse, N, V, ignore, logits->dtype,
                                       leap__stream(ctx)));
}

leap_tensor *leap_mse(leap_ctx *ctx, leap_tensor *pred, leap_tensor *target) {
  leap_tensor *in[2] = {pred, target};
  if (!leap__check_inputs(ctx, "mse", 2, in) || !leap__check_float(ctx, "mse", pred) ||
      !leap__check_dtype(ctx, "mse", target, pred->dtype) || !leap__check_same_shape(ctx, "mse", pred, target))
    return NULL;
  int64_t n = leap_tensor_numel(pred);
  leap_tensor *loss = leap__new_tensor(ctx, LEAP_F32, 1, g_scalar_shape);
  LEAP__ON_DEVICE(ctx,
                  leap_mse_forward_cpu(leap_f32(loss), leap__workspace(ctx, leap_mse_forward_workspace_floats(n)),
                                       pred->data, target->data, n),
                  leap_mse_forward_cuda(leap_f32(loss), leap__workspace(ctx, leap_mse_forward_workspace_floats_cuda(n)),
                                        pred->data, target->data, n, pred->dtype, leap__stream(ctx)));
  leap__record(ctx, LEAP_OP_MSE, loss, 2, in);
  return loss;
}

void leap__backward_mse(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *pred = rec->inputs[0], *target = rec->inputs[1];
  void *dp = leap__grad(ctx, rec->inputs[0]), *dt = leap__grad(ctx, rec->inputs[1]);
  int64_t n = leap_tensor_numel(pred);
  LEAP__ON_DEVICE(ctx, leap_mse_backward_cpu(dp, dt, leap__dout(rec), pred->data, target->data, n),
                  leap_mse_backward_cuda(dp, dt, leap__dout(rec), pred->data, target->data, n, pred->dtype,
                                         leap__stream(ctx)));
}
