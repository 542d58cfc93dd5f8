#include "models/gpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/core/init.h"

#define GPT_INIT_STD 0.02f
#define GPT_LN_EPS 1e-5f

/* Adds one parameter named printf-style; weights decay, vectors (biases, norm gains) do not. */
static leap_tensor *add_param(leap_gpt *gpt, leap_error *err, int ndim, int64_t d0, int64_t d1, const char *fmt,
                              int layer) {
  char name[96];
  snprintf(name, sizeof name, fmt, layer);
  int64_t shape[2] = {d0, d1};
  return leap_params_add(&gpt->params, name, ndim, shape, LEAP_PARAM_TRAINABLE, ndim >= 2, err);
}

static leap_status validate(const leap_gpt_config *c, leap_error *err) {
  if (c->vocab < 1 || c->context < 1 || c->layers < 1 || c->heads < 1 || c->channels < 1)
    return leap_error_set(err, LEAP_ERR_CONFIG, "gpt: vocab, context, layers, heads and channels must be positive");
  if (c->channels % c->heads)
    return leap_error_set(err, LEAP_ERR_CONFIG, "gpt: channels (%d) must be divisible by heads (%d)", c->channels,
                          c->heads);
  if (c->dropout < 0.0f || c->dropout >= 1.0f)
    return leap_error_set(err, LEAP_ERR_CONFIG, "gpt: dropout %g must be in [0, 1)", c->dropout);
  return LEAP_OK;
}

static leap_status build_block(leap_gpt *gpt, int l, leap_error *err) {
  int64_t C = gpt->config.channels;
  leap_gpt_block *b = &gpt->blocks[l];
  if (!(b->ln1_w = add_param(gpt, err, 1, C, 0, "h.%d.ln_1.weight", l))) return err->status;
  if (!(b->ln1_b = add_param(gpt, err, 1, C, 0, "h.%d.ln_1.bias", l))) return err->status;
  if (!(b->qkv_w = add_param(gpt, err, 2, 3 * C, C, "h.%d.attn.qkv.weight", l))) return err->status;
  if (!(b->qkv_b = add_param(gpt, err, 1, 3 * C, 0, "h.%d.attn.qkv.bias", l))) return err->status;
  if (!(b->proj_w = add_param(gpt, err, 2, C, C, "h.%d.attn.proj.weight", l))) return err->status;
  if (!(b->proj_b = add_param(gpt, err, 1, C, 0, "h.%d.attn.proj.bias", l))) return err->status;
  if (!(b->ln2_w = add_param(gpt, err, 1, C, 0, "h.%d.ln_2.weight", l))) return err->status;
  if (!(b->ln2_b = add_param(gpt, err, 1, C, 0, "h.%d.ln_2.bias", l))) return err->status;
  if (!(b->fc_w = add_param(gpt, err, 2, 4 * C, C, "h.%d.mlp.fc.weight", l))) return err->status;
  if (!(b->fc_b = add_param(gpt, err, 1, 4 * C, 0, "h.%d.mlp.fc.bias", l))) return err->status;
  if (!(b->fcproj_w = add_param(gpt, err, 2, C, 4 * C, "h.%d.mlp.proj.weight", l))) return err->status;
  if (!(b->fcproj_b = add_param(gpt, err, 1, C, 0, "h.%d.mlp.proj.bias", l))) return err->status;
  return LEAP_OK;
}

/* GPT-2's initialisation; each parameter draws from the stream of its index. */
static void initialise(leap_gpt *gpt, uint64_t seed) {
  float residual_std = leap_init_gpt2_residual_std(GPT_INIT_STD, gpt->config.layers);
  for (int i = 0; i < gpt->params.count; i++) {
    leap_tensor *t = gpt->params.items[i].tensor;
    const char *name = t->name;
    size_t len = strlen(name);
    bool is_bias = len >= 4 && !strcmp(name + len - 4, "bias");
    bool is_norm = strstr(name, "ln_") != NULL;
    if (is_bias) leap_init_constant(t, 0.0f);
    else if (is_norm) leap_init_constant(t, 1.0f);
    else if (strstr(name, ".proj.weight")) leap_init_normal(t, residual_std, seed, (uint64_t)i);
    else leap_init_normal(t, GPT_INIT_STD, seed, (uint64_t)i);
  }
}

