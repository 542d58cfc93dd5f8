/* GPT with the GPT-2 architecture: learned token and position embeddings, pre-LayerNorm blocks of causal
 * multi-head attention and a 4x MLP with tanh-GELU, a final LayerNorm, and an LM head tied to the token embedding.
 *
 * Parameter names: wte.weight (V,C), wpe.weight (T,C), h.<i>.ln_1.{weight,bias}, h.<i>.attn.qkv.{weight,bias}
 * (3C,C), h.<i>.attn.proj.{weight,bias}, h.<i>.ln_2.{weight,bias}, h.<i>.mlp.fc.{weight,bias} (4C,C),
 * h.<i>.mlp.proj.{weight,bias} (C,4C), ln_f.{weight,bias}. Linear weights are (out, in) as torch.nn.Linear. */
#ifndef LEAP_MODELS_GPT_H
#define LEAP_MODELS_GPT_H

#include "train/core/ops.h"
#include "train/core/params.h"

typedef struct leap_gpt_config {
  int vocab, context, layers, heads, channels;
  float dropout; /* on the attention and MLP outputs and the embeddings; 0 for none */
} leap_gpt_config;

typedef struct leap_gpt_block {
  leap_tensor *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
  leap_tensor *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
} leap_gpt_block;

typedef struct leap_gpt {
  leap_gpt_config config;
  leap_params params;
  leap_tensor *wte, *wpe, *lnf_w, *lnf_b;
  leap_gpt_block *blocks;
} leap_gpt;

/* Builds and initialises the model (GPT-2's scheme: N(0, 0.02), residual projections scaled by 1/sqrt(2L), zero
 * biases, unit LayerNorm gains). Fails on an invalid config (channels not divisible by heads, ...). */
leap_status leap_gpt_create(leap_gpt *gpt, const leap_gpt_config *config, leap_device device, uint64_t seed,
                            leap_error *err);
void leap_gpt_destroy(leap_gpt *gpt);
/* tokens i32 (B,T) with T <= context -> logits (B,T,V). */
leap_tensor *leap_gpt_forward(leap_gpt *gpt, leap_ctx *ctx, leap_tensor *tokens);
/* The mean next-token cross-entropy of the logits against targets i32 (B,T) (-1 ignored). */
leap_tensor *leap_gpt_loss(leap_gpt *gpt, leap_ctx *ctx, leap_tensor *tokens, leap_tensor *targets);

#endif
