/* Evaluation on the test group: one chain's metrics, and the pipeline's stages fed the true inputs and fed the
 * previous stage's predictions, so that the report shows the error each hand-off adds. */
#include <stdio.h>
#include <string.h>

#include "train/compare/compare_internal.h"

/* The test arrays of the chain's inputs, in its order (shallow copies of the cached arrays); the input named
 * `replace` (when not NULL) is `with` instead. */
static leap_status chain_inputs(leap_compare_fields *test, const leap_chain *chain, const char *replace,
                                const leap_host_array *with, leap_host_array *inputs, leap_error *err) {
  for (int i = 0; i < chain->n_inputs; i++) {
    const leap_host_array *a;
    if (replace && !strcmp(chain->inputs[i], replace)) a = with;
    else if (leap__compare_fields_get(test, chain->inputs[i], &a, err)) return err->status;
    inputs[i] = *a;
  }
  return LEAP_OK;
}

leap_status leap__compare_eval_chain(leap_runtime *rt, const leap_task *task, leap_compare_fields *test,
                                     const leap_chain *chain, int64_t batch, leap_metrics *metrics,
                                     leap_host_array *pred, leap_error *err) {
  leap_host_array inputs[LEAP_CHAIN_MAX_INPUTS];
  const leap_host_array *truth;
  if (chain_inputs(test, chain, NULL, NULL, inputs, err) ||
      leap__compare_fields_get(test, chain->target, &truth, err))
    return err->status;
  leap_host_array out;
  if (leap_chain_predict(rt, chain, inputs, batch, &out, err)) return err->status;
  leap_status st = leap_task_metrics(task, chain->target, &out, truth, metrics, err);
  if (st == LEAP_OK && pred) *pred = out;
  else leap_host_array_free(&out);
  return st;
}

/* Stage k's metrics fed `inputs` (its predictions returned in pred). */
static leap_status eval_stage(leap_runtime *rt, const leap_task *task, const leap_chain *stage,
                              const leap_host_array *inputs, const leap_host_array *truth, int64_t batch,
                              leap_metrics *metrics, leap_host_array *pred, leap_error *err) {
  if (leap_chain_predict(rt, stage, inputs, batch, pred, err)) return err->status;
  if (leap_task_metrics(task, stage->target, pred, truth, metrics, err)) {
    leap_host_array_free(pred);
    return err->status;
  }
  return LEAP_OK;
}

/* Stage k evaluated fed the true inputs and, after the first stage, the previous stage's chained predictions
 * (`chained`, already in the form of the previous stage's target field) in place of that field; *pred_chained
 * gets this stage's chained predictions. */
static leap_status eval_both(leap_runtime *rt, const leap_task *task, leap_compare_fields *test,
                             const leap_chain *const *stages, int k, int64_t batch, const leap_host_array *chained,
                             leap_compare_stage *out, leap_host_array *pred_chained, leap_error *err) {
  const leap_chain *s = stages[k];
  leap_host_array inputs[LEAP_CHAIN_MAX_INPUTS], pred_true = {0};
  const leap_host_array *truth;
  if (chain_inputs(test, s, NULL, NULL, inputs, err) || leap__compare_fields_get(test, s->target, &truth, err) ||
      eval_stage(rt, task, s, inputs, truth, batch, &out->metrics_true_input, &pred_true, err))
    return err->status;
  if (k == 0) {
    /* The first stage's input is the pipeline's input: chained and true are the same run. */
    out->metrics_chained = out->metrics_true_input;
    *pred_chained = pred_true;
    return LEAP_OK;
  }
  leap_host_array_free(&pred_true);
  if (chain_inputs(test, s, stages[k - 1]->target, chained, inputs, err) ||
      eval_stage(rt, task, s, inputs, truth, batch, &out->metrics_chained, pred_chained, err))
    return err->status;
  return LEAP_OK;
}

leap_status leap__compare_eval_pipeline(leap_runtime *rt, const leap_task *task, leap_compare_fields *test,
                                        const leap_chain *const *stages, int n_stages, int64_t batch,
                                        leap_compare_handoff_fn hook, void *hook_user, leap_compare_stage *out,
                                        leap_host_array *final_pred, leap_error *err) {
  leap_host_array chained = {0}; /* the previous stage's chained predictions, made fit for this stage's input */
  leap_status st = LEAP_OK;
  for (int k = 0; k < n_stages && st == LEAP_OK; k++) {
    const leap_chain *s = stages[k];
    snprintf(out[k].name, sizeof out[k].name, "%s", strchr(s->name, '.') ? strchr(s->name, '.') + 1 : s->name);
    snprintf(out[k].target, sizeof out[k].target, "%s", s->target);
    leap_host_array pred = {0};
    st = eval_both(rt, task, test, stages, k, batch, &chained, &out[k], &pred, err);
    leap_host_array_free(&chained);
    chained = pred;
    if (st == LEAP_OK && k + 1 < n_stages) {
      const leap_host_array *template;
      if (hook) hook(&chained, k, hook_user);
      st = leap__compare_fields_get(test, s->target, &template, err);
      if (st == LEAP_OK) st = leap__compare_handoff(&chained, template, s->target, err);
    }
  }
  if (st == LEAP_OK && final_pred) *final_pred = chained;
  else leap_host_array_free(&chained);
  return st;
}
