/* gelu (tanh approximation), relu and softmax (over the last dim): one input, one output of the same shape. */
#include "kernels/activation/activation.h"
#include "kernels/softmax/softmax.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

static leap_tensor *unary(leap_ctx *ctx, leap_op op, leap_tensor *x) {
  const char *name = leap_op_name(op);
  if (!leap__check_inputs(ctx, name, 1, &x) || !leap__check_dtype(ctx, name, x, LEAP_F32)) return NULL;
  if (op == LEAP_OP_SOFTMAX && !leap__check_ndim(ctx, name, x, 1, LEAP_MAX_DIMS)) return NULL;
  leap_tensor *out = leap__new_like(ctx, x);
  int64_t n = leap_tensor_numel(x);
  if (op == LEAP_OP_GELU) leap_gelu_forward_cpu(leap_f32(out), leap_f32(x), n);
  else if (op == LEAP_OP_RELU) leap_relu_forward_cpu(leap_f32(out), leap_f32(x), n);
  else leap_softmax_forward_cpu(leap_f32(out), leap_f32(x), leap_tensor_rows(x, 1), x->shape[x->ndim - 1]);
  leap__record(ctx, op, out, 1, &x);
  return out;
}

leap_tensor *leap_gelu(leap_ctx *ctx, leap_tensor *x) { return unary(ctx, LEAP_OP_GELU, x); }
leap_tensor *leap_relu(leap_ctx *ctx, leap_tensor *x) { return unary(ctx, LEAP_OP_RELU, x); }
leap_tensor *leap_softmax(leap_ctx *ctx, leap_tensor *x) { return unary(ctx, LEAP_OP_SOFTMAX, x); }

void leap__backward_gelu(leap_ctx *ctx, const leap_tape_record *rec) {
  float *dx = leap__grad(ctx, rec->inputs[0]);
  if (dx) leap_gelu_backward_cpu(dx, leap__dout(rec), leap_f32(rec->inputs[0]), leap_tensor_numel(rec->output));
}

void leap__backward_relu(leap_ctx *ctx, const leap_tape_record *rec) {
  float *dx = leap__grad(ctx, rec->inputs[0]);
  if (dx) leap_relu_backward_cpu(dx, leap__dout(rec), leap_f32(rec->inputs[0]), leap_tensor_numel(rec->output));
}

void leap__backward_softmax(leap_ctx *ctx, const leap_tape_record *rec) {
  float *dx = leap__grad(ctx, rec->inputs[0]);
  const leap_tensor *y = rec->output;
  if (dx) leap_softmax_backward_cpu(dx, leap__dout(rec), leap_f32(y), leap_tensor_rows(y, 1), y->shape[y->ndim - 1]);
}
