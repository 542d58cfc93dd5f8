/* The comparison's order of work: the baseline and the examples, then each mode trained on all the training data
 * and evaluated (metrics, stages, latency, examples), then each smaller fraction trained again for the data
 * efficiency curve. Models are freed as soon as their mode is measured. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/compare/compare_internal.h"

#define DEFAULT_LATENCY_SAMPLES 50
#define EVAL_BATCH 256

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The baseline's metrics on the test group, from the training group's final targets. */
static leap_status baseline(leap_compare_session *s, leap_compare_result *res, leap_error *err) {
  const leap_host_array *truth;
  leap_host_array train = {0}, pred = {0};
  leap_status st = leap__compare_fields_get(&s->test, res->target, &truth, err);
  if (st == LEAP_OK) st = leap_read_field(s->cfg, s->cfg->data.train_group, res->target, &train, err);
  if (st == LEAP_OK) {
    res->n_train = train.shape[0];
    res->n_test = truth->shape[0];
    res->headline = leap_task_headline(s->task, res->target, truth->dtype);
    st = leap_task_baseline(&pred, &res->baseline_name, &train, truth->shape[0], err);
  }
  if (st == LEAP_OK) st = leap_task_metrics(s->task, res->target, &pred, truth, &res->baseline, err);
  leap_host_array_free(&train);
  leap_host_array_free(&pred);
  return st;
}

/* A picture's value as a byte: normalised inputs are mapped back through the field's mean and std. */
static uint8_t to_byte(const leap_host_array *a, const leap_field_config *fc, int64_t i, int c) {
  double v = a->dtype == LEAP_U8 ? ((const uint8_t *)a->data)[i] : ((const float *)a->data)[i];
  if (a->dtype == LEAP_F32 && fc && fc->normalize) v = 255.0 * (v * fc->std[c] + fc->mean[c]);
  v = v < 0 ? 0 : v > 255 ? 255 : v;
  return (uint8_t)lrint(v);
}

/* The test samples the report draws: spread evenly over the group, with the input picture when it is one. */
static leap_status pick_examples(leap_compare_session *s, leap_compare_result *res, leap_error *err) {
  const leap_host_array *input, *truth;
  if (leap__compare_fields_get(&s->test, s->cfg->stages[0].inputs[0], &input, err) ||
      leap__compare_fields_get(&s->test, res->target, &truth, err))
    return err->status;
  int n = s->cfg->compare.n_examples < LEAP_COMPARE_MAX_EXAMPLES ? s->cfg->compare.n_examples
                                                                  : LEAP_COMPARE_MAX_EXAMPLES;
  res->n_examples = n < truth->shape[0] ? (n > 0 ? n : 0) : (int)truth->shape[0];
  res->example_values = leap_shape_numel(truth->ndim - 1, truth->shape + 1);
  bool picture = input->ndim == 4 && input->shape[3] >= 1 && input->shape[3] <= 4;
  int64_t pixels = picture ? input->shape[1] * input->shape[2] * input->shape[3] : 0;
  res->example_truth = malloc((size_t)(res->n_examples * res->example_values + 1) * sizeof(float));
  res->example_images = picture ? malloc((size_t)(res->n_examples * pixels + 1)) : NULL;
  if (!res->example_truth || (picture && !res->example_images))
    return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for the examples");
  if (picture) res->example_h = (int)input->shape[1], res->example_w = (int)input->shape[2];
  if (picture) res->example_c = (int)input->shape[3];
  const leap_field_config *fc = leap_run_config_field(s->cfg, s->cfg->stages[0].inputs[0]);
  for (int e = 0; e < res->n_examples; e++) {
    int64_t idx = res->example_index[e] = (int64_t)e * truth->shape[0] / res->n_examples;
    for (int64_t j = 0; j < res->example_values; j++) {
      int64_t k = idx * res->example_values + j;
      res->example_truth[e * res->example_values + j] =
          truth->dtype == LEAP_I32 ? (float)((const int32_t *)truth->data)[k] : ((const float *)truth->data)[k];
    }
    for (int64_t p = 0; p < pixels; p++)
      res->example_images[e * pixels + p] = to_byte(input, fc, idx * pixels + p, (int)(p % res->example_c));
  }
  return LEAP_OK;
}

