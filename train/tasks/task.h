/* Tasks: what a comparison measures and how it shows it, by task name (the config's `task`).
 *
 * A task names metrics per target field: robot judges `joints` (the final target) by reach error, wrist error and
 * grasp success, and `pose` (the perceive stage's target) by position and heading error. A field a task does not
 * know (and every field of an unknown task) gets the generic metrics of its dtype: mse and mae for f32 targets,
 * exact match and token accuracy for i32 targets. The headline metric is the one the task names (robot:
 * grasp_success), else the first metric of the final target.
 *
 * The baseline is the prediction that knows nothing about the input: the training set's mean target for f32
 * targets (mean predictor), the most common training answer for i32 targets. A task may also draw a test example
 * as SVG (robot: the picture, the can, and the arm at the true and at each predicted set of joints). */
#ifndef LEAP_TRAIN_TASKS_TASK_H
#define LEAP_TRAIN_TASKS_TASK_H

#include <stdbool.h>

#include "train/loop/chain.h"
#include "train/tasks/strbuf.h"

#define LEAP_TASK_MAX_METRICS 4
#define LEAP_TASK_MAX_PREDS 4

typedef struct leap_metric_def {
  const char *name;      /* key in report.json, e.g. "reach_error_px" */
  const char *label;     /* for tables and plots, e.g. "reach error (px)" */
  bool higher_is_better;
  double ideal;          /* a perfect prediction's value: 0 for errors, 1 for rates */
  bool is_rate;          /* a fraction in [0, 1], shown as a percentage */
} leap_metric_def;

/* Metric values, each with its definition (static, never freed). */
typedef struct leap_metrics {
  int n;
  const leap_metric_def *defs[LEAP_TASK_MAX_METRICS];
  double values[LEAP_TASK_MAX_METRICS];
} leap_metrics;

/* Computes values (one per metric of the field) from predictions and truth of the same field. Predictions are the
 * net's outputs: f32 values, or for i32 targets either i32 tokens or f32 logits with one more (class) dim. */
typedef leap_status (*leap_metric_fn)(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                      const char *field, leap_error *err);

typedef struct leap_task_field {
  const char *field;
  int n_metrics;
  const leap_metric_def *metrics;
  leap_metric_fn compute;
} leap_task_field;

/* One test sample drawn with its truth and each mode's prediction of the final target. */
typedef struct leap_task_example {
  int64_t index;                          /* the sample's index in the test group */
  const uint8_t *image;                   /* the input picture (height, width, channels) u8, or NULL */
  int height, width, channels;
  const char *field;                      /* the final target's name */
  int64_t n_values;                       /* values per sample of the final target */
  const float *truth;                     /* (n_values); i32 targets as floats */
  int n_preds;
  const char *pred_labels[LEAP_TASK_MAX_PREDS]; /* "e2e", "pipeline", ... */
  const float *preds[LEAP_TASK_MAX_PREDS];      /* (n_values) each, decoded like truth */
} leap_task_example;

typedef void (*leap_task_render_fn)(leap_strbuf *svg, const leap_task_example *example);

typedef struct leap_task {
  const char *name;
  const char *headline;       /* the metric of the final target that decides (first of the field's when NULL) */
  const char *success_metric; /* the metric reported as success_rate, or NULL */
  int n_fields;
  const leap_task_field *fields;
  leap_task_render_fn render; /* NULL: the generic picture (the image and the values as text) */
} leap_task;

/* The task of that name; unknown names get the generic task (name "generic": dtype-based metrics only). */
const leap_task *leap_task_find(const char *name);

/* The metrics field is judged by (the task's, or the generic ones of its dtype). n is set to their count. */
const leap_metric_def *leap_task_metric_defs(const leap_task *task, const char *field, leap_dtype truth_dtype, int *n);

/* The headline metric of a final target field. */
const leap_metric_def *leap_task_headline(const leap_task *task, const char *field, leap_dtype truth_dtype);

/* Every metric of field on these predictions. Shapes that do not fit (another sample count, another width) are
 * LEAP_ERR_SHAPE naming the field. */
leap_status leap_task_metrics(const leap_task *task, const char *field, const leap_host_array *pred,
                              const leap_host_array *truth, leap_metrics *out, leap_error *err);

/* The value of the named metric, NAN when absent. */
double leap_metrics_get(const leap_metrics *m, const char *name);

/* The baseline's prediction for n test samples from the training targets: every row the column-wise mean (f32,
 * name "mean_predictor") or the most frequent row, ties going to the smallest (i32, "most_common_answer").
 * out is allocated with truth's per-sample shape. */
leap_status leap_task_baseline(leap_host_array *out, const char **name, const leap_host_array *train_truth, int64_t n,
                               leap_error *err);

/* Predictions as they are compared with truth: for i32 truth and f32 logits, the argmax over the class dim (i32);
 * otherwise a copy. */
leap_status leap_task_decode(leap_host_array *out, const leap_host_array *pred, const leap_host_array *truth,
                             const char *field, leap_error *err);

/* Appends one <svg> of the example. */
void leap_task_render_example(const leap_task *task, leap_strbuf *svg, const leap_task_example *example);

/* Colours used for prediction i in pictures and plots (a fixed palette). */
const char *leap_task_pred_colour(int i);

#endif
