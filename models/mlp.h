/* A multilayer perceptron: linear layers with ReLU or GELU between them (none after the last).
 * Parameters: <prefix>fc.<i>.{weight,bias}. */
#ifndef LEAP_MODELS_MLP_H
#define LEAP_MODELS_MLP_H

#include "train/core/ops.h"
#include "train/core/params.h"

#define LEAP_MLP_MAX_HIDDEN 8

typedef enum leap_activation { LEAP_ACT_RELU = 0, LEAP_ACT_GELU } leap_activation;

typedef struct leap_mlp_config {
  int inputs, outputs;
  int n_hidden;
  int hidden[LEAP_MLP_MAX_HIDDEN];
  leap_activation activation;
  float dropout; /* after each hidden activation */
} leap_mlp_config;

typedef struct leap_mlp {
  leap_mlp_config config;
  leap_tensor *w[LEAP_MLP_MAX_HIDDEN + 1], *b[LEAP_MLP_MAX_HIDDEN + 1];
} leap_mlp;

/* Adds the MLP's parameters to ps under prefix (e.g. "act.") and initialises them from streams starting at the
 * parameter set's current count. */
leap_status leap_mlp_create(leap_mlp *mlp, const leap_mlp_config *config, leap_params *ps, const char *prefix,
                            uint64_t seed, leap_error *err);
/* x (...,inputs) -> (...,outputs). */
leap_tensor *leap_mlp_forward(const leap_mlp *mlp, leap_ctx *ctx, leap_tensor *x);

/* Shared by the builders: a linear or conv layer's weight and bias, He-normal (hidden) or Xavier (output). */
leap_status leap__model_add_layer(leap_params *ps, const char *prefix, const char *name, int ndim,
                                  const int64_t *wshape, int64_t fan_in, int64_t fan_out, bool output_layer,
                                  uint64_t seed, leap_tensor **w, leap_tensor **b, leap_error *err);

#endif
