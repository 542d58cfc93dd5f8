#include "models/transformer.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "train/core/init.h"

#define TRANSFORMER_INIT_STD 0.02f
#define TRANSFORMER_LN_EPS 1e-5f

/* What one parameter is: its name under the block's prefix, its shape and how it starts. */
typedef enum init_kind { INIT_ZERO, INIT_ONE, INIT_NORMAL, INIT_RESIDUAL } init_kind;

typedef struct param_desc {
  const char *name;
  int ndim;
  int64_t d0, d1;
  init_kind init;
  size_t slot; /* offset of the tensor pointer in leap_transformer_block */
} param_desc;

static leap_status validate(const leap_transformer_config *c, const char *prefix, leap_error *err) {
  if (c->channels < 1 || c->heads < 1 || c->hidden < 0 || c->depth < 1)
    return leap_error_set(err, LEAP_ERR_CONFIG, "transformer '%s': channels, heads and depth must be positive",
                          prefix);
  if (c->channels % c->heads)
    return leap_error_set(err, LEAP_ERR_CONFIG, "transformer '%s': channels (%d) must be divisible by heads (%d)",
                          prefix, c->channels, c->heads);
  if (c->dropout < 0.0f || c->dropout >= 1.0f)
    return leap_error_set(err, LEAP_ERR_CONFIG, "transformer '%s': dropout %g must be in [0, 1)", prefix,
                          c->dropout);
  return LEAP_OK;
}

leap_status leap_transformer_block_create(leap_transformer_block *block, const leap_transformer_config *config,
                                          leap_params *ps, const char *prefix, uint64_t seed, leap_error *err) {
  memset(block, 0, sizeof *block);
  if (validate(config, prefix, err)) return err->status;
  block->config = *config;
  if (!block->config.hidden) block->config.hidden = 4 * config->channels;
  int64_t C = config->channels, H = block->config.hidden;
  const param_desc params[] = {
      {"ln_1.weight", 1, C, 0, INIT_ONE, offsetof(leap_transformer_block, ln1_w)},
      {"ln_1.bias", 1, C, 0, INIT_ZERO, offsetof(leap_transformer_block, ln1_b)},
      {"attn.qkv.weight", 2, 3 * C, C, INIT_NORMAL, offsetof(leap_transformer_block, qkv_w)},
      {"attn.qkv.bias", 1, 3 * C, 0, INIT_ZERO, offsetof(leap_transformer_block, qkv_b)},
      {"attn.proj.weight", 2, C, C, INIT_RESIDUAL, offsetof(leap_transformer_block, proj_w)},
      {"attn.proj.bias", 1, C, 0, INIT_ZERO, offsetof(leap_transformer_block, proj_b)},
      {"ln_2.weight", 1, C, 0, INIT_ONE, offsetof(leap_transformer_block, ln2_w)},
      {"ln_2.bias", 1, C, 0, INIT_ZERO, offsetof(leap_transformer_block, ln2_b)},
      {"mlp.fc.weight", 2, H, C, INIT_NORMAL, offsetof(leap_transformer_block, fc_w)},
      {"mlp.fc.bias", 1, H, 0, INIT_ZERO, offsetof(leap_transformer_block, fc_b)},
      {"mlp.proj.weight", 2, C, H, INIT_RESIDUAL, offsetof(leap_transformer_block, fcproj_w)},
      {"mlp.proj.bias", 1, C, 0, INIT_ZERO, offsetof(leap_transformer_block, fcproj_b)},
  };
  float residual_std = leap_init_gpt2_residual_std(TRANSFORMER_INIT_STD, config->depth);
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
    const param_desc *d = &params[i];
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix, d->name);
    uint64_t stream = (uint64_t)ps->count;
    int64_t shape[2] = {d->d0, d->d1};
    leap_tensor *t = leap_params_add(ps, name, d->ndim, shape, LEAP_PARAM_TRAINABLE, d->ndim == 2, err);
    if (!t) return err->status;
    *(leap_tensor **)((char *)block + d->slot) = t;
    if (d->init == INIT_ONE) leap_init_constant(t, 1.0f);
    else if (d->init == INIT_NORMAL) leap_init_normal(t, TRANSFORMER_INIT_STD, seed, stream);
    else if (d->init == INIT_RESIDUAL) leap_init_normal(t, residual_std, seed, stream);
  }
  return LEAP_OK;
}

leap_tensor *leap_transformer_block_forward(const leap_transformer_block *b, leap_ctx *ctx, leap_tensor *x) {
  const leap_transformer_config *c = &b->config;
  leap_tensor *h = leap_layernorm(ctx, x, b->ln1_w, b->ln1_b, TRANSFORMER_LN_EPS);
  h = leap_linear(ctx, h, b->qkv_w, b->qkv_b);
  h = leap_attention_qkv(ctx, h, NULL, c->heads, c->causal);
  h = leap_linear(ctx, h, b->proj_w, b->proj_b);
  if (c->dropout > 0.0f) h = leap_dropout(ctx, h, c->dropout);
  x = leap_add(ctx, x, h);
  h = leap_layernorm(ctx, x, b->ln2_w, b->ln2_b, TRANSFORMER_LN_EPS);
  h = leap_linear_gelu(ctx, h, b->fc_w, b->fc_b);
  h = leap_linear(ctx, h, b->fcproj_w, b->fcproj_b);
  if (c->dropout > 0.0f) h = leap_dropout(ctx, h, c->dropout);
  return leap_add(ctx, x, h);
}
