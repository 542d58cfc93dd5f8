/* reshape: a new tensor over the same data. Its backward adds the output gradient into the input's, which is a
 * plain elementwise accumulation because both are contiguous with the same element order. */
#include <string.h>

#include "kernels/elementwise/elementwise.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_reshape(leap_ctx *ctx, leap_tensor *x, int ndim, const int64_t *shape) {
  if (!leap__check_inputs(ctx, "reshape", 1, &x)) return NULL;
  if (ndim < 1 || ndim > LEAP_MAX_DIMS) return leap__fail(ctx, LEAP_ERR_SHAPE, "reshape", "%d dims requested", ndim);
  int64_t resolved[LEAP_MAX_DIMS], known = 1;
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    resolved[i] = shape[i];
    if (shape[i] == -1 && infer < 0) infer = i;
    else if (shape[i] < 0) return leap__fail(ctx, LEAP_ERR_SHAPE, "reshape", "invalid dim %lld", (long long)shape[i]);
    else known *= shape[i];
  }
  int64_t numel = leap_tensor_numel(x);
  if (infer >= 0) resolved[infer] = known ? numel / known : 0;
  char desc[128];
  if (leap_shape_numel(ndim, resolved) != numel)
    return leap__fail(ctx, LEAP_ERR_SHAPE, "reshape", "cannot view %s as %lld elements",
                      leap_tensor_describe(x, desc, sizeof desc), (long long)leap_shape_numel(ndim, resolved));
  leap_tensor *out = leap_arena_alloc(&ctx->meta, sizeof *out);
  *out = *x;
  out->grad = NULL;
  out->requires_grad = false;
  out->long_lived = false;
  out->name = NULL;
  out->ndim = ndim;
  memcpy(out->shape, resolved, sizeof(int64_t) * (size_t)ndim);
  leap__record(ctx, LEAP_OP_RESHAPE, out, 1, &x);
  return out;
}

void leap__backward_reshape(leap_ctx *ctx, const leap_tape_record *rec) {
  void *dx = leap__grad(ctx, rec->inputs[0]);
  if (!dx) return;
  int64_t n = leap_tensor_numel(rec->output);
  leap_dtype dtype = rec->output->dtype;
  LEAP__ON_DEVICE(ctx, leap_add_forward_cpu(dx, dx, leap__dout(rec), n, n),
                  leap_add_forward_cuda(dx, dx, leap__dout(rec), n, n, dtype, dtype, leap__stream(ctx)));
  (void)dtype;
}
