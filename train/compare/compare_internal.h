/* What the comparison's files share (internal: leap__ names). */
#ifndef LEAP_TRAIN_COMPARE_COMPARE_INTERNAL_H
#define LEAP_TRAIN_COMPARE_COMPARE_INTERNAL_H

#include "train/compare/compare.h"
#include "train/loop/build.h"
#include "train/loop/trainer.h"

/* A metric value for tables: rates as percentages ("91.2%"), others with 3 or 4 significant digits; "-" for NaN. */
void leap__compare_format_value(char *buf, size_t size, const leap_metric_def *def, double v);
/* A count with thousands grouped ("1 234 567"). */
void leap__compare_format_count(char *buf, size_t size, int64_t n);

/* Copies a training result's figures and curve (steps shifted by step_offset) into t. */
leap_status leap__compare_training_from(leap_compare_training *t, const leap_train_result *r, double step_offset,
                                        leap_error *err);
/* t += add: steps, samples, seconds; add's curve appended with its steps shifted by t's steps before the add. */
leap_status leap__compare_training_add(leap_compare_training *t, const leap_compare_training *add, leap_error *err);
void leap__compare_training_free(leap_compare_training *t);

/* Test-group arrays by field name, each read once. */
#define LEAP_COMPARE_MAX_FIELDS 8
typedef struct leap_compare_fields {
  const leap_run_config *cfg;
  const char *group;
  int n;
  char names[LEAP_COMPARE_MAX_FIELDS][LEAP_CFG_NAME];
  leap_host_array arrays[LEAP_COMPARE_MAX_FIELDS];
} leap_compare_fields;

void leap__compare_fields_init(leap_compare_fields *f, const leap_run_config *cfg, const char *group);
/* The field's array (read on first use). */
leap_status leap__compare_fields_get(leap_compare_fields *f, const char *name, const leap_host_array **out,
                                     leap_error *err);
void leap__compare_fields_free(leap_compare_fields *f);

/* Stage k's predictions of `field` made fit for stage k+1's input of that field in place: logits of an i32 field
 * become tokens (greedy: the argmax at each position); values stay values. template is the field's true array (its
 * dtype and per-sample shape). */
leap_status leap__compare_handoff(leap_host_array *pred, const leap_host_array *template, const char *field,
                                  leap_error *err);

/* The pipeline's evaluation on the test group: stage k fed the true inputs and fed stage k-1's (chained)
 * predictions in place of stage k-1's output field (its other inputs stay true), the hook applied between stages; the last stage's chained predictions are the pipeline's
 * (returned in final_pred when not NULL). */
leap_status leap__compare_eval_pipeline(leap_runtime *rt, const leap_task *task, leap_compare_fields *test,
                                        const leap_chain *const *stages, int n_stages, int64_t batch,
                                        leap_compare_handoff_fn hook, void *hook_user, leap_compare_stage *out,
                                        leap_host_array *final_pred, leap_error *err);
/* One chain's metrics on the test group (its input to its target); predictions in pred when not NULL. */
leap_status leap__compare_eval_chain(leap_runtime *rt, const leap_task *task, leap_compare_fields *test,
                                     const leap_chain *chain, int64_t batch, leap_metrics *metrics,
                                     leap_host_array *pred, leap_error *err);

/* Median milliseconds per sample at batch 1 over n_samples test samples (after a warm-up), and samples per second
 * at batch `batch`, through the chains in order with each hand-off through the host as the pipeline does it. */
leap_status leap__compare_latency(leap_runtime *rt, const leap_chain *const *chains, int n_chains,
                                  leap_compare_fields *test, int n_samples, int64_t batch, double *latency_ms,
                                  double *throughput, leap_error *err);

/* One comparison in progress: what every step of it needs. */
typedef struct leap_compare_session {
  const leap_run_config *cfg;
  leap_runtime *rt;
  const leap_compare_options *options;
  const leap_task *task;
  leap_compare_fields test;
  int64_t eval_batch;
} leap_compare_session;

/* Training each mode on the first `fraction` of the training data. run_dir: where the network's run directory goes
 * (NULL: nothing written). Models are allocated (chains point into themselves) and freed with
 * leap__compare_model_destroy. */
leap_status leap__compare_train_e2e(leap_compare_session *s, double fraction, const char *run_dir,
                                    leap_chain_model **model, leap_compare_training *t, leap_error *err);
/* stages[k] (cfg->n_stages of them) trained on their own targets; each stage's figures in stage_out[k]. */
leap_status leap__compare_train_pipeline(leap_compare_session *s, double fraction, const char *run_dir,
                                         leap_chain_model **stages, leap_compare_stage *stage_out, leap_error *err);
/* The stages composed, starting from the trained stages' weights, trained jointly for the finetune steps. */
leap_status leap__compare_train_finetune(leap_compare_session *s, double fraction, const char *run_dir,
                                         leap_chain_model *const *stages, leap_chain_model **model,
                                         leap_compare_training *t, leap_error *err);
void leap__compare_model_destroy(leap_chain_model *m);
/* Copies every parameter and buffer of dst that one of the n sources holds under the same name; a tensor of dst
 * none of them holds, or one of another shape, is an error naming it. */
leap_status leap__compare_copy_weights(leap_params *dst, leap_chain_model *const *sources, int n, leap_error *err);

/* The report's tables as Markdown (html false) or HTML. */
void leap__compare_tables(leap_strbuf *sb, const leap_compare_result *res, bool html);

/* SVG charts for report.html. */
typedef struct leap_plot_series {
  const char *label, *colour;
  int n;
  const double *xs, *ys;
} leap_plot_series;
void leap__plot_lines(leap_strbuf *sb, const char *title, const char *x_label, const char *y_label, bool log_y,
                      const leap_plot_series *series, int n_series);
void leap__plot_bars(leap_strbuf *sb, const char *title, const char *unit, const char *const *labels,
                     const double *values, int n);

#endif
