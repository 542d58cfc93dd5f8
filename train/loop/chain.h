/* A chain of nets trained or evaluated as one model: a pipeline stage is a chain of one net; the end-to-end model
 * and pipeline+finetune are chains of several, each net reading data fields and earlier nets' outputs. The nets
 * belong to the caller; the chain only says how they connect: which data fields it is fed, where each net's inputs
 * come from, and which field the last net's output is trained on. */
#ifndef LEAP_TRAIN_LOOP_CHAIN_H
#define LEAP_TRAIN_LOOP_CHAIN_H

#include "models/net.h"
#include "train/config/run_config.h"

#define LEAP_CHAIN_MAX_INPUTS 4
/* A net input fed by the output of net j (an earlier net of the chain), as a leap_chain source. */
#define LEAP_CHAIN_FROM_NET(j) (-1 - (j))

typedef struct leap_chain {
  char name[LEAP_CFG_NAME];          /* "e2e", "pipeline.perceive", "pipeline+finetune" */
  int n_nets;
  leap_net *nets[LEAP_CFG_MAX_STAGES];
  int n_inputs;                      /* the data fields fed to the chain, in order */
  char inputs[LEAP_CHAIN_MAX_INPUTS][LEAP_CFG_NAME];
  /* Net k's input i (in the net's input order) is chain input sources[k][i] when >= 0, else the output of net j
   * for sources[k][i] == LEAP_CHAIN_FROM_NET(j), j < k. */
  int sources[LEAP_CFG_MAX_STAGES][LEAP_NET_MAX_INPUTS];
  char target[LEAP_CFG_NAME];        /* the field the output is compared with */
  leap_loss_kind loss;
  leap_params *params;               /* every parameter of the nets (what the optimizer trains) */
  leap_dtype act;                    /* the activations of the passes leap_chain_predict makes: LEAP_F32 (zero, the
                                      * default) or LEAP_BF16 on CUDA (train.precision, leap_run_config_act) */
} leap_chain;

/* The index of field among the chain's inputs, or -1. */
int leap_chain_input_index(const leap_chain *chain, const char *field);
/* xs: one tensor per chain input, in order -> the last net's output. f32 inputs enter a bf16 pass (ctx->act) through
 * a cast; integer inputs are taken as they are. */
leap_tensor *leap_chain_forward(const leap_chain *chain, leap_ctx *ctx, leap_tensor *const *xs);
/* The chain's loss on one batch: MSE against f32 targets (in fp32: a bf16 prediction is cast up, so that the targets
 * keep their precision) or cross-entropy against i32 targets. */
leap_tensor *leap_chain_loss(const leap_chain *chain, leap_ctx *ctx, leap_tensor *const *xs, leap_tensor *target);

/* A whole array on the host (a field read from a file, or a chain's predictions). */
typedef struct leap_host_array {
  leap_dtype dtype; /* f32 or i32 */
  int ndim;
  int64_t shape[LEAP_MAX_DIMS];
  void *data;       /* owned */
} leap_host_array;

void leap_host_array_free(leap_host_array *a);
/* Reads every sample of a field of a group, prepared as the config says (normalised images, NHWC). */
leap_status leap_read_field(const leap_run_config *cfg, const char *group, const char *field, leap_host_array *out,
                            leap_error *err);
/* Runs the chain in no-grad eval mode, in chain->act, over inputs (chain->n_inputs arrays of the same N, in the
 * chain's input order) in batches of `batch`, returning its outputs (N, ...) as f32. */
leap_status leap_chain_predict(leap_runtime *rt, const leap_chain *chain, const leap_host_array *inputs,
                               int64_t batch, leap_host_array *out, leap_error *err);

#endif
