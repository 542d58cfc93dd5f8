/* Training the three modes with the same batch and the same number of optimizer steps per network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/compare/compare_internal.h"

static leap_status alloc_model(leap_chain_model **m, leap_error *err) {
  *m = calloc(1, sizeof **m);
  return *m ? LEAP_OK : leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for a model");
}

void leap__compare_model_destroy(leap_chain_model *m) {
  if (!m) return;
  leap_chain_model_free(m);
  free(m);
}

/* Trains one chain for `steps` steps with cfg (the run's, or the finetune's); its figures go to t.
 * run_dir/<chain name> holds its run when run_dir is set. */
static leap_status train_chain(leap_compare_session *s, const leap_run_config *cfg, const leap_chain *chain,
                               int64_t steps, double fraction, const char *run_dir, leap_compare_training *t,
                               leap_error *err) {
  char dir[LEAP_CFG_PATH + LEAP_CFG_NAME + 2];
  if (run_dir) snprintf(dir, sizeof dir, "%s/%s", run_dir, chain->name);
  leap_train_options o = {.steps = steps, .fraction = fraction, .run_dir = run_dir ? dir : NULL,
                          .label = chain->name, .quiet = s->options->quiet};
  leap_train_result *r = calloc(1, sizeof *r);
  if (!r) return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for a training result");
  if (!s->options->quiet)
    printf("compare: training %s (%lld steps, batch %lld, %.0f%% of the training data)\n", chain->name,
           (long long)steps, (long long)cfg->train.batch, 100 * fraction);
  fflush(stdout);
  leap_status st = leap_train_chain(cfg, s->rt, chain, &o, r, err);
  if (st == LEAP_OK) st = leap__compare_training_from(t, r, 0, err);
  free(r);
  return st;
}

leap_status leap__compare_train_e2e(leap_compare_session *s, double fraction, const char *run_dir,
                                    leap_chain_model **model, leap_compare_training *t, leap_error *err) {
  if (alloc_model(model, err)) return err->status;
  if (leap_chain_build_e2e(*model, s->cfg, s->rt->device, err) ||
      train_chain(s, s->cfg, &(*model)->chain, s->cfg->train.steps, fraction, run_dir, t, err)) {
    leap__compare_model_destroy(*model);
    *model = NULL;
    return err->status;
  }
  return LEAP_OK;
}

leap_status leap__compare_train_pipeline(leap_compare_session *s, double fraction, const char *run_dir,
                                         leap_chain_model **stages, leap_compare_stage *stage_out, leap_error *err) {
  for (int k = 0; k < s->cfg->n_stages; k++) {
    if (alloc_model(&stages[k], err)) return err->status;
    if (leap_chain_build_stage(stages[k], s->cfg, k, s->rt->device, err)) {
      free(stages[k]);
      stages[k] = NULL;
      return err->status;
    }
    snprintf(stage_out[k].name, sizeof stage_out[k].name, "%s", s->cfg->stages[k].name);
    snprintf(stage_out[k].target, sizeof stage_out[k].target, "%s", s->cfg->stages[k].output);
    stage_out[k].params = leap_params_numel(&stages[k]->params);
    if (train_chain(s, s->cfg, &stages[k]->chain, s->cfg->train.steps, fraction, run_dir, &stage_out[k].training,
                    err))
      return err->status;
  }
  return LEAP_OK;
}

/* dst's tensor `name` in the first source that has it, or NULL. */
static leap_tensor *find_source(leap_chain_model *const *sources, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    leap_param *p = leap_params_find(&sources[i]->params, name);
    if (p) return p->tensor;
  }
  return NULL;
}

leap_status leap__compare_copy_weights(leap_params *dst, leap_chain_model *const *sources, int n, leap_error *err) {
  for (int i = 0; i < dst->count; i++) {
    leap_tensor *d = dst->items[i].tensor, *src = find_source(sources, n, d->name);
    if (!src || !leap_tensor_same_shape(src, d) || src->dtype != d->dtype)
      return leap_error_set(err, LEAP_ERR_SHAPE, "compare: the trained stages have no tensor '%s' of the joint "
                            "model's shape", d->name);
    leap_tensor_copy(d, src);
  }
  return LEAP_OK;
}

/* The run's config with the finetune's peak learning rate (the decay still ends at min_lr, or at that rate when it
 * is lower): trained networks are moved gently, since Adam steps every weight by about the learning rate. */
static leap_run_config *finetune_config(const leap_run_config *cfg, leap_error *err) {
  leap_run_config *ft = malloc(sizeof *ft);
  if (!ft) {
    leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for the finetune's config");
    return NULL;
  }
  *ft = *cfg;
  if (cfg->compare.finetune_lr > 0) ft->train.schedule.base_lr = cfg->compare.finetune_lr;
  if (ft->train.schedule.min_lr > ft->train.schedule.base_lr) ft->train.schedule.min_lr = ft->train.schedule.base_lr;
  return ft;
}

leap_status leap__compare_train_finetune(leap_compare_session *s, double fraction, const char *run_dir,
                                         leap_chain_model *const *stages, leap_chain_model **model,
                                         leap_compare_training *t, leap_error *err) {
  int64_t steps = s->cfg->compare.finetune_steps > 0 ? s->cfg->compare.finetune_steps : s->cfg->train.steps / 4;
  if (steps < 1) steps = 1;
  leap_run_config *ft = finetune_config(s->cfg, err);
  if (!ft) return err->status;
  leap_status st = alloc_model(model, err);
  /* Interface 0: each stage keeps its output width, so the stages' trained weights fit the joint model. */
  if (st == LEAP_OK &&
      ((st = leap_chain_build_composed(*model, s->cfg, 0, leap_compare_mode_name(LEAP_MODE_FINETUNE), s->rt->device,
                                       err)) ||
       (st = leap__compare_copy_weights(&(*model)->params, stages, s->cfg->n_stages, err)) ||
       (st = train_chain(s, ft, &(*model)->chain, steps, fraction, run_dir, t, err)))) {
    leap__compare_model_destroy(*model);
    *model = NULL;
  }
  free(ft);
  return st;
}
