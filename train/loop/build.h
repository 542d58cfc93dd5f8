/* Chains built from a run configuration, and what building and evaluating them needs from the data file: the
 * per-sample shape of a field, the width of a target, a chain's mean loss over host arrays.
 *
 * A pipeline stage is a chain of one net with parameters "<stage>.*"; the end-to-end model is either the explicit
 * e2e network ("e2e.*") or the stages' nets composed through a learned interface, with the same parameter names as
 * the stages, so that pipeline+finetune can start from the pipeline's trained weights. */
#ifndef LEAP_TRAIN_LOOP_BUILD_H
#define LEAP_TRAIN_LOOP_BUILD_H

#include "data/hdf5/loader.h"
#include "train/loop/chain.h"

/* A chain with the nets and parameters it owns. chain points into the struct itself: build it in place and never
 * copy or move it. */
typedef struct leap_chain_model {
  leap_chain chain;
  leap_params params;
  leap_net nets[LEAP_CFG_MAX_STAGES];
} leap_chain_model;

/* Stage `stage` of cfg alone: inputs its input fields (in its network's input order), target its output, named
 * "pipeline.<stage>". */
leap_status leap_chain_build_stage(leap_chain_model *m, const leap_run_config *cfg, int stage, leap_device device,
                                   leap_error *err);
/* The end-to-end model: cfg->e2e_network when cfg->e2e_has_network (fed the fields its named inputs name, else the
 * first stage's first input), else the stages composed through cfg->e2e_interface features (0: each intermediate
 * field's width). Named "e2e". */
leap_status leap_chain_build_e2e(leap_chain_model *m, const leap_run_config *cfg, leap_device device,
                                 leap_error *err);
/* Every stage of cfg composed into one chain, stage k's net feeding the nets that read stage k's output field
 * through `interface` features instead (0: the width of stage k's output, a field's values or an i32 field's
 * vocab, which makes the parameters interchangeable with the stages' own: an embedding then takes the scores).
 * Inputs that no earlier stage produces are the chain's inputs, in the order the nets first read them. */
leap_status leap_chain_build_composed(leap_chain_model *m, const leap_run_config *cfg, int64_t interface,
                                      const char *name, leap_device device, leap_error *err);
void leap_chain_model_free(leap_chain_model *m);

/* How the loader delivers `field` of cfg: its data.fields entry (dtype, normalisation, layout), with integer
 * targets of a cross-entropy stage always i32. The spec's dataset points at `field`. */
leap_field_spec leap_field_spec_for(const leap_run_config *cfg, const char *field);
/* Per-sample dims of a field as delivered (without N; NCHW images reported as (H,W,C)), from the file's group. */
leap_status leap_field_sample_shape(const leap_run_config *cfg, const char *group, const char *field, int *ndim,
                                    int64_t *shape, leap_error *err);
/* The width a net must produce to be compared with `field`: its per-sample element count for MSE; for
 * cross-entropy the number of classes: data.fields.<field>.vocab, else the dataset's, group's or file's
 * "vocab_size"/"num_classes"/"n_classes" attribute, else the largest label of the training group + 1. */
leap_status leap_field_out_dim(const leap_run_config *cfg, const char *field, leap_loss_kind loss, int64_t *out_dim,
                               leap_error *err);

/* Reads at most max_n samples (0: all) of a group's field, in file order. */
leap_status leap_read_field_n(const leap_run_config *cfg, const char *group, const char *field, int64_t max_n,
                              leap_host_array *out, leap_error *err);
/* Rows [begin, end) of a host array as a context tensor (valid until the next begin_step). */
leap_tensor *leap_host_array_rows(leap_ctx *ctx, const leap_host_array *a, int64_t begin, int64_t end);

/* The chain's loss over every sample of inputs (chain->n_inputs arrays) and targets, in no-grad eval mode, in batches of `batch`, averaged over
 * batches weighted by their sample counts. Runs in ctx (its arenas are reset; its grad and training modes are
 * restored). */
leap_status leap_chain_eval_loss(leap_ctx *ctx, const leap_chain *chain, const leap_host_array *inputs,
                                 const leap_host_array *targets, int64_t batch, double *loss, leap_error *err);

#endif
