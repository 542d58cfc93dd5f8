/* linear: x (...,IN) times weight (OUT,IN) transposed, plus an optional bias (OUT). In bf16 mode the product reads
 * the weight's bf16 copy; the weight's gradient is accumulated in fp32.
 *
 * linear_gelu: gelu(linear(x)) as one op (the MLP of a transformer block), keeping the pre-activation for the
 * backward. On the CPU and in the fp32 mode on CUDA it runs the linear and the GELU kernels one after the other, so
 * its results are bit-identical to leap_linear followed by leap_gelu. In the bf16 mode on CUDA the GELU (and the
 * bias) run in the product's epilogue (leap_gemm_bias_gelu_cuda, cuBLASLt's GELU_AUX_BIAS, which writes the
 * pre-activation as its aux output): cuBLASLt's GELU is the same tanh approximation as leap's
 * (kernels/activation/activation.h), but its tanh is its own, so the fp32 mode, which is compared with the CPU at
 * 1e-4, keeps leap's kernel; in bf16 the difference is far below bf16's rounding.
 *
 * The backward is GELU's backward on the saved pre-activation, then linear's. cuBLASLt's DGELU epilogues do not fit
 * a tape: they apply gelu' to the output of a product, i.e. they fuse into the *next* layer's input-gradient
 * product, whose backward runs as a separate record and whose result may gather other consumers' gradients. */
#include "kernels/activation/activation.h"
#include "kernels/linear/linear.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"
#ifdef LEAP_WITH_CUDA
#include "kernels/blas/blas_cuda.h"
#endif

/* Checks a linear layer's arguments (op names the op in errors); when they are valid, gives its output shape and
 * its sizes N (rows), IN and OUT. */
static bool check_linear(leap_ctx *ctx, const char *op, leap_tensor *const *in, int n, int64_t *shape, int64_t *N,
                         int64_t *IN, int64_t *OUT) {
  leap_tensor *x = in[0], *weight = in[1], *bias = n > 2 ? in[2] : NULL;
  if (!leap__check_inputs(ctx, op, n, in) || !leap__check_float(ctx, op, x) ||
      !leap__check_dtype(ctx, op, weight, LEAP_F32) || (bias && !leap__check_dtype(ctx, op, bias, LEAP_F32)) ||
      !leap__check_ndim(ctx, op, weight, 2, 2))
    return false;
  *IN = x->shape[x->ndim - 1], *OUT = weight->shape[0], *N = leap_tensor_rows(x, 1);
  char dx[128], dw[128];
  if (weight->shape[1] != *IN || (bias && (bias->ndim != 1 || bias->shape[0] != *OUT))) {
    leap__fail(ctx, LEAP_ERR_SHAPE, op, "input %s does not fit weight %s%s", leap_tensor_describe(x, dx, sizeof dx),
               leap_tensor_describe(weight, dw, sizeof dw), bias ? " and its bias" : "");
    return false;
  }
  for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
  shape[x->ndim - 1] = *OUT;
  return true;
}

/* out = x weight^T + bias on the context's device. */
static void linear_forward(leap_ctx *ctx, leap_tensor *out, leap_tensor *x, leap_tensor *weight, leap_tensor *bias,
                           int64_t N, int64_t IN, int64_t OUT) {
  const float *b = bias ? leap_f32(bias) : NULL;
  LEAP__ON_DEVICE(ctx, leap_linear_forward_cpu(out->data, x->data, weight->data, b, N, IN, OUT),
                  leap_linear_forward_cuda(out->data, x->data, weight->data, leap__weight_lowp(ctx, weight), b, N, IN,
                                           OUT, x->dtype, leap__blas(ctx)));
}

leap_tensor *leap_linear(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias) {
  leap_tensor *in[3] = {x, weight, bias};
  int n = bias ? 3 : 2;
  int64_t shape[LEAP_MAX_DIMS], N, IN, OUT;
  if (!check_linear(ctx, "linear", in, n, shape, &N, &IN, &OUT)) return NULL;
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, x->ndim, shape);
  linear_forward(ctx, out, x, weight, bias, N, IN, OUT);
  leap__record(ctx, LEAP_OP_LINEAR, out, n, in);
  return out;
}

