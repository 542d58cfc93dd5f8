/* conv2d: NHWC input, (K,R,S,C) weight, optional bias; square kernels' stride and padding apply to both dims. */
#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_conv2d(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, int stride,
                         int padding) {
  leap_tensor *in[3] = {x, weight, bias};
  int n = bias ? 3 : 2;
  if (!leap__check_inputs(ctx, "conv2d", n, in)) return NULL;
  if (!leap__check_float(ctx, "conv2d", x) || !leap__check_dtype(ctx, "conv2d", weight, LEAP_F32) ||
      (bias && !leap__check_dtype(ctx, "conv2d", bias, LEAP_F32)))
    return NULL;
  if (!leap__check_ndim(ctx, "conv2d", x, 4, 4) || !leap__check_ndim(ctx, "conv2d", weight, 4, 4)) return NULL;
  char dx[128], dw[128];
  int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
  int64_t K = weight->shape[0], R = weight->shape[1], S = weight->shape[2];
  if (weight->shape[3] != C || (bias && (bias->ndim != 1 || bias->shape[0] != K)) || stride < 1 || padding < 0 ||
      H + 2 * padding < R || W + 2 * padding < S)
    return leap__fail(ctx, LEAP_ERR_SHAPE, "conv2d", "input %s and weight %s (stride %d, padding %d) do not fit",
                      leap_tensor_describe(x, dx, sizeof dx), leap_tensor_describe(weight, dw, sizeof dw), stride,
                      padding);
  leap_conv2d_shape s;
  leap_conv2d_shape_init(&s, N, H, W, C, K, R, S, stride, stride, padding, padding);
  int64_t out_shape[4] = {N, s.P, s.Q, K};
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, 4, out_shape);
  const float *b = bias ? leap_f32(bias) : NULL;
  LEAP__ON_DEVICE(ctx,
                  leap_conv2d_forward_cpu(out->data, x->data, weight->data, b, &s,
                                          leap__workspace(ctx, leap_conv2d_workspace_floats(&s, leap_kernels_threads()))),
                  leap_conv2d_forward_cuda(out->data, x->data, weight->data, leap__weight_lowp(ctx, weight), b, &s,
                                           x->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_CONV2D, out, n, in);
  if (rec) *LEAP_TAPE_ATTRS(rec, leap_conv2d_shape) = s;
  return out;
}

void leap__backward_conv2d(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_conv2d_shape *s = LEAP_TAPE_ATTRS(rec, leap_conv2d_shape);
  leap_tensor *x = rec->inputs[0], *w = rec->inputs[1];
  void *dbias = rec->n_inputs > 2 ? leap__grad(ctx, rec->inputs[2]) : NULL;
  void *dx = leap__grad(ctx, x), *dw = leap__grad(ctx, w);
  LEAP__ON_DEVICE(ctx,
                  leap_conv2d_backward_cpu(dx, dw, dbias, leap__dout(rec), x->data, w->data, s,
                                           leap__workspace(ctx, leap_conv2d_workspace_floats(s, leap_kernels_threads()))),
                  leap_conv2d_backward_cuda(dx, dw, dbias, leap__dout(rec), x->data, w->data,
                                            leap__weight_lowp(ctx, w), s,
                                            leap__workspace(ctx, leap_conv2d_workspace_floats_cuda(s)), x->dtype,
                                            leap__stream(ctx)));
}
