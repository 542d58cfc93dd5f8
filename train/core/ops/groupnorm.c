/* groupnorm over NHWC (or (N,L,C)) input: statistics per (sample, group of C/G channels), affine per channel. */
#include "kernels/groupnorm/groupnorm.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

leap_tensor *leap_groupnorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *gamma, leap_tensor *beta, int groups,
                            float eps) {
  leap_tensor *in[3] = {x, gamma, beta};
  if (!leap__check_inputs(ctx, "groupnorm", 3, in) || !leap__check_ndim(ctx, "groupnorm", x, 3, 4)) return NULL;
  for (int i = 0; i < 3; i++)
    if (!leap__check_dtype(ctx, "groupnorm", in[i], LEAP_F32)) return NULL;
  int64_t N = x->shape[0], C = x->shape[x->ndim - 1], HW = leap_tensor_numel(x) / (N * C > 0 ? N * C : 1);
  char dx[128];
  if (groups < 1 || C % groups || gamma->ndim != 1 || gamma->shape[0] != C || !leap_tensor_same_shape(gamma, beta))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "groupnorm", "%d groups, gamma and beta (%lld) do not fit input %s", groups,
                      (long long)C, leap_tensor_describe(x, dx, sizeof dx));
  leap_tensor *out = leap__new_like(ctx, x);
  leap_tensor *stats = leap__new_tensor(ctx, LEAP_F32, 1, (int64_t[]){2 * N * groups});
  float *ws = leap__workspace(ctx, leap_groupnorm_workspace_floats(N, HW, C));
  leap_groupnorm_forward_cpu(leap_f32(out), leap_f32(stats), leap_f32(stats) + N * groups, leap_f32(x),
                             leap_f32(gamma), leap_f32(beta), N, HW, C, groups, eps, ws);
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_GROUPNORM, out, 3, in);
  if (rec) {
    rec->saved[0] = stats;
    *LEAP_TAPE_ATTRS(rec, int64_t) = groups;
  }
  return out;
}

void leap__backward_groupnorm(leap_ctx *ctx, const leap_tape_record *rec) {
  const leap_tensor *x = rec->inputs[0];
  int64_t G = *LEAP_TAPE_ATTRS(rec, int64_t);
  int64_t N = x->shape[0], C = x->shape[x->ndim - 1], HW = leap_tensor_numel(x) / (N * C > 0 ? N * C : 1);
  const float *stats = leap_f32(rec->saved[0]);
  float *ws = leap__workspace(ctx, leap_groupnorm_workspace_floats(N, HW, C));
  leap_groupnorm_backward_cpu(leap__grad(ctx, rec->inputs[0]), leap__grad(ctx, rec->inputs[1]),
                              leap__grad(ctx, rec->inputs[2]), leap__dout(rec), leap_f32(x), leap_f32(rec->inputs[1]),
                              stats, stats + N * G, N, HW, C, G, ws);
}
