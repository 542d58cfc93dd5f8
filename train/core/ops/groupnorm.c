/* groupnorm over NHWC (or (N,L,C)) input: statistics per (sample, group of C/G channels), affine per channel. */
#include "kernels/groupnorm/groupnorm.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

static float *workspace(leap_ctx *ctx, int64_t N, int64_t HW, int64_t C) {
  size_t floats = 0;
  LEAP__ON_DEVICE(ctx, floats = leap_groupnorm_workspace_floats(N, HW, C),
                  floats = leap_groupnorm_workspace_floats_cuda(N, HW, C));
  return leap__workspace(ctx, floats);
}

leap_tensor *leap_groupnorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *gamma, leap_tensor *beta, int groups,
                            float eps) {
  leap_tensor *in[3] = {x, gamma, beta};
  if (!leap__check_inputs(ctx, "groupnorm", 3, in) || !leap__check_ndim(ctx, "groupnorm", x, 3, 4) ||
      !leap__check_float(ctx, "groupnorm", x) || !leap__check_dtype(ctx, "groupnorm", gamma, LEAP_F32) ||
      !leap__check_dtype(ctx, "groupnorm", beta, LEAP_F32))
    return NULL;
  int64_t N = x->shape[0], C = x->shape[x->ndim - 1], HW = leap_tensor_numel(x) / (N * C > 0 ? N * C : 1);
  char dx[128];
  if (groups < 1 || C % groups || gamma->ndim != 1 || gamma->shape[0] != C || !leap_tensor_same_shape(gamma, beta))
    return leap__fail(ctx, LEAP_ERR_SHAPE, "groupnorm", "%d groups, gamma and beta (%lld) do not fit input %s", groups,
                      (long long)C, leap_tensor_describe(x, dx, sizeof dx));
  leap_tensor *out = leap__new_like(ctx, x);
  leap_tensor *stats = leap__new_tensor(ctx, LEAP_F32, 1, (int64_t[]){2 * N * groups});
  float *ws = workspace(ctx, N, HW, C);
  float *mean = leap_f32(stats), *rstd = mean + N * groups;
  const float *g = leap_f32(gamma), *b = leap_f32(beta);
  LEAP__ON_DEVICE(ctx, leap_groupnorm_forward_cpu(out->data, mean, rstd, x->data, g, b, N, HW, C, groups, eps, ws),
                  leap_groupnorm_forward_cuda(out->data, mean, rstd, x->data, g, b, N, HW, C, groups, eps, ws,
                                              x->dtype, leap__stream(ctx)));
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
  float *ws = workspace(ctx, N, HW, C);
  void *dx = leap__grad(ctx, rec->inputs[0]), *dg = leap__grad(ctx, rec->inputs[1]), *db = leap__grad(ctx, rec->inputs[2]);
  const float *g = leap_f32(rec->inputs[1]);
  LEAP__ON_DEVICE(ctx,
                  leap_groupnorm_backward_cpu(dx, dg, db, leap__dout(rec), x->data, g, stats, stats + N * G, N, HW, C,
                                              G, ws),
                  leap_groupnorm_backward_cuda(dx, dg, db, leap__dout(rec), x->data, g, stats, stats + N * G, N, HW,
                                               C, G, ws, x->dtype, leap__stream(ctx)));
}
