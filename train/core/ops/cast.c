/* cast: f32 <-> bf16, for inputs entering a mixed-precision pass and outputs leaving it. */
#include "kernels/elementwise/elementwise.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_cast(leap_ctx *ctx, leap_tensor *x, leap_dtype dtype) {
  if (!leap__check_inputs(ctx, "cast", 1, &x)) return NULL;
  bool float_types = (x->dtype == LEAP_F32 || x->dtype == LEAP_BF16) && (dtype == LEAP_F32 || dtype == LEAP_BF16);
  char desc[128];
  if (!float_types || (ctx->device == LEAP_CPU && dtype != LEAP_F32))
    return leap__fail(ctx, LEAP_ERR_DTYPE, "cast", "cannot cast %s to %s on %s",
                      leap_tensor_describe(x, desc, sizeof desc), leap_dtype_name(dtype), leap_device_name(ctx->device));
  if (x->dtype == dtype) return x;
  leap_tensor *out = leap__new_tensor(ctx, dtype, x->ndim, x->shape);
#ifdef LEAP_WITH_CUDA
  leap_cast_cuda(out->data, dtype, x->data, x->dtype, leap_tensor_numel(x), leap__stream(ctx));
#endif
  leap__record(ctx, LEAP_OP_CAST, out, 1, &x);
  return out;
}

/* Only reached on CUDA (a CPU cast of equal dtypes returns its input and records nothing). */
void leap__backward_cast(leap_ctx *ctx, const leap_tape_record *rec) {
  leap_tensor *x = rec->inputs[0];
  void *dx = leap__grad(ctx, x);
  if (!dx) return;
#ifdef LEAP_WITH_CUDA
  int64_t n = leap_tensor_numel(x);
  void *converted = leap_ctx_scratch(ctx, (size_t)n * leap_dtype_size(x->dtype));
  leap_cast_cuda(converted, x->dtype, leap__dout(rec), rec->output->dtype, n, leap__stream(ctx));
  leap_add_forward_cuda(dx, dx, converted, n, n, x->dtype, x->dtype, leap__stream(ctx));
#endif
}
