/* The generic metrics of f32 and i32 targets, prediction decoding and the baselines (task.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/tasks/task.h"
#include "train/tasks/task_internal.h"

const leap_metric_def leap__task_generic_f32_metrics[2] = {
    {"mse", "mean squared error", false, 0.0, false},
    {"mae", "mean absolute error", false, 0.0, false},
};

const leap_metric_def leap__task_generic_i32_metrics[2] = {
    {"exact_match", "exact match", true, 1.0, true},
    {"token_accuracy", "token accuracy", true, 1.0, true},
};

/* leap_host_array_free's job, kept here so that the metrics need nothing but the struct from train/loop. */
static void release(leap_host_array *a) {
  free(a->data);
  memset(a, 0, sizeof *a);
}

int64_t leap__task_rows(const leap_host_array *a) { return a->ndim > 0 ? a->shape[0] : 1; }

int64_t leap__task_row_numel(const leap_host_array *a) {
  int64_t n = 1;
  for (int d = 1; d < a->ndim; d++) n *= a->shape[d];
  return n;
}

leap_status leap__task_check_shape(const leap_host_array *pred, const leap_host_array *truth, const char *field,
                                   leap_error *err) {
  if (leap__task_rows(pred) != leap__task_rows(truth) || leap__task_row_numel(pred) != leap__task_row_numel(truth))
    return leap_error_set(err, LEAP_ERR_SHAPE,
                          "field '%s': %lld predictions of %lld values each for %lld samples of %lld values", field,
                          (long long)leap__task_rows(pred), (long long)leap__task_row_numel(pred),
                          (long long)leap__task_rows(truth), (long long)leap__task_row_numel(truth));
  return LEAP_OK;
}

leap_status leap__task_generic_f32_compute(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                           const char *field, leap_error *err) {
  if (pred->dtype != LEAP_F32 || truth->dtype != LEAP_F32)
    return leap_error_set(err, LEAP_ERR_DTYPE, "field '%s': f32 predictions and targets expected", field);
  leap_status st = leap__task_check_shape(pred, truth, field, err);
  if (st != LEAP_OK) return st;
  int64_t n = leap__task_rows(truth) * leap__task_row_numel(truth);
  const float *p = pred->data, *t = truth->data;
  double se = 0, ae = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)p[i] - (double)t[i];
    se += d * d;
    ae += fabs(d);
  }
  values[0] = n ? se / (double)n : NAN;
  values[1] = n ? ae / (double)n : NAN;
  return LEAP_OK;
}

leap_status leap__task_generic_i32_compute(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                           const char *field, leap_error *err) {
  leap_host_array tokens = {0};
  leap_status st = leap_task_decode(&tokens, pred, truth, field, err);
  if (st != LEAP_OK) return st;
  int64_t rows = leap__task_rows(truth), width = leap__task_row_numel(truth);
  const int32_t *p = tokens.data, *t = truth->data;
  int64_t exact = 0, correct = 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t row_correct = 0;
    for (int64_t j = 0; j < width; j++) row_correct += p[r * width + j] == t[r * width + j];
    correct += row_correct;
    exact += row_correct == width;
  }
  free(tokens.data);
  values[0] = rows ? (double)exact / (double)rows : NAN;
  values[1] = rows * width > 0 ? (double)correct / (double)(rows * width) : NAN;
  return LEAP_OK;
}

/* Argmax over the last dim of logits (rows, classes) into i32 (rows); the first maximum wins. */
static void argmax_rows(int32_t *out, const float *logits, int64_t rows, int64_t classes) {
  for (int64_t r = 0; r < rows; r++) {
    const float *x = logits + r * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; c++)
      if (x[c] > x[best]) best = c;
    out[r] = (int32_t)best;
  }
}

leap_status leap_task_decode(leap_host_array *out, const leap_host_array *pred, const leap_host_array *truth,
                             const char *field, leap_error *err) {
  memset(out, 0, sizeof *out);
  bool logits = truth->dtype == LEAP_I32 && pred->dtype == LEAP_F32 && pred->ndim == truth->ndim + 1;
  for (int d = 0; logits && d < truth->ndim; d++) logits = pred->shape[d] == truth->shape[d];
  int64_t n = leap__task_rows(pred) * leap__task_row_numel(pred);
  out->dtype = truth->dtype;
  out->ndim = logits ? truth->ndim : pred->ndim;
  memcpy(out->shape, logits ? truth->shape : pred->shape, sizeof out->shape);
  int64_t count = leap__task_rows(out) * leap__task_row_numel(out);
  out->data = malloc((size_t)(count ? count : 1) * 4);
  if (!out->data) return leap_error_set(err, LEAP_ERR_MEMORY, "field '%s': no memory for predictions", field);
  if (logits) {
    argmax_rows(out->data, pred->data, count, pred->shape[pred->ndim - 1]);
  } else if (pred->dtype == truth->dtype) {
    memcpy(out->data, pred->data, (size_t)n * 4);
  } else if (truth->dtype == LEAP_I32) {
    for (int64_t i = 0; i < n; i++) ((int32_t *)out->data)[i] = (int32_t)lrintf(((const float *)pred->data)[i]);
  } else {
    for (int64_t i = 0; i < n; i++) ((float *)out->data)[i] = (float)((const int32_t *)pred->data)[i];
  }
  leap_status st = leap__task_check_shape(out, truth, field, err);
  if (st != LEAP_OK) release(out);
  return st;
}

