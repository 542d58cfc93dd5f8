/* linear: x (...,IN) times weight (OUT,IN) transposed, plus an optional bias (OUT). In bf16 mode the product reads
 * the weight's bf16 copy; the weight's gradient is accumulated in fp32. */
#include "kernels/linear/linear.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_linear(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias) {
  leap_tensor *in[3] = {x, weight, bias};
  int n = bias ? 3 : 2;
  if (!leap__check_inputs(ctx, "linear", n, in) || !leap__check_float(ctx, "linear", x) ||
      !leap__check_dtype(ctx, "linear", weight, LEAP_F32) || (bias && !leap__check_dtype(ctx, "linear", bias, LEAP_F32)) ||
      !leap__check_ndim(ctx, "linear", weight, 2, 2))
    return NULL;
  int64_t IN = x->shape[x->ndim - 1], OUT = weight->shape[0], N = leap_tensor_rows(x, 1);
  char dx[128], dw[128];
  if (weight->shape[1] != IN || (bias && (bias->ndim != 1 || bias->shape[0] != OUT)))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "linear", "input %s does not fit weight %s%s",
                      leap_tensor_describe(x, dx, sizeof dx), leap_tensor_describe(weight, dw, sizeof dw),
                      bias ? " and its bias" : "");
  int64_t shape[LEAP_MAX_DIMS];
  for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = OUT;
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, x->ndim, shape);
  const float *b = bias ? leap_f32(bias) : NULL;
  LEAP__ON_DEVICE(ctx, leap_linear_forward_cpu(out->data, x->data, weight->data, b, N, IN, OUT),
                  leap_linear_forward_cuda(out->data, x->data, weight->data, leap__weight_lowp(ctx, weight), b, N, IN,
                                           OUT, x->dtype, leap__blas(ctx)));
  leap__record(ctx, LEAP_OP_LINEAR, out, n, in);
  return out;
}

void leap__backward_linear(leap_ctx *ctx, const leap_tape_record *rec) {
  leap_tensor *x = rec->inputs[0], *weight = rec->inputs[1];
  int64_t IN = x->shape[x->ndim - 1], OUT = weight->shape[0], N = leap_tensor_rows(x, 1);
  void *dbias = rec->n_inputs > 2 ? leap__grad(ctx, rec->inputs[2]) : NULL;
  size_t floats = 0;
  if (dbias)
    LEAP__ON_DEVICE(ctx, floats = leap_linear_backward_workspace_floats(N, OUT),
                    floats = leap_linear_backward_workspace_floats_cuda(N, OUT));
  float *ws = leap__workspace(ctx, floats);
  void *dx = leap__grad(ctx, x), *dw = leap__grad(ctx, weight);
  LEAP__ON_DEVICE(ctx, leap_linear_backward_cpu(dx, dw, dbias, ws, leap__dout(rec), x->data, weight->data, N, IN, OUT),
                  leap_linear_backward_cuda(dx, dw, dbias, ws, leap__dout(rec), x->data, weight->data,
                                            leap__weight_lowp(ctx, weight), N, IN, OUT, x->dtype, leap__blas(ctx)));
}
