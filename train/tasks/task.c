/* The task registry and what every task shares: metric dispatch by field, the headline, the generic picture. */
#include "train/tasks/task.h"

#include <stdio.h>
#include <string.h>

#include "train/tasks/svg.h"
#include "train/tasks/task_internal.h"

static const leap_metric_def vqa_answer_metrics[2] = {
    {"accuracy", "answer accuracy", true, 1.0, true},
    {"token_accuracy", "answer token accuracy", true, 1.0, true},
};

static const leap_task_field vqa_fields[2] = {
    {"answer", 2, vqa_answer_metrics, leap__task_generic_i32_compute},
    {"scene", 2, leap__task_generic_i32_metrics, leap__task_generic_i32_compute},
};

const leap_task leap__vqa_task = {"vqa", "accuracy", "accuracy", 2, vqa_fields, NULL};

static const leap_task generic_task = {"generic", NULL, NULL, 0, NULL, NULL};

static const leap_task *const registry[] = {&leap__robot_task, &leap__vqa_task};

const leap_task *leap_task_find(const char *name) {
  for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
    if (!strcmp(registry[i]->name, name)) return registry[i];
  return &generic_task;
}

/* The task's own entry for field, or NULL. */
static const leap_task_field *find_field(const leap_task *task, const char *field) {
  for (int i = 0; i < task->n_fields; i++)
    if (!strcmp(task->fields[i].field, field)) return &task->fields[i];
  return NULL;
}

const leap_metric_def *leap_task_metric_defs(const leap_task *task, const char *field, leap_dtype truth_dtype, int *n) {
  const leap_task_field *f = find_field(task, field);
  if (f) {
    *n = f->n_metrics;
    return f->metrics;
  }
  *n = 2;
  return truth_dtype == LEAP_I32 ? leap__task_generic_i32_metrics : leap__task_generic_f32_metrics;
}

const leap_metric_def *leap_task_headline(const leap_task *task, const char *field, leap_dtype truth_dtype) {
  int n = 0;
  const leap_metric_def *defs = leap_task_metric_defs(task, field, truth_dtype, &n);
  for (int i = 0; task->headline && find_field(task, field) && i < n; i++)
    if (!strcmp(defs[i].name, task->headline)) return &defs[i];
  return &defs[0];
}

leap_status leap_task_metrics(const leap_task *task, const char *field, const leap_host_array *pred,
                              const leap_host_array *truth, leap_metrics *out, leap_error *err) {
  memset(out, 0, sizeof *out);
  const leap_task_field *f = find_field(task, field);
  leap_metric_fn compute = leap__task_generic_f32_compute;
  if (f) compute = f->compute;
  else if (truth->dtype == LEAP_I32) compute = leap__task_generic_i32_compute;
  int n = 0;
  const leap_metric_def *defs = leap_task_metric_defs(task, field, truth->dtype, &n);
  leap_status st = compute(out->values, pred, truth, field, err);
  if (st != LEAP_OK) return st;
  out->n = n;
  for (int i = 0; i < n; i++) out->defs[i] = &defs[i];
  return LEAP_OK;
}

const char *leap_task_pred_colour(int i) {
  static const char *const palette[] = {"#ff5a36", "#36a2ff", "#ffd12e", "#3ddc84", "#c77dff", "#ff8fc7"};
  return palette[(unsigned)i % (sizeof palette / sizeof palette[0])];
}

/* Up to 8 values as text, e.g. "0.12 -0.5 3". */
static void values_text(char *text, size_t size, const char *label, const float *v, int64_t n) {
  int used = snprintf(text, size, "%s:", label);
  for (int64_t i = 0; i < n && i < 8 && used > 0 && (size_t)used < size; i++)
    used += snprintf(text + used, size - (size_t)used, " %.3g", v[i]);
  if (n > 8 && used > 0 && (size_t)used < size) snprintf(text + used, size - (size_t)used, " ...");
}

/* The generic picture: the input image when there is one, then truth and each prediction as text. */
static void generic_render(leap_strbuf *svg, const leap_task_example *ex) {
  const double width = 96, line = 5.0;
  double image_h = ex->image ? width * ex->height / (ex->width ? ex->width : 1) : 0;
  double height = image_h + line * (ex->n_preds + 2) + 1;
  leap_svg_begin(svg, 3 * width, 3 * height, 0, 0, width, height);
  leap_svg_rect(svg, 0, 0, width, height, "#222", "none", 0);
  if (ex->image) leap_svg_image(svg, 0, 0, width, image_h, ex->image, ex->height, ex->width, ex->channels);
  char text[256];
  snprintf(text, sizeof text, "test sample %lld, %s", (long long)ex->index, ex->field);
  leap_svg_text(svg, 1, image_h + line - 1.2, text, 3.4, "start", "#fff");
  values_text(text, sizeof text, "truth", ex->truth, ex->n_values);
  leap_svg_text(svg, 1, image_h + 2 * line - 1.2, text, 3.4, "start", "#fff");
  for (int i = 0; i < ex->n_preds; i++) {
    values_text(text, sizeof text, ex->pred_labels[i], ex->preds[i], ex->n_values);
    leap_svg_text(svg, 1, image_h + line * (i + 3) - 1.2, text, 3.4, "start", leap_task_pred_colour(i));
  }
  leap_svg_end(svg);
}

void leap_task_render_example(const leap_task *task, leap_strbuf *svg, const leap_task_example *example) {
  (task->render ? task->render : generic_render)(svg, example);
}
