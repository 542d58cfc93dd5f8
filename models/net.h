/* A network described by data, not code: a named architecture (convnet, mlp, gpt) or a list of layers
 * ("sequential"), built by name through a registry. This is how configs describe models without C; the config
 * layer (train/config) fills a leap_net_spec from YAML.
 *
 * A net maps one input tensor (N, per-sample dims...), or for a sequential list with named inputs up to
 * LEAP_NET_MAX_INPUTS of them, to one output tensor: (N, out_dim) vectors, or (N,T,out_dim) sequences (a token
 * model such as gpt maps i32 tokens (N,T) to logits (N,T,vocab)).
 *
 * Named inputs: each input has its own layer list (a branch, e.g. an image through a conv stem, `tokens` and a
 * linear adapter, or question tokens through an embedding); the branches' outputs, (T_i,C) sequences or (C)
 * vectors (one token each) of one width C, are joined along the sequence in the branches' order and then run
 * through the main layer list. */
#ifndef LEAP_MODELS_NET_H
#define LEAP_MODELS_NET_H

#include "models/convnet.h"
#include "models/gpt.h"
#include "models/mlp.h"

#define LEAP_NET_MAX_LAYERS 32
#define LEAP_NET_MAX_INPUTS 2
#define LEAP_NET_MAX_BRANCH_LAYERS 16
#define LEAP_NET_INPUT_NAME_MAX 64
#define LEAP_NET_NAME_MAX 32
#define LEAP_NET_SOURCE_MAX 256

typedef enum leap_layer_kind {
  LEAP_LAYER_CONV = 0,      /* units = output channels; kernel, stride, padding */
  LEAP_LAYER_MAXPOOL,       /* kernel (window), stride, padding */
  LEAP_LAYER_AVGPOOL,       /* kernel (window), stride, padding */
  LEAP_LAYER_GLOBAL_AVGPOOL,
  LEAP_LAYER_FLATTEN,       /* (N, ...) -> (N, prod) */
  LEAP_LAYER_LINEAR,        /* units = output features (over the last dim) */
  LEAP_LAYER_BATCHNORM,
  LEAP_LAYER_LAYERNORM,
  LEAP_LAYER_GROUPNORM,     /* groups */
  LEAP_LAYER_RELU,
  LEAP_LAYER_GELU,
  LEAP_LAYER_DROPOUT,       /* p */
  LEAP_LAYER_EMBEDDING,     /* vocab, units = channels; i32 ids, or f32 (...,vocab) scores embedded as softmax @ table */
  LEAP_LAYER_TRANSFORMER,   /* a pre-LN transformer block over (N,T,C): heads, causal; units = MLP hidden */
  LEAP_LAYER_TOKENS,        /* (N,H,W,C) -> (N,H*W,C): a feature map as a sequence of tokens */
  LEAP_LAYER_POSITION,      /* adds a learned position embedding (T,C) to (N,T,C) (T up to the built length) */
  LEAP_LAYER_QUERIES,       /* units = k: appends k learned tokens, (N,T,C) -> (N,T+k,C) (fixed-length outputs) */
  LEAP_LAYER_LAST,          /* units = k: keeps the last k positions, (N,T,C) -> (N,k,C) */
  LEAP_LAYER_COORDS,        /* (N,H,W,C) -> (N,H,W,C+2): appends each position's column and row in [-1,1] */
  LEAP_LAYER_KIND_COUNT
} leap_layer_kind;

typedef struct leap_layer_spec {
  leap_layer_kind kind;
  int units, kernel, stride, padding, groups, heads, vocab;
  bool causal;
  float p;                  /* dropout: the probability; transformer: dropout on the attention and MLP outputs */
  int line;                 /* the layer's line in its config file, for error messages; 0 when unknown */
} leap_layer_spec;

typedef enum leap_net_arch { LEAP_NET_SEQUENTIAL = 0, LEAP_NET_CONVNET, LEAP_NET_MLP, LEAP_NET_GPT } leap_net_arch;

/* One named input of a sequential net and the layers applied to it alone, before the join. */
typedef struct leap_net_branch {
  char input[LEAP_NET_INPUT_NAME_MAX];      /* the input's name: the data field (or stage output) it reads */
  int n_layers;                             /* 0 to LEAP_NET_MAX_BRANCH_LAYERS */
  leap_layer_spec layers[LEAP_NET_MAX_BRANCH_LAYERS];
  int line;                                 /* its line in the config file; 0 when unknown */
} leap_net_branch;

