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
  LEAP_LAYER_KIND_COUNT
} leap_layer_kind;

typedef struct leap_layer_spec {
  leap_layer_kind kind;
  int units, kernel, stride, padding, groups, heads, vocab;
  bool causal;
  float p;
} leap_layer_spec;

typedef enum leap_net_arch { LEAP_NET_SEQUENTIAL = 0, LEAP_NET_CONVNET, LEAP_NET_MLP, LEAP_NET_GPT } leap_net_arch;

typedef struct leap_net_spec {
  leap_net_arch arch;
  int n_layers;                             /* sequential */
  leap_layer_spec layers[LEAP_NET_MAX_LAYERS];
  leap_convnet_config convnet;              /* convnet: in_* and head.outputs are filled by leap_net_create */
  leap_mlp_config mlp;                      /* mlp: inputs and outputs are filled by leap_net_create */
  leap_gpt_config gpt;                      /* gpt */
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

/* Builds the net for inputs of per-sample shape in_shape (e.g. (64,64,3) images or (4) vectors) producing out_dim
 * features, adding its parameters to ps under prefix ("perceive.") and initialising them from seed. A spec that
 * does not fit the input (a conv on a vector, a layer list whose last layer is not out_dim wide, ...) is a
 * LEAP_ERR_CONFIG naming the layer. */
leap_status leap_net_create(leap_net *net, const leap_net_spec *spec, int in_ndim, const int64_t *in_shape,
                            int64_t out_dim, leap_params *ps, const char *prefix, uint64_t seed, leap_error *err);
void leap_net_destroy(leap_net *net);
/* x (N, in_shape...) -> (N, out_dim) (or the arch's own output, e.g. gpt logits). */
leap_tensor *leap_net_forward(const leap_net *net, leap_ctx *ctx, leap_tensor *x);

#endif
