/* layernorm over the last dim, with weight and bias (C); saves the row means and reciprocal deviations. */
#include "kernels/layernorm/layernorm.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_layernorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *weight, leap_tensor *bias, float eps) {
  leap_tensor *in[3] = {x, weight, bias};
  if (!leap__check_inputs(ctx, "layernorm", 3, in)) return NULL;
  for (int i = 0; i < 3; i++)
    if (!leap__check_dtype(ctx, "layernorm", in[i], LEAP_F32)) return NULL;
  int64_t C = x->shape[x->ndim - 1], N = leap_tensor_rows(x, 1);
  char dx[128], dw[128];
  if (weight->ndim != 1 || weight->shape[0] != C || !leap_tensor_same_shape(weight, bias))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "layernorm", "weight %s and bias must be (%lld) for input %s",
                      leap_tensor_describe(weight, dw, sizeof dw), (long long)C, leap_tensor_describe(x, dx, sizeof dx));
  leap_tensor *out = leap__new_like(ctx, x);
  leap_tensor *stats = leap__new_tensor(ctx, LEAP_F32, 1, (int64_t[]){2 * N});
  leap_layernorm_forward_cpu(leap_f32(out), leap_f32(stats), leap_f32(stats) + N, leap_f32(x), leap_f32(weight),
                             leap_f32(bias), N, C, eps);
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_LAYERNORM, out, 3, in);
  if (rec) rec->saved[0] = stats;
  return out;
}

void leap__backward_layernorm(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *x = rec->inputs[0];
  int64_t C = x->shape[x->ndim - 1], N = leap_tensor_rows(x, 1);
  const float *stats = leap_f32(rec->saved[0]);
  float *ws = leap__workspace(ctx, leap_layernorm_backward_workspace_floats(N, C));
  leap_layernorm_backward_cpu(leap__grad(ctx, rec->inputs[0]), leap__grad(ctx, rec->inputs[1]),
                              leap__grad(ctx, rec->inputs[2]), ws, leap__dout(rec), leap_f32(x),
                              leap_f32(rec->inputs[1]), stats, stats + N, N, C);
}
