/* conv2d and conv2d_relu: NHWC input, (K,R,S,C) weight, optional bias; square kernels' stride and padding apply to
 * both dims. conv2d_relu is the convolution with a ReLU fused into it: one tape record, the ReLU in the CUDA
 * forward kernel's epilogue; its backward masks dout by out > 0 and runs the convolution's backward on that. On the
 * CPU it is the CPU convolution then the ReLU in place, and its backward the ReLU's backward then the
 * convolution's, with the kernels of the unfused ops: the same bits as conv2d followed by relu.
 *
 * On CUDA the convolutions run on one of three engines (leap_conv2d_set_cuda_engine): the implicit-GEMM kernels
 * (the default), the reference kernels, or cuDNN (a baseline, in builds with LEAP_WITH_CUDNN). The choice is one
 * process-wide setting, made before training, so that a benchmark or a test can run the same network both ways. */
#include <string.h>

#include "kernels/activation/activation.h"
#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

static leap_conv2d_engine g_engine = LEAP_CONV2D_ENGINE_IMPLICIT_GEMM;
#ifdef LEAP_WITH_CUDNN
/* The cuDNN context of the cuDNN engine, created at its first use and destroyed when another engine is chosen. */
static leap_conv2d_cudnn *g_cudnn;
#endif

bool leap_conv2d_set_cuda_engine(leap_conv2d_engine engine) {
#ifdef LEAP_WITH_CUDNN
  if (engine != LEAP_CONV2D_ENGINE_CUDNN && g_cudnn) {
    leap_conv2d_cudnn_destroy(g_cudnn);
    g_cudnn = NULL;
  }
#else
  if (engine == LEAP_CONV2D_ENGINE_CUDNN) return false;
#endif
  if (engine != LEAP_CONV2D_ENGINE_IMPLICIT_GEMM && engine != LEAP_CONV2D_ENGINE_REFERENCE &&
      engine != LEAP_CONV2D_ENGINE_CUDNN)
    return false;
  g_engine = engine;
  return true;
}

leap_conv2d_engine leap_conv2d_cuda_engine(void) { return g_engine; }

#ifdef LEAP_WITH_CUDA
#ifdef LEAP_WITH_CUDNN
static leap_conv2d_cudnn *cudnn_context(void) {
  if (!g_cudnn) g_cudnn = leap_conv2d_cudnn_create();
  return g_cudnn;
}
#endif

static void forward_cuda(leap_ctx *ctx, leap_tensor *out, leap_tensor *x, leap_tensor *w, const float *b,
                         const leap_conv2d_shape *s, bool relu) {
  const void *lowp = leap__weight_lowp(ctx, w);
  leap_cuda_stream stream = leap__stream(ctx);
#ifdef LEAP_WITH_CUDNN
  if (g_engine == LEAP_CONV2D_ENGINE_CUDNN) {
    leap_conv2d_forward_cudnn(cudnn_context(), out->data, x->data, w->data, lowp, b, relu, s, x->dtype, stream);
    return;
  }
#endif
  if (g_engine == LEAP_CONV2D_ENGINE_REFERENCE) {
    leap_conv2d_forward_ref_cuda(out->data, x->data, w->data, lowp, b, s, x->dtype, stream);
    if (relu) leap_relu_forward_cuda(out->data, out->data, leap_tensor_numel(out), x->dtype, stream);
  } else if (relu) {
    leap_conv2d_forward_relu_cuda(out->data, x->data, w->data, lowp, b, s, x->dtype, stream);
  } else {
    leap_conv2d_forward_cuda(out->data, x->data, w->data, lowp, b, s, x->dtype, stream);
  }
}

static void backward_cuda(leap_ctx *ctx, void *dx, void *dw, void *db, const void *dout, leap_tensor *x,
                          leap_tensor *w, const leap_conv2d_shape *s) {
  const void *lowp = leap__weight_lowp(ctx, w);
  leap_cuda_stream stream = leap__stream(ctx);
#ifdef LEAP_WITH_CUDNN
  if (g_engine == LEAP_CONV2D_ENGINE_CUDNN) {
    leap_conv2d_backward_cudnn(cudnn_context(), dx, dw, db, dout, x->data, w->data, lowp, s, x->dtype, stream);
    return;
  }
#endif
  if (g_engine == LEAP_CONV2D_ENGINE_REFERENCE)
    leap_conv2d_backward_ref_cuda(dx, dw, db, dout, x->data, w->data, lowp, s,
                                  leap__workspace(ctx, leap_conv2d_workspace_floats_ref_cuda(s)), x->dtype, stream);
  else
    leap_conv2d_backward_cuda(dx, dw, db, dout, x->data, w->data, lowp, s,
                              leap__workspace(ctx, leap_conv2d_workspace_floats_cuda(s)), x->dtype, stream);
}
#endif

/* On the CPU the fused ReLU is the ReLU's own kernel, in place: the same bits as the unfused ops. */
static void forward_cpu(leap_ctx *ctx, leap_tensor *out, leap_tensor *x, leap_tensor *w, const float *b,
                        const leap_conv2d_shape *s, bool relu) {
  float *ws = leap__workspace(ctx, leap_conv2d_workspace_floats(s, leap_kernels_threads()));
  leap_conv2d_forward_cpu(out->data, x->data, w->data, b, s, ws);
  if (relu) leap_relu_forward_cpu(out->data, out->data, leap_tensor_numel(out));
}

