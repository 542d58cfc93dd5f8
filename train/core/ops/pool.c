/* maxpool, avgpool (square windows, NHWC) and global average pooling. Max-pooling saves each output's argmax. */
#include "kernels/pool/pool.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

static bool pool_shape(leap_ctx *ctx, const char *op, leap_tensor *x, int window, int stride, int padding,
                       leap_pool_shape *s) {
  if (!leap__check_inputs(ctx, op, 1, &x) || !leap__check_float(ctx, op, x) ||
      !leap__check_ndim(ctx, op, x, 4, 4))
    return false;
  char desc[128];
  if (window < 1 || stride < 1 || padding < 0 || 2 * padding > window || x->shape[1] + 2 * padding < window ||
      x->shape[2] + 2 * padding < window) {
    leap__fail(ctx, LEAP_ERR_SHAPE, op, "window %d, stride %d, padding %d do not fit input %s", window, stride, padding,
               leap_tensor_describe(x, desc, sizeof desc));
    return false;
  }
  leap_pool_shape_init(s, x->shape[0], x->shape[1], x->shape[2], x->shape[3], window, window, stride, stride, padding,
                       padding);
  return true;
}

leap_tensor *leap_maxpool(leap_ctx *ctx, leap_tensor *x, int window, int stride, int padding) {
  leap_pool_shape s;
  if (!pool_shape(ctx, "maxpool", x, window, stride, padding, &s)) return NULL;
  int64_t shape[4] = {s.N, s.P, s.Q, s.C};
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, 4, shape);
  leap_tensor *argmax = leap__new_tensor(ctx, LEAP_I32, 4, shape);
  LEAP__ON_DEVICE(ctx, leap_maxpool_forward_cpu(out->data, leap_i32(argmax), x->data, &s),
                  leap_maxpool_forward_cuda(out->data, leap_i32(argmax), x->data, &s, x->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_MAXPOOL, out, 1, &x);
  if (rec) {
    rec->saved[0] = argmax;
    *LEAP_TAPE_ATTRS(rec, leap_pool_shape) = s;
  }
  return out;
}

void leap__backward_maxpool(leap_ctx *ctx, const leap_tape_record *rec) {
  void *dx = leap__grad(ctx, rec->inputs[0]);
  const leap_pool_shape *s = LEAP_TAPE_ATTRS(rec, leap_pool_shape);
  const int32_t *argmax = leap_i32(rec->saved[0]);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_maxpool_backward_cpu(dx, leap__dout(rec), argmax, s),
                    leap_maxpool_backward_cuda(dx, leap__dout(rec), argmax, s, rec->output->dtype, leap__stream(ctx)));
}

leap_tensor *leap_avgpool(leap_ctx *ctx, leap_tensor *x, int window, int stride, int padding) {
  leap_pool_shape s;
  if (!pool_shape(ctx, "avgpool", x, window, stride, padding, &s)) return NULL;
  int64_t shape[4] = {s.N, s.P, s.Q, s.C};
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, 4, shape);
  LEAP__ON_DEVICE(ctx, leap_avgpool_forward_cpu(out->data, x->data, &s),
                  leap_avgpool_forward_cuda(out->data, x->data, &s, x->dtype, leap__stream(ctx)));
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_AVGPOOL, out, 1, &x);
  if (rec) *LEAP_TAPE_ATTRS(rec, leap_pool_shape) = s;
  return out;
}

void leap__backward_avgpool(leap_ctx *ctx, const leap_tape_record *rec) {
  void *dx = leap__grad(ctx, rec->inputs[0]);
  const leap_pool_shape *s = LEAP_TAPE_ATTRS(rec, leap_pool_shape);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_avgpool_backward_cpu(dx, leap__dout(rec), s),
                    leap_avgpool_backward_cuda(dx, leap__dout(rec), s, rec->output->dtype, leap__stream(ctx)));
}

leap_tensor *leap_global_avgpool(leap_ctx *ctx, leap_tensor *x) {
  if (!leap__check_inputs(ctx, "global_avgpool", 1, &x) || !leap__check_float(ctx, "global_avgpool", x) ||
      !leap__check_ndim(ctx, "global_avgpool", x, 3, 4))
    return NULL;
  int64_t N = x->shape[0], C = x->shape[x->ndim - 1], HW = leap_tensor_numel(x) / (N * C > 0 ? N * C : 1);
  int64_t shape[2] = {N, C};
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, 2, shape);
  LEAP__ON_DEVICE(ctx, leap_global_avgpool_forward_cpu(out->data, x->data, N, HW, C),
                  leap_global_avgpool_forward_cuda(out->data, x->data, N, HW, C, x->dtype, leap__stream(ctx)));
  leap__record(ctx, LEAP_OP_GLOBAL_AVGPOOL, out, 1, &x);
  return out;
}

void leap__backward_global_avgpool(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *x = rec->inputs[0];
  void *dx = leap__grad(ctx, rec->inputs[0]);
  int64_t N = x->shape[0], C = x->shape[x->ndim - 1], HW = leap_tensor_numel(x) / (N * C > 0 ? N * C : 1);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_global_avgpool_backward_cpu(dx, leap__dout(rec), N, HW, C),
                    leap_global_avgpool_backward_cuda(dx, leap__dout(rec), N, HW, C, x->dtype, leap__stream(ctx)));
}
