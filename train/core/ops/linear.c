/* linear: x (...,IN) times weight (OUT,IN) transposed, plus an optional bias (OUT). */
#include "kernels/linear/linear.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_linear(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias) {
  leap_tensor *in[3] = {x, weight, bias};
  int n = bias ? 3 : 2;
  if (!leap__check_inputs(ctx, "linear", n, in)) return NULL;
  for (int i = 0; i < n; i++)
    if (!leap__check_dtype(ctx, "linear", in[i], LEAP_F32)) return NULL;
  if (!leap__check_ndim(ctx, "linear", weight, 2, 2)) return NULL;
  int64_t IN = x->shape[x->ndim - 1], OUT = weight->shape[0], N = leap_tensor_rows(x, 1);
  char dx[128], dw[128];
  if (weight->shape[1] != IN || (bias && (bias->ndim != 1 || bias->shape[0] != OUT)))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "linear", "input %s does not fit weight %s%s",
                      leap_tensor_describe(x, dx, sizeof dx), leap_tensor_describe(weight, dw, sizeof dw),
                      bias ? " and its bias" : "");
  int64_t shape[LEAP_MAX_DIMS];
  for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = OUT;
  leap_tensor *out = leap__new_tensor(ctx, LEAP_F32, x->ndim, shape);
  leap_linear_forward_cpu(leap_f32(out), leap_f32(x), leap_f32(weight), bias ? leap_f32(bias) : NULL, N, IN, OUT);
  leap__record(ctx, LEAP_OP_LINEAR, out, n, in);
  return out;
}

void leap__backward_linear(leap_ctx *ctx, const leap_tape_record *rec) {
  leap_tensor *x = rec->inputs[0], *weight = rec->inputs[1];
  int64_t IN = x->shape[x->ndim - 1], OUT = weight->shape[0], N = leap_tensor_rows(x, 1);
  float *dbias = rec->n_inputs > 2 ? leap__grad(ctx, rec->inputs[2]) : NULL;
  float *ws = dbias ? leap__workspace(ctx, leap_linear_backward_workspace_floats(N, OUT)) : NULL;
  leap_linear_backward_cpu(leap__grad(ctx, x), leap__grad(ctx, weight), dbias, ws, leap__dout(rec), leap_f32(x),
                           leap_f32(weight), N, IN, OUT);
}
