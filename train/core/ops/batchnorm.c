/* batchnorm over the last dim (NHWC channels): batch statistics and a running-statistics update in training mode,
 * the running statistics in eval mode. */
#include "kernels/batchnorm/batchnorm.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

typedef struct batchnorm_attrs {
  bool training;
  float eps;
} batchnorm_attrs;

leap_tensor *leap_batchnorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *gamma, leap_tensor *beta,
                            leap_tensor *running_mean, leap_tensor *running_var, float momentum, float eps) {
  leap_tensor *all[5] = {x, gamma, beta, running_mean, running_var};
  if (!leap__check_inputs(ctx, "batchnorm", 5, all)) return NULL;
  int64_t C = x->shape[x->ndim - 1], M = leap_tensor_rows(x, 1);
  char dx[128], dp[128];
  for (int i = 0; i < 5; i++) {
    if (!leap__check_dtype(ctx, "batchnorm", all[i], LEAP_F32)) return NULL;
    if (i > 0 && (all[i]->ndim != 1 || all[i]->shape[0] != C))
      return leap__fail(ctx, LEAP_ERR_SHAPE, "batchnorm", "%s must be (%lld) for input %s",
                        leap_tensor_describe(all[i], dp, sizeof dp), (long long)C,
                        leap_tensor_describe(x, dx, sizeof dx));
  }
  leap_tensor *out = leap__new_like(ctx, x);
  float *ws = leap__workspace(ctx, leap_batchnorm_workspace_floats(M, C));
  leap_tensor *stats = NULL;
  if (ctx->training) {
    stats = leap__new_tensor(ctx, LEAP_F32, 1, (int64_t[]){2 * C});
    leap_batchnorm_forward_train_cpu(leap_f32(out), leap_f32(stats), leap_f32(stats) + C, leap_f32(running_mean),
                                     leap_f32(running_var), leap_f32(x), leap_f32(gamma), leap_f32(beta), M, C,
                                     momentum, eps, ws);
  } else {
    leap_batchnorm_forward_eval_cpu(leap_f32(out), leap_f32(x), leap_f32(gamma), leap_f32(beta),
                                    leap_f32(running_mean), leap_f32(running_var), M, C, eps, ws);
  }
  leap_tape_record *rec = leap__record(ctx, LEAP_OP_BATCHNORM, out, 3, all);
  if (rec) {
    rec->saved[0] = stats;
    rec->saved[1] = running_mean;
    rec->saved[2] = running_var;
    *LEAP_TAPE_ATTRS(rec, batchnorm_attrs) = (batchnorm_attrs){ctx->training, eps};
  }
  return out;
}

void leap__backward_batchnorm(leap_ctx *ctx, const leap_tape_record *rec) {
  const batchnorm_attrs *a = LEAP_TAPE_ATTRS(rec, batchnorm_attrs);
  const leap_tensor *x = rec->inputs[0];
  int64_t C = x->shape[x->ndim - 1], M = leap_tensor_rows(x, 1);
  float *ws = leap__workspace(ctx, leap_batchnorm_workspace_floats(M, C));
  float *dx = leap__grad(ctx, rec->inputs[0]), *dg = leap__grad(ctx, rec->inputs[1]), *db = leap__grad(ctx, rec->inputs[2]);
  if (a->training) {
    const float *stats = leap_f32(rec->saved[0]);
    leap_batchnorm_backward_train_cpu(dx, dg, db, leap__dout(rec), leap_f32(x), leap_f32(rec->inputs[1]), stats,
                                      stats + C, M, C, ws);
  } else {
    leap_batchnorm_backward_eval_cpu(dx, dg, db, leap__dout(rec), leap_f32(x), leap_f32(rec->inputs[1]),
                                     leap_f32(rec->saved[1]), leap_f32(rec->saved[2]), M, C, a->eps, ws);
  }
}
