/* gelu (tanh approximation), relu and softmax (over the last dim): one input, one output of the same shape. */
#include "kernels/activation/activation.h"
#include "kernels/softmax/softmax.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

static leap_tensor *unary(leap_ctx *ctx, leap_op op, leap_tensor *x) {
  const char *name = leap_op_name(op);
  if (!leap__check_inputs(ctx, name, 1, &x) || !leap__check_float(ctx, name, x)) return NULL;
  if (op == LEAP_OP_SOFTMAX && !leap__check_ndim(ctx, name, x, 1, LEAP_MAX_DIMS)) return NULL;
  leap_tensor *out = leap__new_like(ctx, x);
  int64_t n = leap_tensor_numel(x), C = x->shape[x->ndim - 1], N = C ? n / C : 0;
  leap_cuda_stream stream = leap__stream(ctx);
  if (op == LEAP_OP_GELU)
    LEAP__ON_DEVICE(ctx, leap_gelu_forward_cpu(out->data, x->data, n),
                    leap_gelu_forward_cuda(out->data, x->data, n, x->dtype, stream));
  else if (op == LEAP_OP_RELU)
    LEAP__ON_DEVICE(ctx, leap_relu_forward_cpu(out->data, x->data, n),
                    leap_relu_forward_cuda(out->data, x->data, n, x->dtype, stream));
  else
    LEAP__ON_DEVICE(ctx, leap_softmax_forward_cpu(out->data, x->data, N, C),
                    leap_softmax_forward_cuda(out->data, x->data, N, C, x->dtype, stream));
  (void)stream;
  leap__record(ctx, op, out, 1, &x);
  return out;
}

leap_tensor *leap_gelu(leap_ctx *ctx, leap_tensor *x) { return unary(ctx, LEAP_OP_GELU, x); }
leap_tensor *leap_relu(leap_ctx *ctx, leap_tensor *x) { return unary(ctx, LEAP_OP_RELU, x); }
leap_tensor *leap_softmax(leap_ctx *ctx, leap_tensor *x) { return unary(ctx, LEAP_OP_SOFTMAX, x); }

void leap__backward_gelu(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *x = rec->inputs[0];
  void *dx = leap__grad(ctx, rec->inputs[0]);
  int64_t n = leap_tensor_numel(x);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_gelu_backward_cpu(dx, leap__dout(rec), x->data, n),
                    leap_gelu_backward_cuda(dx, leap__dout(rec), x->data, n, x->dtype, leap__stream(ctx)));
}

void leap__backward_relu(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *x = rec->inputs[0];
  void *dx = leap__grad(ctx, rec->inputs[0]);
  int64_t n = leap_tensor_numel(x);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_relu_backward_cpu(dx, leap__dout(rec), x->data, n),
                    leap_relu_backward_cuda(dx, leap__dout(rec), x->data, n, x->dtype, leap__stream(ctx)));
}

void leap__backward_softmax(leap_ctx *ctx, const leap_tape_record *rec) {
  void *dx = leap__grad(ctx, rec->inputs[0]);
  const leap_tensor *y = rec->output;
  int64_t C = y->shape[y->ndim - 1], N = leap_tensor_rows(y, 1);
  if (dx)
    LEAP__ON_DEVICE(ctx, leap_softmax_backward_cpu(dx, leap__dout(rec), y->data, N, C),
                    leap_softmax_backward_cuda(dx, leap__dout(rec), y->data, N, C, y->dtype, leap__stream(ctx)));
}