static leap_tensor *conv_op(leap_ctx *ctx, leap_op op, leap_tensor *x, leap_tensor *weight, leap_tensor *bias,
                            int stride, int padding) {
  const char *name = leap_op_name(op);
  const bool relu = op == LEAP_OP_CONV2D_RELU;
  leap_tensor *in[3] = {x, weight, bias};
  int n = bias ? 3 : 2;
  if (!leap__check_inputs(ctx, name, n, in)) return NULL;
  if (!leap__check_float(ctx, name, x) || !leap__check_dtype(ctx, name, weight, LEAP_F32) ||
      (bias && !leap__check_dtype(ctx, name, bias, LEAP_F32)))
    return NULL;
  if (!leap__check_ndim(ctx, name, x, 4, 4) || !leap__check_ndim(ctx, name, weight, 4, 4)) return NULL;
  char dx[128], dw[128];
  int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
  int64_t K = weight->shape[0], R = weight->shape[1], S = weight->shape[2];
  if (weight->shape[3] != C || (bias && (bias->ndim != 1 || bias->shape[0] != K)) || stride < 1 || padding < 0 ||
      H + 2 * padding < R || W + 2 * padding < S)
    return leap__fail(ctx, LEAP_ERR_SHAPE, name, "input %s and weight %s (stride %d, padding %d) do not fit",
                      leap_tensor_describe(x, dx, sizeof dx), leap_tensor_describe(weight, dw, sizeof dw), stride,
                      padding);
  leap_conv2d_shape s;
  leap_conv2d_shape_init(&s, N, H, W, C, K, R, S, stride, stride, padding, padding);
  int64_t out_shape[4] = {N, s.P, s.Q, K};
  leap_tensor *out = leap__new_tensor(ctx, x->dtype, 4, out_shape);
  const float *b = bias ? leap_f32(bias) : NULL;
  LEAP__ON_DEVICE(ctx, forward_cpu(ctx, out, x, weight, b, &s, relu), forward_cuda(ctx, out, x, weight, b, &s, relu));
  leap_tape_record *rec = leap__record(ctx, op, out, n, in);
  if (rec) *LEAP_TAPE_ATTRS(rec, leap_conv2d_shape) = s;
  return out;
}

leap_tensor *leap_conv2d(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, int stride,
                         int padding) {
  return conv_op(ctx, LEAP_OP_CONV2D, x, weight, bias, stride, padding);
}

leap_tensor *leap_conv2d_relu(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, int stride,
                              int padding) {
  return conv_op(ctx, LEAP_OP_CONV2D_RELU, x, weight, bias, stride, padding);
}

static void backward_cpu(leap_ctx *ctx, void *dx, void *dw, void *db, const void *dout, leap_tensor *x,
                         leap_tensor *w, const leap_conv2d_shape *s) {
  float *ws = leap__workspace(ctx, leap_conv2d_workspace_floats(s, leap_kernels_threads()));
  leap_conv2d_backward_cpu(dx, dw, db, dout, x->data, w->data, s, ws);
}

/* The convolution's backward from the gradient of its output (dout, of the input's dtype). */
static void conv_backward(leap_ctx *ctx, const leap_tape_record *rec, const void *dout) {
  const leap_conv2d_shape *s = LEAP_TAPE_ATTRS(rec, leap_conv2d_shape);
  leap_tensor *x = rec->inputs[0], *w = rec->inputs[1];
  void *dbias = rec->n_inputs > 2 ? leap__grad(ctx, rec->inputs[2]) : NULL;
  void *dx = leap__grad(ctx, x), *dw = leap__grad(ctx, w);
  LEAP__ON_DEVICE(ctx, backward_cpu(ctx, dx, dw, dbias, dout, x, w, s),
                  backward_cuda(ctx, dx, dw, dbias, dout, x, w, s));
}

void leap__backward_conv2d(leap_ctx *ctx, const leap_tape_record *rec) { conv_backward(ctx, rec, leap__dout(rec)); }

/* dout masked by out > 0 (the ReLU's gradient, taken from its output: out > 0 exactly where its input was), then
 * the convolution's backward. On the CPU the mask is the ReLU's own backward into zeros, as in the unfused ops. */
void leap__backward_conv2d_relu(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *out = rec->output;
  int64_t n = leap_tensor_numel(out);
  size_t floats = (leap_tensor_bytes(out) + sizeof(float) - 1) / sizeof(float);
  void *masked = leap__workspace(ctx, floats);
  LEAP__ON_DEVICE(ctx,
                  {
                    memset(masked, 0, floats * sizeof(float));
                    leap_relu_backward_cpu(masked, leap__dout(rec), out->data, n);
                  },
                  leap_conv2d_relu_mask_cuda(masked, leap__dout(rec), out->data, n, out->dtype, leap__stream(ctx)));
  conv_backward(ctx, rec, masked);
}