leap_status leap_gpt_create(leap_gpt *gpt, const leap_gpt_config *config, leap_device device, uint64_t seed,
                            leap_error *err) {
  memset(gpt, 0, sizeof *gpt);
  if (validate(config, err)) return err->status;
  gpt->config = *config;
  leap_params_init(&gpt->params, device);
  gpt->blocks = calloc((size_t)config->layers, sizeof *gpt->blocks);
  if (!gpt->blocks) return leap_error_set(err, LEAP_ERR_MEMORY, "gpt: out of memory");
  int64_t C = config->channels;
  if (!(gpt->wte = add_param(gpt, err, 2, config->vocab, C, "wte.weight", 0))) return err->status;
  if (!(gpt->wpe = add_param(gpt, err, 2, config->context, C, "wpe.weight", 0))) return err->status;
  for (int l = 0; l < config->layers; l++)
    if (build_block(gpt, l, err)) return err->status;
  if (!(gpt->lnf_w = add_param(gpt, err, 1, C, 0, "ln_f.weight", 0))) return err->status;
  if (!(gpt->lnf_b = add_param(gpt, err, 1, C, 0, "ln_f.bias", 0))) return err->status;
  initialise(gpt, seed);
  return LEAP_OK;
}

void leap_gpt_destroy(leap_gpt *gpt) {
  leap_params_free(&gpt->params);
  free(gpt->blocks);
  memset(gpt, 0, sizeof *gpt);
}

static leap_tensor *block_forward(leap_gpt *gpt, leap_ctx *ctx, const leap_gpt_block *b, leap_tensor *x) {
  float p = gpt->config.dropout;
  leap_tensor *h = leap_layernorm(ctx, x, b->ln1_w, b->ln1_b, GPT_LN_EPS);
  h = leap_linear(ctx, h, b->qkv_w, b->qkv_b);
  h = leap_attention_qkv(ctx, h, NULL, gpt->config.heads, true);
  h = leap_linear(ctx, h, b->proj_w, b->proj_b);
  if (p > 0.0f) h = leap_dropout(ctx, h, p);
  x = leap_add(ctx, x, h);
  h = leap_layernorm(ctx, x, b->ln2_w, b->ln2_b, GPT_LN_EPS);
  h = leap_linear_gelu(ctx, h, b->fc_w, b->fc_b);
  h = leap_linear(ctx, h, b->fcproj_w, b->fcproj_b);
  if (p > 0.0f) h = leap_dropout(ctx, h, p);
  return leap_add(ctx, x, h);
}

leap_tensor *leap_gpt_forward(leap_gpt *gpt, leap_ctx *ctx, leap_tensor *tokens) {
  if (!tokens || !leap_ctx_ok(ctx)) return NULL;
  char desc[128];
  if (tokens->ndim != 2 || tokens->dtype != LEAP_I32 || tokens->shape[1] > gpt->config.context) {
    leap_error_set(&ctx->err, LEAP_ERR_SHAPE, "gpt: tokens %s must be i32 (B,T) with T <= context %d",
                   leap_tensor_describe(tokens, desc, sizeof desc), gpt->config.context);
    return NULL;
  }
  int64_t T = tokens->shape[1];
  leap_tensor *pos = leap_ctx_tensor(ctx, LEAP_I32, 1, &T, false);
  int32_t *host_pos = leap_arena_alloc(&ctx->meta, sizeof(int32_t) * (size_t)T);
  for (int64_t t = 0; t < T; t++) host_pos[t] = (int32_t)t;
  leap_tensor_from_host(pos, host_pos);
  leap_tensor *x = leap_add(ctx, leap_embedding(ctx, gpt->wte, tokens), leap_embedding(ctx, gpt->wpe, pos));
  if (gpt->config.dropout > 0.0f) x = leap_dropout(ctx, x, gpt->config.dropout);
  for (int l = 0; l < gpt->config.layers; l++) x = block_forward(gpt, ctx, &gpt->blocks[l], x);
  x = leap_layernorm(ctx, x, gpt->lnf_w, gpt->lnf_b, GPT_LN_EPS);
  return leap_linear(ctx, x, gpt->wte, NULL);
}

leap_tensor *leap_gpt_loss(leap_gpt *gpt, leap_ctx *ctx, leap_tensor *tokens, leap_tensor *targets) {
  return leap_cross_entropy(ctx, leap_gpt_forward(gpt, ctx, tokens), targets, -1);
}
