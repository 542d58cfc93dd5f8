/* A configurable conv net with an MLP head: conv layers (each optionally followed by batch norm, then ReLU, then
 * max-pooling), then either a flatten or a global average pool, then the MLP.
 * Parameters: <prefix>conv.<i>.{weight,bias} with weights (K,R,S,C), <prefix>bn.<i>.{weight,bias,running_mean,
 * running_var}, and the head's <prefix>head.fc.<j>.{weight,bias}. Input images are NHWC f32. */
#ifndef LEAP_MODELS_CONVNET_H
#define LEAP_MODELS_CONVNET_H

#include "models/mlp.h"

#define LEAP_CONVNET_MAX_CONV 8

typedef struct leap_conv_layer_config {
  int channels, kernel, stride, padding;
  int pool; /* max-pool window and stride after the ReLU; 0 or 1 for none */
  bool batchnorm;
} leap_conv_layer_config;

typedef struct leap_convnet_config {
  int in_h, in_w, in_c;
  int n_conv;
  leap_conv_layer_config conv[LEAP_CONVNET_MAX_CONV];
  bool global_pool;      /* global average pool instead of flattening the last feature map */
  leap_mlp_config head;  /* head.inputs is filled in by the builder */
} leap_convnet_config;

typedef struct leap_convnet {
  leap_convnet_config config;
  leap_tensor *w[LEAP_CONVNET_MAX_CONV], *b[LEAP_CONVNET_MAX_CONV];
  leap_tensor *bn_gamma[LEAP_CONVNET_MAX_CONV], *bn_beta[LEAP_CONVNET_MAX_CONV];
  leap_tensor *bn_mean[LEAP_CONVNET_MAX_CONV], *bn_var[LEAP_CONVNET_MAX_CONV];
  leap_mlp head;
} leap_convnet;

leap_status leap_convnet_create(leap_convnet *net, const leap_convnet_config *config, leap_params *ps,
                                const char *prefix, uint64_t seed, leap_error *err);
/* images (N,H,W,C) -> (N, head.outputs). */
leap_tensor *leap_convnet_forward(const leap_convnet *net, leap_ctx *ctx, leap_tensor *images);

/* W2 of the benchmarks: 64x64x3 -> conv 32, 64, 128 (3x3, pad 1, ReLU, maxpool 2) -> 8192 -> 256 -> outputs. */
leap_convnet_config leap_convnet_config_w2(int outputs);

#endif
