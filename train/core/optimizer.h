/* Optimizers over a parameter set: AdamW and SGD with momentum, global gradient-norm clipping, and a learning rate
 * supplied per step (from train/core/schedule.h). State (moments, momentum) exists only for parameters that train
 * when the optimizer is created: a frozen parameter has none. */
#ifndef LEAP_TRAIN_CORE_OPTIMIZER_H
#define LEAP_TRAIN_CORE_OPTIMIZER_H

#include "train/core/params.h"

typedef enum leap_optimizer_kind { LEAP_OPTIM_ADAMW = 0, LEAP_OPTIM_SGD } leap_optimizer_kind;

typedef struct leap_optimizer_config {
  leap_optimizer_kind kind;
  float beta1, beta2, eps; /* AdamW */
  float momentum;          /* SGD */
  bool nesterov;
  float weight_decay;      /* applied to parameters whose weight_decay flag is set */
  float clip_norm;         /* global gradient-norm clipping; 0 turns it off */
} leap_optimizer_config;

/* torch.optim.AdamW's defaults with weight decay 0.1 and clipping at 1.0, the usual for transformers. */
leap_optimizer_config leap_optimizer_config_default(leap_optimizer_kind kind);
/* "adamw" or "sgd"; -1 otherwise. */
int leap_optimizer_kind_from_name(const char *name);

typedef struct leap_optimizer {
  leap_optimizer_config config;
  leap_params *params;
  leap_tensor **state_a; /* per parameter: AdamW's first moment, SGD's momentum buffer; NULL when none */
  leap_tensor **state_b; /* per parameter: AdamW's second moment */
  int n_state;
  int64_t step;          /* optimizer steps taken */
  /* On a CUDA device: the stream the updates run on, a device double for the global norm and its workspace. */
  struct CUstream_st *cuda_stream;
  double *cuda_total;
  float *cuda_workspace;
} leap_optimizer;

leap_status leap_optimizer_create(leap_optimizer *opt, leap_params *params, const leap_optimizer_config *config,
                                  leap_error *err);
void leap_optimizer_destroy(leap_optimizer *opt);
/* The global L2 norm of all trainable gradients (deterministic: per-parameter sums in a fixed order). */
double leap_optimizer_grad_norm(const leap_optimizer *opt);
/* One update with learning rate lr: clips by the global norm when configured, then updates every trainable
 * parameter. Returns the gradient norm before clipping. Does not zero the gradients. */
double leap_optimizer_step(leap_optimizer *opt, float lr);

#endif