/* The examples' rows of a mode's final predictions, decoded like the truth. */
static leap_status keep_examples(leap_compare_session *s, leap_compare_result *res, leap_compare_mode_result *m,
                                 const leap_host_array *pred, leap_error *err) {
  const leap_host_array *truth;
  leap_host_array dec;
  if (leap__compare_fields_get(&s->test, res->target, &truth, err) ||
      leap_task_decode(&dec, pred, truth, res->target, err))
    return err->status;
  m->example_preds = malloc((size_t)(res->n_examples * res->example_values + 1) * sizeof(float));
  if (!m->example_preds) {
    leap_host_array_free(&dec);
    return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for the examples");
  }
  for (int e = 0; e < res->n_examples; e++)
    for (int64_t j = 0; j < res->example_values; j++) {
      int64_t k = res->example_index[e] * res->example_values + j;
      m->example_preds[e * res->example_values + j] =
          dec.dtype == LEAP_I32 ? (float)((const int32_t *)dec.data)[k] : ((const float *)dec.data)[k];
    }
  leap_host_array_free(&dec);
  return LEAP_OK;
}

/* A trained mode measured: metrics (given), latency and throughput through its chains, and its examples. */
static leap_status measure(leap_compare_session *s, leap_compare_result *res, int mode,
                           const leap_chain *const *chains, int n_chains, const leap_host_array *pred,
                           leap_error *err) {
  leap_compare_mode_result *m = &res->modes[mode];
  int samples = s->options->latency_samples > 0 ? s->options->latency_samples : DEFAULT_LATENCY_SAMPLES;
  if (leap__compare_latency(s->rt, chains, n_chains, &s->test, samples, res->latency_batch, &m->latency_ms_batch1,
                            &m->throughput, err) ||
      keep_examples(s, res, m, pred, err))
    return err->status;
  m->done = true;
  return LEAP_OK;
}

static const char *run_dir(leap_compare_session *s, bool full) { return full ? s->options->out_dir : NULL; }

/* e2e trained and evaluated; with full, measured and kept in res. Its headline metric goes to *headline. */
static leap_status run_e2e(leap_compare_session *s, leap_compare_result *res, double fraction, bool full,
                           double *headline, leap_error *err) {
  leap_chain_model *model = NULL;
  leap_compare_training t = {0};
  leap_metrics metrics;
  leap_host_array pred = {0};
  leap_status st = leap__compare_train_e2e(s, fraction, run_dir(s, full), &model, &t, err);
  if (st == LEAP_OK)
    st = leap__compare_eval_chain(s->rt, s->task, &s->test, &model->chain, s->eval_batch, &metrics, &pred, err);
  if (st == LEAP_OK) *headline = leap_metrics_get(&metrics, res->headline->name);
  if (st == LEAP_OK && full) {
    leap_compare_mode_result *m = &res->modes[LEAP_MODE_E2E];
    m->metrics = metrics;
    m->params = leap_params_numel(&model->params);
    m->training = t;
    memset(&t, 0, sizeof t);
    const leap_chain *chains[1] = {&model->chain};
    st = measure(s, res, LEAP_MODE_E2E, chains, 1, &pred, err);
  }
  leap__compare_training_free(&t);
  leap_host_array_free(&pred);
  leap__compare_model_destroy(model);
  return st;
}

/* The pipeline's result from its evaluated stages (their figures move into res). */
static leap_status keep_pipeline(leap_compare_result *res, leap_compare_stage *stages, int n, leap_error *err) {
  leap_compare_mode_result *m = &res->modes[LEAP_MODE_PIPELINE];
  m->metrics = stages[n - 1].metrics_chained;
  m->n_stages = n;
  for (int k = 0; k < n; k++) {
    m->stages[k] = stages[k];
    memset(&stages[k].training, 0, sizeof stages[k].training);
    m->params += m->stages[k].params;
    if (leap__compare_training_add(&m->training, &m->stages[k].training, err)) return err->status;
  }
  return LEAP_OK;
}

