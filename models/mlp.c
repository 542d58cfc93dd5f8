#include "models/mlp.h"

#include <stdio.h>

#include "train/core/init.h"

leap_status leap__model_add_layer(leap_params *ps, const char *prefix, const char *name, int ndim,
                                  const int64_t *wshape, int64_t fan_in, int64_t fan_out, bool output_layer,
                                  uint64_t seed, leap_tensor **w, leap_tensor **b, leap_error *err) {
  char full[128];
  snprintf(full, sizeof full, "%s%s.weight", prefix, name);
  uint64_t stream = (uint64_t)ps->count;
  if (!(*w = leap_params_add(ps, full, ndim, wshape, LEAP_PARAM_TRAINABLE, true, err))) return err->status;
  if (output_layer) leap_init_uniform(*w, leap_init_xavier_bound(fan_in, fan_out), seed, stream);
  else leap_init_normal(*w, leap_init_kaiming_std(fan_in), seed, stream);
  snprintf(full, sizeof full, "%s%s.bias", prefix, name);
  if (!(*b = leap_params_add(ps, full, 1, wshape, LEAP_PARAM_TRAINABLE, false, err))) return err->status;
  return LEAP_OK;
}

leap_status leap_mlp_create(leap_mlp *mlp, const leap_mlp_config *config, leap_params *ps, const char *prefix,
                            uint64_t seed, leap_error *err) {
  if (config->inputs < 1 || config->outputs < 1 || config->n_hidden < 0 || config->n_hidden > LEAP_MLP_MAX_HIDDEN)
    return leap_error_set(err, LEAP_ERR_CONFIG, "mlp '%s': inputs, outputs must be positive and at most %d hidden",
                          prefix, LEAP_MLP_MAX_HIDDEN);
  mlp->config = *config;
  int64_t in = config->inputs;
  for (int i = 0; i <= config->n_hidden; i++) {
    int64_t out = i < config->n_hidden ? config->hidden[i] : config->outputs;
    if (out < 1) return leap_error_set(err, LEAP_ERR_CONFIG, "mlp '%s': hidden layer %d has size %lld", prefix, i,
                                       (long long)out);
    int64_t shape[2] = {out, in};
    char name[32];
    snprintf(name, sizeof name, "fc.%d", i);
    if (leap__model_add_layer(ps, prefix, name, 2, shape, in, out, i == config->n_hidden, seed, &mlp->w[i],
                              &mlp->b[i], err))
      return err->status;
    in = out;
  }
  return LEAP_OK;
}

leap_tensor *leap_mlp_forward(const leap_mlp *mlp, leap_ctx *ctx, leap_tensor *x) {
  for (int i = 0; i <= mlp->config.n_hidden; i++) {
    x = leap_linear(ctx, x, mlp->w[i], mlp->b[i]);
    if (i == mlp->config.n_hidden) break;
    x = mlp->config.activation == LEAP_ACT_GELU ? leap_gelu(ctx, x) : leap_relu(ctx, x);
    if (mlp->config.dropout > 0.0f) x = leap_dropout(ctx, x, mlp->config.dropout);
  }
  return x;
}
