/* A model's long-lived tensors by name: trainable parameters (with a gradient buffer), frozen parameters (no
 * gradient, no optimizer state) and buffers such as batch norm's running statistics (saved, never trained). */
#ifndef LEAP_TRAIN_CORE_PARAMS_H
#define LEAP_TRAIN_CORE_PARAMS_H

#include <stdbool.h>

#include "train/core/tensor.h"

typedef enum leap_param_kind { LEAP_PARAM_TRAINABLE = 0, LEAP_PARAM_FROZEN, LEAP_PARAM_BUFFER } leap_param_kind;

typedef struct leap_param {
  leap_tensor *tensor;
  leap_param_kind kind;
  bool weight_decay; /* matrices and conv kernels decay; biases, norms and embeddings by choice of the builder */
} leap_param;

typedef struct leap_params {
  leap_device device;
  leap_param *items;
  int count, capacity;
} leap_params;

void leap_params_init(leap_params *ps, leap_device device);
void leap_params_free(leap_params *ps);
/* Adds a zero-filled f32 tensor. A duplicate name is an error. */
leap_tensor *leap_params_add(leap_params *ps, const char *name, int ndim, const int64_t *shape, leap_param_kind kind,
                             bool weight_decay, leap_error *err);
leap_param *leap_params_find(leap_params *ps, const char *name);
/* Freezes every trainable parameter whose name starts with prefix; returns how many (0: nothing matched). */
int leap_params_freeze(leap_params *ps, const char *prefix);
void leap_params_zero_grad(leap_params *ps);
/* Number of elements of trainable + frozen parameters (buffers excluded). */
int64_t leap_params_numel(const leap_params *ps);

#endif
