/* layernorm over the last dim, with weight and bias (C); saves the row means and reciprocal deviations. */
#include "kernels/layernorm/layernorm.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_layernorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, float eps) {
  leap_tensor *in[3] = {x, weight, bias};
  if (!leap__check_inputs(ctx, "layernorm", 3, in) || !leap__check_float(ctx, "layernorm", x) ||
      !leap__check_dtype(ctx, "layernorm", weight, LEAP_F32) || !leap__check_dtype(ctx, "layernorm", bias, LEAP_F32))
    return NULL;
  int64_t C = x->shape[x->ndim - 1], N = leap_tensor_rows(x, 1);
  char dx[128], dw[128];
  if (weight->ndim != 1 || weight->shape[0] != C || !leap_tensor_same_shape(weight, bias))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "layernorm", "weight %s and bias must be (%lld) for input %s",
                      leap_tensor_describe(weight, dw, sizeof dw), (long long)C, leap_tensor_describe(x, dx, sizeof dx));
  leap_tensor *out = leap__new_like(ctx, x);
  leap_tensor *stats = leap__new_tensor(ctx, LEAP_F32, 1, (int64_t[]){2 * N});
  float *mean = leap_f32(stats), *rstd = mean + N;
  LEAP__ON_DEVICE(ctx, leap_layernorm_forward_cpu(out->data, mean, rstd, x->data, weight->data, bias->data, N, C, eps),
                  leap_layernorm_forward_cuda(out->data, mean, rstd, x->data, weight->data, bias->data, N, C, eps,
                                              x->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_LAYERNORM, out, 3, in);
  if (rec) rec->saved[0] = stats;
  return out;
}

void leap__backward_layernorm(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *x = rec->inputs[0], *w = rec->inputs[1];
  int64_t C = x->shape[x->ndim - 1], N = leap_tensor_rows(x, 1);
  const float *mean = leap_f32(rec->saved[0]), *rstd = mean + N;
  void *dx = leap__grad(ctx, rec->inputs[0]), *dw = leap__grad(ctx, rec->inputs[1]), *db = leap__grad(ctx, rec->inputs[2]);
  size_t floats = 0;
  LEAP__ON_DEVICE(ctx, floats = leap_layernorm_backward_workspace_floats(N, C),
                  floats = leap_layernorm_backward_workspace_floats_cuda(N, C));
  float *ws = leap__workspace(ctx, floats);
  LEAP__ON_DEVICE(ctx, leap_layernorm_backward_cpu(dx, dw, db, ws, leap__dout(rec), x->data, w->data, mean, rstd, N, C),
                  leap_layernorm_backward_cuda(dx, dw, db, ws, leap__dout(rec), x->data, w->data, mean, rstd, N, C,
                                               x->dtype, leap__stream(ctx)));
}