typedef struct leap_net_spec {
  leap_net_arch arch;
  int n_layers;                             /* sequential: the main list, after the join of the branches */
  leap_layer_spec layers[LEAP_NET_MAX_LAYERS];
  int n_branches;                           /* sequential: 0 (one unnamed input fed to `layers`) or one branch per
                                             * named input, in input order (at most LEAP_NET_MAX_INPUTS) */
  leap_net_branch branches[LEAP_NET_MAX_INPUTS];
  leap_convnet_config convnet;              /* convnet: in_* and head.outputs are filled by leap_net_create */
  leap_mlp_config mlp;                      /* mlp: inputs and outputs are filled by leap_net_create */
  leap_gpt_config gpt;                      /* gpt: vocab 0 takes out_dim, context 0 the input length */
  /* Where the spec came from, named in leap_net_create's errors: the config file (or the --set override), the key
   * of the network ("stages.0.network") and its line. Empty and 0 for specs written in code. */
  char source[LEAP_NET_SOURCE_MAX];
  char key[LEAP_NET_SOURCE_MAX];
  int line;
} leap_net_spec;

/* What a net is built for: one input's dtype and per-sample shape (without N). */
typedef struct leap_net_input {
  leap_dtype dtype;                         /* LEAP_I32 token ids or LEAP_F32 values */
  int ndim;
  int64_t shape[LEAP_MAX_DIMS];
} leap_net_input;

typedef struct leap_net {
  leap_net_spec spec;
  int n_inputs;                             /* 1, or the spec's n_branches */
  leap_net_input inputs[LEAP_NET_MAX_INPUTS];
  int64_t out_dim;
  int out_ndim;                             /* per-sample output dims: (out_dim) or (T,out_dim) */
  int64_t out_shape[LEAP_MAX_DIMS];
  void *impl;                               /* the built model (owned) */
} leap_net;

/* Names for configs: "sequential", "convnet", "mlp", "gpt" / "conv", "maxpool", ..., "transformer". -1 if unknown. */
int leap_net_arch_from_name(const char *name);
int leap_layer_kind_from_name(const char *name);
const char *leap_net_arch_name(leap_net_arch arch);
const char *leap_layer_kind_name(leap_layer_kind kind);

/* Builds the net for its inputs (n_inputs of them, in the order of the spec's branches, or one; each with its dtype
 * and per-sample shape, e.g. f32 (64,64,3) images, f32 (4) vectors or i32 (T) token ids) producing out_dim features, adding its parameters to ps under prefix ("perceive.") and initialising them from
 * seed. Parameters are named <prefix><layer-kind>.<layer index>.<param> ("perceive.conv.0.weight"); the presets
 * keep their own names under the prefix (convnet.h, mlp.h, gpt.h); a branch's layers are named
 * <prefix><input>.<layer-kind>.<index>.<param> ("e2e.image.conv.0.weight"). A spec that does not fit the input (a
 * conv on a vector, a feature map left at the end, token ids without an embedding, another number of inputs than
 * branches, ...) is a LEAP_ERR_CONFIG naming the layer's index, kind, branch and, for specs from a config, the file,
 * line and key.
 *
 * An embedding takes i32 ids; given f32 (...,vocab) scores instead (a previous network's logits, in a chain trained
 * end to end), it embeds the distribution they give: softmax(scores) @ table, which is the id's row when the scores
 * are confident, and differentiable.
 *
 * The output: a sequential list ends in (N,F) vectors or (N,T,F) sequences; when F is not out_dim, a linear layer
 * to out_dim is appended (named linear.<n_layers>), and a final `linear` with units 0 takes out_dim. The mlp preset
 * flattens each sample to one vector first; the convnet preset needs (H,W,C) images. The parameters belong to ps:
 * leap_net_destroy frees only the net's own structures. */
leap_status leap_net_create_inputs(leap_net *net, const leap_net_spec *spec, int n_inputs,
                                   const leap_net_input *inputs, int64_t out_dim, leap_params *ps, const char *prefix,
                                   uint64_t seed, leap_error *err);
/* One input of per-sample shape in_shape, i32 token ids when the net starts with an embedding (or is gpt), else
 * f32. */
leap_status leap_net_create(leap_net *net, const leap_net_spec *spec, int in_ndim, const int64_t *in_shape,
                            int64_t out_dim, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err);
void leap_net_destroy(leap_net *net);
/* xs[i] (N, inputs[i].shape...) -> (N, out_dim), or (N,T,out_dim) for sequences (gpt logits). Token inputs (i32) may
 * be shorter than the built length T (greedy decoding); any other mismatch with the inputs the net was built for (a
 * shape, a dtype, another batch size between inputs) is a LEAP_ERR_SHAPE in ctx->err. */
leap_tensor *leap_net_forward_inputs(const leap_net *net, leap_ctx *ctx, leap_tensor *const *xs);
/* A net of one input. */
leap_tensor *leap_net_forward(const leap_net *net, leap_ctx *ctx, leap_tensor *x);

#endif
