/* batchnorm over the last dim (NHWC channels): batch statistics and a running-statistics update in training mode,
 * the running statistics in eval mode. */
#include "kernels/batchnorm/batchnorm.h"
#include "train/core/op_support.h"
#include "train/core/ops.h"

typedef struct batchnorm_attrs {
  bool training;
  float eps;
} batchnorm_attrs;

static float *workspace(leap_ctx *ctx, int64_t M, int64_t C) {
  size_t floats = 0;
  LEAP__ON_DEVICE(ctx, floats = leap_batchnorm_workspace_floats(M, C),
                  floats = leap_batchnorm_workspace_floats_cuda(M, C));
  return leap__workspace(ctx, floats);
}

leap_tensor *leap_batchnorm(leap_ctx *ctx, leap_tensor *x, leap_tensor *gamma, leap_tensor *beta,
                            leap_tensor *running_mean, leap_tensor *running_var, float momentum, float eps) {
  leap_tensor *all[5] = {x, gamma, beta, running_mean, running_var};
  if (!leap__check_inputs(ctx, "batchnorm", 5, all)) return NULL;
  int64_t C = x->shape[x->ndim - 1], M = leap_tensor_rows(x, 1);
  char dx[128], dp[128];
  if (!leap__check_float(ctx, "batchnorm", x)) return NULL;
  for (int i = 0; i < 5; i++) {
    if (i > 0 && !leap__check_dtype(ctx, "batchnorm", all[i], LEAP_F32)) return NULL;
    if (i > 0 && (all[i]->ndim != 1 || all[i]->shape[0] != C))
      return leap__fail(ctx, LEAP_ERR_SHAPE, "batchnorm", "%s must be (%lld) for input %s",
                        leap_tensor_describe(all[i], dp, sizeof dp), (long long)C,
                        leap_tensor_describe(x, dx, sizeof dx));
  }
  leap_tensor *out = leap__new_like(ctx, x);
  float *ws = workspace(ctx, M, C);
  leap_tensor *stats = NULL;
  const float *g = leap_f32(gamma), *b = leap_f32(beta);
  float *rm = leap_f32(running_mean), *rv = leap_f32(running_var);
  if (ctx->training) {
    stats = leap__new_tensor(ctx, LEAP_F32, 1, (int64_t[]){2 * C});
    float *mean = leap_f32(stats), *invstd = mean + C;
    LEAP__ON_DEVICE(ctx,
                    leap_batchnorm_forward_train_cpu(out->data, mean, invstd, rm, rv, x->data, g, b, M, C, momentum,
                                                     eps, ws),
                    leap_batchnorm_forward_train_cuda(out->data, mean, invstd, rm, rv, x->data, g, b, M, C, momentum,
                                                      eps, ws, x->dtype, leap__stream(ctx)));
  } else {
    LEAP__ON_DEVICE(ctx, leap_batchnorm_forward_eval_cpu(out->data, x->data, g, b, rm, rv, M, C, eps, ws),
                    leap_batchnorm_forward_eval_cuda(out->data, x->data, g, b, rm, rv, M, C, eps, ws, x->dtype,
                                                     leap__stream(ctx)));
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
  float *ws = workspace(ctx, M, C);
  void *dx = leap__grad(ctx, rec->inputs[0]), *dg = leap__grad(ctx, rec->inputs[1]), *db = leap__grad(ctx, rec->inputs[2]);
  const float *g = leap_f32(rec->inputs[1]);
  if (a->training) {
    const float *mean = leap_f32(rec->saved[0]), *invstd = mean + C;
    LEAP__ON_DEVICE(ctx, leap_batchnorm_backward_train_cpu(dx, dg, db, leap__dout(rec), x->data, g, mean, invstd, M, C, ws),
                    leap_batchnorm_backward_train_cuda(dx, dg, db, leap__dout(rec), x->data, g, mean, invstd, M, C, ws,
                                                       x->dtype, leap__stream(ctx)));
  } else {
    const float *rm = leap_f32(rec->saved[1]), *rv = leap_f32(rec->saved[2]);
    LEAP__ON_DEVICE(ctx, leap_batchnorm_backward_eval_cpu(dx, dg, db, leap__dout(rec), x->data, g, rm, rv, M, C, a->eps, ws),
                    leap_batchnorm_backward_eval_cuda(dx, dg, db, leap__dout(rec), x->data, g, rm, rv, M, C, a->eps,
                                                      ws, x->dtype, leap__stream(ctx)));
  }
}