/* pipeline+finetune's result: its own training after the pipeline's (its totals include both). */
static leap_status keep_finetune(leap_compare_result *res, const leap_metrics *metrics, int64_t params,
                                 leap_compare_training *own, leap_error *err) {
  leap_compare_mode_result *m = &res->modes[LEAP_MODE_FINETUNE];
  m->metrics = *metrics;
  m->params = params;
  m->own = *own;
  memset(own, 0, sizeof *own);
  if (leap__compare_training_add(&m->training, &res->modes[LEAP_MODE_PIPELINE].training, err) ||
      leap__compare_training_add(&m->training, &m->own, err))
    return err->status;
  return LEAP_OK;
}

/* pipeline+finetune from the trained stages; its headline goes to *headline. */
static leap_status run_finetune(leap_compare_session *s, leap_compare_result *res, double fraction, bool full,
                                leap_chain_model *const *stages, double *headline, leap_error *err) {
  leap_chain_model *model = NULL;
  leap_compare_training own = {0};
  leap_metrics metrics;
  leap_host_array pred = {0};
  leap_status st = leap__compare_train_finetune(s, fraction, run_dir(s, full), stages, &model, &own, err);
  if (st == LEAP_OK)
    st = leap__compare_eval_chain(s->rt, s->task, &s->test, &model->chain, s->eval_batch, &metrics, &pred, err);
  if (st == LEAP_OK) *headline = leap_metrics_get(&metrics, res->headline->name);
  if (st == LEAP_OK && full) st = keep_finetune(res, &metrics, leap_params_numel(&model->params), &own, err);
  if (st == LEAP_OK && full) {
    const leap_chain *chains[1] = {&model->chain};
    st = measure(s, res, LEAP_MODE_FINETUNE, chains, 1, &pred, err);
  }
  leap__compare_training_free(&own);
  leap_host_array_free(&pred);
  leap__compare_model_destroy(model);
  return st;
}

/* The pipeline, then pipeline+finetune from its stages; headlines[0] and [1] get their headline metrics. */
static leap_status run_pipeline_modes(leap_compare_session *s, leap_compare_result *res, double fraction, bool full,
                                      double *headlines, leap_error *err) {
  int n = s->cfg->n_stages;
  leap_chain_model *stages[LEAP_CFG_MAX_STAGES] = {0};
  leap_compare_stage stage_out[LEAP_CFG_MAX_STAGES];
  const leap_chain *chains[LEAP_CFG_MAX_STAGES];
  leap_host_array pred = {0};
  memset(stage_out, 0, sizeof stage_out);
  leap_status st = leap__compare_train_pipeline(s, fraction, run_dir(s, full), stages, stage_out, err);
  for (int k = 0; k < n && st == LEAP_OK; k++) chains[k] = &stages[k]->chain;
  if (st == LEAP_OK)
    st = leap__compare_eval_pipeline(s->rt, s->task, &s->test, chains, n, s->eval_batch, s->options->handoff,
                                     s->options->handoff_user, stage_out, &pred, err);
  if (st == LEAP_OK) headlines[0] = leap_metrics_get(&stage_out[n - 1].metrics_chained, res->headline->name);
  if (st == LEAP_OK && full) st = keep_pipeline(res, stage_out, n, err);
  if (st == LEAP_OK && full) st = measure(s, res, LEAP_MODE_PIPELINE, chains, n, &pred, err);
  leap_host_array_free(&pred);
  if (st == LEAP_OK) st = run_finetune(s, res, fraction, full, stages, &headlines[1], err);
  for (int k = 0; k < n; k++) {
    leap__compare_training_free(&stage_out[k].training);
    leap__compare_model_destroy(stages[k]);
  }
  return st;
}

