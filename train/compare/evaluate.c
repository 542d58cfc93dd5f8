/* Evaluation on the test group: one chain's metrics, and the pipeline's stages fed the true inputs and fed the
 * previous stage's predictions, so that the report shows the error each hand-off adds. */
#include <stdio.h>
#include <string.h>

#include "train/compare/compare_internal.h"

leap_status leap__compare_eval_chain(leap_runtime *rt, const leap_task *task, leap_compare_fields *test,
                                     const leap_chain *chain, int64_t batch, leap_metrics *metrics,
                                     leap_host_array *pred, leap_error *err) {
  const leap_host_array *input, *truth;
  if (leap__compare_fields_get(test, chain->input, &input, err) ||
      leap__compare_fields_get(test, chain->target, &truth, err))
    return err->status;
  leap_host_array out;
  if (leap_chain_predict(rt, chain, input, batch, &out, err)) return err->status;
  leap_status st = leap_task_metrics(task, chain->target, &out, truth, metrics, err);
  if (st == LEAP_OK && pred) *pred = out;
  else leap_host_array_free(&out);
  return st;
}

/* Stage k's metrics fed `input` (its predictions returned in pred). */
static leap_status eval_stage(leap_runtime *rt, const leap_task *task, const leap_chain *stage,
                              const leap_host_array *input, const leap_host_array *truth, int64_t batch,
                              leap_metrics *metrics, leap_host_array *pred, leap_error *err) {
  if (leap_chain_predict(rt, stage, input, batch, pred, err)) return err->status;
  if (leap_task_metrics(task, stage->target, pred, truth, metrics, err)) {
    leap_host_array_free(pred);
    return err->status;
  }
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
    const leap_host_array *input, *truth;
    snprintf(out[k].name, sizeof out[k].name, "%s", strchr(s->name, '.') ? strchr(s->name, '.') + 1 : s->name);
    snprintf(out[k].target, sizeof out[k].target, "%s", s->target);
    if ((st = leap__compare_fields_get(test, s->input, &input, err)) ||
        (st = leap__compare_fields_get(test, s->target, &truth, err)))
      break;
    leap_host_array pred_true = {0}, pred_chained = {0};
    st = eval_stage(rt, task, s, input, truth, batch, &out[k].metrics_true_input, &pred_true, err);
    if (st == LEAP_OK && k == 0) {
      /* The first stage's input is the pipeline's input: chained and true are the same run. */
      out[k].metrics_chained = out[k].metrics_true_input;
      pred_chained = pred_true;
      pred_true.data = NULL;
    } else if (st == LEAP_OK) {
      st = eval_stage(rt, task, s, &chained, truth, batch, &out[k].metrics_chained, &pred_chained, err);
    }
    leap_host_array_free(&pred_true);
    leap_host_array_free(&chained);
    chained = pred_chained;
    if (st == LEAP_OK && k + 1 < n_stages) {
      const leap_host_array *next_input;
      if (hook) hook(&chained, k, hook_user);
      st = leap__compare_fields_get(test, stages[k + 1]->input, &next_input, err);
      if (st == LEAP_OK) st = leap__compare_handoff(&chained, next_input, s->target, err);
    }
  }
  if (st == LEAP_OK && final_pred) *final_pred = chained;
  else leap_host_array_free(&chained);
  return st;
}