/* The gradients of a linear layer (the record's inputs x, weight, bias) from dout, the gradient of its output. */
static void linear_backward(leap_ctx *ctx, const leap_tape_record *rec, const void *dout) {
  leap_tensor *x = rec->inputs[0], *weight = rec->inputs[1];
  int64_t IN = x->shape[x->ndim - 1], OUT = weight->shape[0], N = leap_tensor_rows(x, 1);
  void *dbias = rec->n_inputs > 2 ? leap__grad(ctx, rec->inputs[2]) : NULL;
  size_t floats = 0;
  if (dbias)
    LEAP__ON_DEVICE(ctx, floats = leap_linear_backward_workspace_floats(N, OUT),
                    floats = leap_linear_backward_workspace_floats_cuda(N, OUT));
  float *ws = leap__workspace(ctx, floats);
  void *dx = leap__grad(ctx, x), *dw = leap__grad(ctx, weight);
  LEAP__ON_DEVICE(ctx, leap_linear_backward_cpu(dx, dw, dbias, ws, dout, x->data, weight->data, N, IN, OUT),
                  leap_linear_backward_cuda(dx, dw, dbias, ws, dout, x->data, weight->data,
                                            leap__weight_lowp(ctx, weight), N, IN, OUT, x->dtype, leap__blas(ctx)));
}

void leap__backward_linear(leap_ctx *ctx, const leap_tape_record *rec) { linear_backward(ctx, rec, leap__dout(rec)); }

leap_tensor *leap_linear_gelu(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias) {
  leap_tensor *in[3] = {x, weight, bias};
  int n = bias ? 3 : 2;
  int64_t shape[LEAP_MAX_DIMS], N, IN, OUT;
  if (!check_linear(ctx, "linear_gelu", in, n, shape, &N, &IN, &OUT)) return NULL;
  leap_tensor *pre = leap__new_tensor(ctx, x->dtype, x->ndim, shape), *out = leap__new_like(ctx, pre);
  int64_t count = leap_tensor_numel(out);
  if (ctx->device == LEAP_CPU) {
    linear_forward(ctx, pre, x, weight, bias, N, IN, OUT);
    leap_gelu_forward_cpu(out->data, pre->data, count);
  } else {
#ifdef LEAP_WITH_CUDA
    if (x->dtype == LEAP_BF16) {
      leap_gemm_bias_gelu_cuda(leap__blas(ctx), false, true, N, OUT, IN, x->data, IN, leap__weight_lowp(ctx, weight),
                               IN, bias ? leap_f32(bias) : NULL, out->data, OUT, pre->data, OUT, x->dtype, x->dtype);
    } else {
      linear_forward(ctx, pre, x, weight, bias, N, IN, OUT);
      leap_gelu_forward_cuda(out->data, pre->data, count, x->dtype, leap__stream(ctx));
    }
#endif
  }
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_LINEAR_GELU, out, n, in);
  if (rec) rec->saved[0] = pre;
  return out;
}

void leap__backward_linear_gelu(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *pre = rec->saved[0];
  int64_t count = leap_tensor_numel(pre);
  /* d(pre) = dout * gelu'(pre): the GELU backward accumulates, so into a zeroed buffer, as leap__grad makes one. */
  void *dpre = leap_ctx_tensor(ctx, pre->dtype, pre->ndim, pre->shape, true)->data;
  LEAP__ON_DEVICE(ctx, leap_gelu_backward_cpu(dpre, leap__dout(rec), pre->data, count),
                  leap_gelu_backward_cuda(dpre, leap__dout(rec), pre->data, count, pre->dtype, leap__stream(ctx)));
  linear_backward(ctx, rec, dpre);
}
