/* The comparison's result: mode names, margins, formatting, training figures and freeing; the test-group field
 * cache and the hand-off between stages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/compare/compare_internal.h"

const char *leap_compare_mode_name(int mode) {
  static const char *const names[LEAP_COMPARE_N_MODES] = {"e2e", "pipeline", "pipeline+finetune"};
  return mode >= 0 && mode < LEAP_COMPARE_N_MODES ? names[mode] : "?";
}

leap_compare_margin leap_compare_margin_of(const leap_metric_def *def, double value, double baseline) {
  leap_compare_margin m;
  m.difference = value - baseline;
  m.ratio = baseline != 0 ? value / baseline : NAN;
  m.gap_closed = def->ideal != baseline ? (value - baseline) / (def->ideal - baseline) : NAN;
  return m;
}

void leap__compare_format_value(char *buf, size_t size, const leap_metric_def *def, double v) {
  if (!isfinite(v)) snprintf(buf, size, "-");
  else if (def && def->is_rate) snprintf(buf, size, "%.1f%%", 100 * v);
  else if (fabs(v) >= 100) snprintf(buf, size, "%.0f", v);
  else snprintf(buf, size, "%.3g", v);
}

void leap__compare_format_count(char *buf, size_t size, int64_t n) {
  char digits[32];
  snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
  size_t len = strlen(digits), o = 0;
  if (n < 0 && o + 1 < size) buf[o++] = '-';
  for (size_t i = 0; i < len && o + 2 < size; i++) {
    if (i && (len - i) % 3 == 0) buf[o++] = ' ';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
}

/* Appends n points to a curve, shifting their steps. */
static leap_status curve_append(leap_compare_curve *c, const double (*points)[2], int n, double step_offset,
                                leap_error *err) {
  if (n <= 0) return LEAP_OK;
  double(*grown)[2] = realloc(c->points, (size_t)(c->n + n) * sizeof *grown);
  if (!grown) return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for a loss curve");
  c->points = grown;
  for (int i = 0; i < n; i++) {
    c->points[c->n + i][0] = points[i][0] + step_offset;
    c->points[c->n + i][1] = points[i][1];
  }
  c->n += n;
  return LEAP_OK;
}

leap_status leap__compare_training_from(leap_compare_training *t, const leap_train_result *r, double step_offset,
                                        leap_error *err) {
  leap__compare_training_free(t);
  t->steps = r->steps_done;
  t->samples_seen = r->samples_seen;
  t->nonfinite_skips = r->nonfinite_skips;
  t->seconds = r->seconds;
  return curve_append(&t->curve, (const double(*)[2])r->curve, r->n_curve, step_offset, err);
}

leap_status leap__compare_training_add(leap_compare_training *t, const leap_compare_training *add, leap_error *err) {
  double offset = (double)t->steps;
  t->steps += add->steps;
  t->samples_seen += add->samples_seen;
  t->nonfinite_skips += add->nonfinite_skips;
  t->seconds += add->seconds;
  return curve_append(&t->curve, (const double(*)[2])add->curve.points, add->curve.n, offset, err);
}

void leap__compare_training_free(leap_compare_training *t) {
  free(t->curve.points);
  memset(t, 0, sizeof *t);
}

void leap_compare_result_free(leap_compare_result *res) {
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    leap_compare_mode_result *mr = &res->modes[m];
    leap__compare_training_free(&mr->training);
    leap__compare_training_free(&mr->own);
    for (int s = 0; s < mr->n_stages; s++) leap__compare_training_free(&mr->stages[s].training);
    free(mr->example_preds);
  }
  free(res->example_images);
  free(res->example_truth);
  memset(res, 0, sizeof *res);
}

void leap__compare_fields_init(leap_compare_fields *f, const leap_run_config *cfg, const char *group) {
  memset(f, 0, sizeof *f);
  f->cfg = cfg;
  f->group = group;
}

leap_status leap__compare_fields_get(leap_compare_fields *f, const char *name, const leap_host_array **out,
                                     leap_error *err) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->names[i], name)) {
      *out = &f->arrays[i];
      return LEAP_OK;
    }
  if (f->n == LEAP_COMPARE_MAX_FIELDS)
    return leap_error_set(err, LEAP_ERR_UNSUPPORTED, "compare: more than %d fields", LEAP_COMPARE_MAX_FIELDS);
  if (leap_read_field(f->cfg, f->group, name, &f->arrays[f->n], err)) return err->status;
  snprintf(f->names[f->n], LEAP_CFG_NAME, "%s", name);
  *out = &f->arrays[f->n++];
  return LEAP_OK;
}

void leap__compare_fields_free(leap_compare_fields *f) {
  for (int i = 0; i < f->n; i++) leap_host_array_free(&f->arrays[i]);
  f->n = 0;
}

leap_status leap__compare_handoff(leap_host_array *pred, const leap_host_array *template, const char *field,
                                  leap_error *err) {
  if (pred->dtype != template->dtype) {
    leap_host_array decoded;
    if (leap_task_decode(&decoded, pred, template, field, err)) return err->status;
    leap_host_array_free(pred);
    *pred = decoded;
  }
  /* A net's (N, features) output becomes the next input's per-sample shape, e.g. (N, T) tokens. */
  int64_t rows = pred->shape[0];
  if (leap_shape_numel(pred->ndim, pred->shape) != rows * leap_shape_numel(template->ndim - 1, template->shape + 1))
    return leap_error_set(err, LEAP_ERR_SHAPE, "compare: predictions of '%s' do not fit the next stage's input",
                          field);
  pred->ndim = template->ndim;
  memcpy(pred->shape, template->shape, sizeof pred->shape);
  pred->shape[0] = rows;
  return LEAP_OK;
}
