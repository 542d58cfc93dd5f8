/* A pre-LayerNorm transformer block over (N,T,C), as in GPT-2 but with the mask chosen by the caller:
 *   x = x + proj(attention(qkv(layernorm_1(x))))      (causal or not)
 *   x = x + mlp.proj(gelu(mlp.fc(layernorm_2(x))))
 * with dropout on both residual branches when configured.
 *
 * Parameters under the block's prefix ("net.transformer.3."): ln_1.{weight,bias} (C), attn.qkv.{weight,bias}
 * (3C,C), attn.proj.{weight,bias} (C,C), ln_2.{weight,bias} (C), mlp.fc.{weight,bias} (H,C), mlp.proj.{weight,bias}
 * (C,H). Linear weights are (out, in) as torch.nn.Linear. Initialised as GPT-2: N(0, 0.02) weights, the two
 * residual projections at 0.02 / sqrt(2 * depth), zero biases, unit LayerNorm gains. */
#ifndef LEAP_MODELS_TRANSFORMER_H
#define LEAP_MODELS_TRANSFORMER_H

#include "train/core/ops.h"
#include "train/core/params.h"

typedef struct leap_transformer_config {
  int channels;  /* C, divisible by heads */
  int heads;
  int hidden;    /* the MLP's hidden width; 0 for 4 * channels */
  bool causal;   /* query t sees keys <= t */
  float dropout; /* on both residual branches, in training mode; 0 for none */
  int depth;     /* how many blocks the residual stream passes through (scales the projections' init); >= 1 */
} leap_transformer_config;

typedef struct leap_transformer_block {
  leap_transformer_config config;
  leap_tensor *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
  leap_tensor *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
} leap_transformer_block;

/* Adds the block's parameters to ps under prefix and initialises them from seed (each parameter draws from the
 * stream of its index in ps). A config that does not fit (channels not divisible by heads, ...) is LEAP_ERR_CONFIG. */
leap_status leap_transformer_block_create(leap_transformer_block *block, const leap_transformer_config *config,
                                          leap_params *ps, const char *prefix, uint64_t seed, leap_error *err);
/* x (N,T,C) -> (N,T,C). */
leap_tensor *leap_transformer_block_forward(const leap_transformer_block *block, leap_ctx *ctx, leap_tensor *x);

#endif