/* The fractions to train on: the options', else the config's, else all the data. */
static leap_status pick_fractions(const leap_run_config *cfg, const leap_compare_options *o,
                                  leap_compare_result *res, leap_error *err) {
  static const double all[1] = {1.0};
  const double *f = o->n_fractions > 0 ? o->fractions : cfg->compare.fractions;
  int n = o->n_fractions > 0 ? o->n_fractions : cfg->compare.n_fractions;
  if (n <= 0) f = all, n = 1;
  for (int i = 0; i < n && i < LEAP_CFG_MAX_FRACTIONS; i++) {
    if (!(f[i] > 0 && f[i] <= 1))
      return leap_error_set(err, LEAP_ERR_VALUE, "compare: fraction %g is not in (0, 1]", f[i]);
    res->fractions[res->n_fractions].fraction = f[i];
    for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) res->fractions[res->n_fractions].headline[m] = NAN;
    res->n_fractions++;
  }
  return LEAP_OK;
}

static void fill_header(leap_compare_result *res, const leap_run_config *cfg, leap_runtime *rt) {
  memset(res, 0, sizeof *res);
  snprintf(res->task, sizeof res->task, "%s", cfg->task);
  snprintf(res->source, sizeof res->source, "%s", cfg->source);
  res->task_def = leap_task_find(cfg->task);
  res->config_json = cfg->resolved_json;
  if (cfg->n_stages > 0) snprintf(res->target, sizeof res->target, "%s", cfg->stages[cfg->n_stages - 1].output);
  snprintf(res->device, sizeof res->device, "%s", leap_device_name(rt->device));
  res->threads = rt->threads;
  res->latency_batch = cfg->compare.latency_batch > 0 ? cfg->compare.latency_batch : 64;
}

/* Each fraction's headline: the full run's for 1, a new training of every mode otherwise. */
static leap_status data_efficiency(leap_compare_session *s, leap_compare_result *res, const double *full,
                                   leap_error *err) {
  for (int i = 0; i < res->n_fractions; i++) {
    leap_compare_fraction *fr = &res->fractions[i];
    fr->train_samples = (int64_t)(fr->fraction * (double)res->n_train);
    if (fr->fraction >= 1.0) {
      memcpy(fr->headline, full, sizeof fr->headline);
      continue;
    }
    if (run_e2e(s, res, fr->fraction, false, &fr->headline[LEAP_MODE_E2E], err) ||
        run_pipeline_modes(s, res, fr->fraction, false, &fr->headline[LEAP_MODE_PIPELINE], err))
      return err->status;
  }
  return LEAP_OK;
}

leap_status leap_compare_run(const leap_run_config *cfg, leap_runtime *rt, const leap_compare_options *options,
                             leap_compare_result *res, leap_error *err) {
  double start = wall_seconds();
  fill_header(res, cfg, rt);
  if (cfg->n_stages < 1) return leap_error_set(err, LEAP_ERR_CONFIG, "%s: compare needs stages", cfg->source);
  leap_compare_options defaults = {0};
  leap_compare_session s = {cfg, rt, options ? options : &defaults, res->task_def, {0}, EVAL_BATCH};
  leap__compare_fields_init(&s.test, cfg, cfg->data.test_group);
  double full[LEAP_COMPARE_N_MODES] = {NAN, NAN, NAN};
  leap_status st = pick_fractions(cfg, s.options, res, err);
  if (st == LEAP_OK) st = baseline(&s, res, err);
  if (st == LEAP_OK) st = pick_examples(&s, res, err);
  if (st == LEAP_OK) st = run_e2e(&s, res, 1.0, true, &full[LEAP_MODE_E2E], err);
  if (st == LEAP_OK) st = run_pipeline_modes(&s, res, 1.0, true, &full[LEAP_MODE_PIPELINE], err);
  if (st == LEAP_OK) st = data_efficiency(&s, res, full, err);
  leap__compare_fields_free(&s.test);
  res->seconds = wall_seconds() - start;
  return st;
}
