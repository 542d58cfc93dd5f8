/* A network described by data, not code: a named architecture (convnet, mlp, gpt) or a list of layers
 * ("sequential"), built by name through a registry. This is how configs describe models without C; the config
 * layer (train/config) fills a leap_net_spec from YAML.
 *
 * A net maps one input tensor (N, per-sample dims...) to one output tensor. For f32 features the output is
 * (N, out_dim); a token model (gpt) maps i32 tokens (N,T) to logits (N,T,vocab). */
#ifndef LEAP_MODELS_NET_H
#define LEAP_MODELS_NET_H

#include "models/convnet.h"
#include "models/gpt.h"
#include "models/mlp.h"

#define LEAP_NET_MAX_LAYERS 32
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
  LEAP_LAYER_EMBEDDING,     /* vocab, units = channels; i32 input */
  LEAP_LAYER_TRANSFORMER,   /* a pre-LN transformer block over (N,T,C): heads, causal; units = MLP hidden */
  LEAP_LAYER_TOKENS,        /* (N,H,W,C) -> (N,H*W,C): a feature map as a sequence of tokens */
  LEAP_LAYER_POSITION,      /* adds a learned position embedding (T,C) to (N,T,C) (T up to the built length) */
  LEAP_LAYER_QUERIES,       /* units = k: appends k learned tokens, (N,T,C) -> (N,T+k,C) (fixed-length outputs) */
  LEAP_LAYER_LAST,          /* units = k: keeps the last k positions, (N,T,C) -> (N,k,C) */
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

typedef struct leap_net_spec {
  leap_net_arch arch;
  int n_layers;                             /* sequential */
  leap_layer_spec layers[LEAP_NET_MAX_LAYERS];
  leap_convnet_config convnet;              /* convnet: in_* and head.outputs are filled by leap_net_create */
  leap_mlp_config mlp;                      /* mlp: inputs and outputs are filled by leap_net_create */
  leap_gpt_config gpt;                      /* gpt: vocab 0 takes out_dim, context 0 the input length */
  /* Where the spec came from, named in leap_net_create's errors: the config file (or the --set override), the key
   * of the network ("stages.0.network") and its line. Empty and 0 for specs written in code. */
  char source[LEAP_NET_SOURCE_MAX];
  char key[LEAP_NET_SOURCE_MAX];
  int line;
} leap_net_spec;

typedef struct leap_net {
  leap_net_spec spec;
  int in_ndim;                              /* per-sample input dims (without N) */
  int64_t in_shape[LEAP_MAX_DIMS];
  int64_t out_dim;
  void *impl;                               /* the built model (owned) */
} leap_net;

/* Names for configs: "sequential", "convnet", "mlp", "gpt" / "conv", "maxpool", ..., "transformer". -1 if unknown. */
int leap_net_arch_from_name(const char *name);
int leap_layer_kind_from_name(const char *name);
const char *leap_net_arch_name(leap_net_arch arch);
const char *leap_layer_kind_name(leap_layer_kind kind);

/* Builds the net for inputs of per-sample shape in_shape (e.g. (64,64,3) images, (4) vectors or (T) token ids)
 * producing out_dim features, adding its parameters to ps under prefix ("perceive.") and initialising them from
 * seed. Parameters are named <prefix><layer-kind>.<layer index>.<param> ("perceive.conv.0.weight"); the presets
 * keep their own names under the prefix (convnet.h, mlp.h, gpt.h). A spec that does not fit the input (a conv on a
 * vector, a feature map left at the end, ...) is a LEAP_ERR_CONFIG naming the layer's index, kind and, for specs
 * from a config, the file, line and key.
 *
 * The output: a sequential list ends in (N,F) vectors or (N,T,F) sequences; when F is not out_dim, a linear layer
 * to out_dim is appended (named linear.<n_layers>), and a final `linear` with units 0 takes out_dim. The mlp preset
 * flattens each sample to one vector first; the convnet preset needs (H,W,C) images. The parameters belong to ps:
 * leap_net_destroy frees only the net's own structures. */
leap_status leap_net_create(leap_net *net, const leap_net_spec *spec, int in_ndim, const int64_t *in_shape,
                            int64_t out_dim, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err);
void leap_net_destroy(leap_net *net);
/* x (N, in_shape...) -> (N, out_dim), or (N,T,out_dim) for sequences (gpt logits). Token inputs (i32) may be shorter
 * than the built length T (greedy decoding); any other mismatch with in_shape is a LEAP_ERR_SHAPE in ctx->err. */
leap_tensor *leap_net_forward(const leap_net *net, leap_ctx *ctx, leap_tensor *x);

#endif