/* Lexicographic order of two i32 rows. */
static int row_cmp(const int32_t *a, const int32_t *b, int64_t width) {
  for (int64_t j = 0; j < width; j++)
    if (a[j] != b[j]) return a[j] < b[j] ? -1 : 1;
  return 0;
}

/* Stable merge sort of row indices (idx, scratch: rows each) by row_cmp. */
static void sort_rows(int64_t *idx, int64_t *scratch, int64_t n, const int32_t *data, int64_t width) {
  if (n < 2) return;
  int64_t h = n / 2;
  sort_rows(idx, scratch, h, data, width);
  sort_rows(idx + h, scratch, n - h, data, width);
  int64_t i = 0, j = h, k = 0;
  while (i < h && j < n)
    scratch[k++] = row_cmp(data + idx[j] * width, data + idx[i] * width, width) < 0 ? idx[j++] : idx[i++];
  while (i < h) scratch[k++] = idx[i++];
  while (j < n) scratch[k++] = idx[j++];
  memcpy(idx, scratch, (size_t)n * sizeof *idx);
}

/* The index of a most frequent row; among equally frequent rows the smallest one. -1 without rows. */
static int64_t most_common_row(const int32_t *data, int64_t rows, int64_t width, leap_error *err) {
  int64_t *idx = malloc((size_t)(rows + 1) * sizeof *idx), *scratch = malloc((size_t)(rows + 1) * sizeof *idx);
  int64_t best = -1, best_count = 0;
  if (!idx || !scratch) {
    leap_error_set(err, LEAP_ERR_MEMORY, "no memory to count answers");
  } else {
    for (int64_t r = 0; r < rows; r++) idx[r] = r;
    sort_rows(idx, scratch, rows, data, width);
    for (int64_t start = 0, end; start < rows; start = end) {
      for (end = start + 1; end < rows && !row_cmp(data + idx[end] * width, data + idx[start] * width, width);) end++;
      if (end - start > best_count) {
        best_count = end - start;
        best = idx[start];
      }
    }
  }
  free(idx);
  free(scratch);
  return best;
}

leap_status leap_task_baseline(leap_host_array *out, const char **name, const leap_host_array *train_truth, int64_t n,
                               leap_error *err) {
  memset(out, 0, sizeof *out);
  int64_t rows = leap__task_rows(train_truth), width = leap__task_row_numel(train_truth);
  if (rows < 1 || (train_truth->dtype != LEAP_F32 && train_truth->dtype != LEAP_I32))
    return leap_error_set(err, LEAP_ERR_VALUE, "baseline: no f32 or i32 training targets to learn from");
  *out = *train_truth;
  out->shape[0] = n;
  out->data = malloc((size_t)((n > 0 ? n : 1) * width) * 4);
  if (!out->data) return leap_error_set(err, LEAP_ERR_MEMORY, "baseline: no memory");
  if (train_truth->dtype == LEAP_F32) {
    *name = "mean_predictor";
    const float *t = train_truth->data;
    float *o = out->data;
    for (int64_t j = 0; j < width; j++) {
      double sum = 0;
      for (int64_t r = 0; r < rows; r++) sum += t[r * width + j];
      o[j] = (float)(sum / (double)rows);
    }
  } else {
    *name = "most_common_answer";
    int64_t best = most_common_row(train_truth->data, rows, width, err);
    if (best < 0) {
      release(out);
      return err->status;
    }
    memcpy(out->data, (const int32_t *)train_truth->data + best * width, (size_t)width * 4);
  }
  for (int64_t r = 1; r < n; r++) memcpy((char *)out->data + r * width * 4, out->data, (size_t)width * 4);
  return LEAP_OK;
}

double leap_metrics_get(const leap_metrics *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->defs[i]->name, name)) return m->values[i];
  return NAN;
}
