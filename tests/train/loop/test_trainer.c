/* The training loop (train/loop/trainer.c) on the tiny synthetic task of loop_fixture.h: an MLP learns the linear
 * regression (val loss far below the target's variance) and writes metrics.jsonl and best/latest weights that
 * reload to the same predictions and the same val loss; micro-batches give the same first step as one batch (also
 * when they do not divide it evenly); a NaN target in one batch is skipped and counted, NaN everywhere stops the
 * run after 10 steps in a row; early stopping stops; a cross-entropy target and an image input train. */
#define _GNU_SOURCE
#include <libfyaml.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/train/loop/loop_fixture.h"
#include "train/loop/build.h"
#include "train/loop/trainer.h"

static char g_dir[64], g_data[128];
static leap_runtime g_rt;
static int g_configs;

/* Loads a config with these stages and overrides; false (a recorded failure) when it does not load. */
static bool load_config(leap_run_config *cfg, const char *stages, const char *const *sets, int n_sets) {
  char path[160];
  snprintf(path, sizeof path, "%s/config_%d.yaml", g_dir, g_configs++);
  leap_error err = {0};
  memset(cfg, 0, sizeof *cfg);
  bool ok = fix_write_config(path, g_data, stages) && leap_run_config_load(cfg, path, sets, n_sets, &err) == LEAP_OK;
  return LEAP_TEST_ASSERT(ok, "config %s: %s", path, err.message);
}

static bool build_stage(leap_chain_model *m, const leap_run_config *cfg, int stage) {
  leap_error err = {0};
  return LEAP_TEST_ASSERT(leap_chain_build_stage(m, cfg, stage, LEAP_CPU, &err) == LEAP_OK, "build: %s",
                          err.message);
}

static double field_variance(const leap_run_config *cfg, const char *group, const char *field) {
  leap_host_array a;
  leap_error err = {0};
  if (leap_read_field(cfg, group, field, &a, &err)) return LEAP_TEST_ASSERT(false, "read: %s", err.message), NAN;
  int64_t n = a.shape[0], w = leap_shape_numel(a.ndim - 1, a.shape + 1);
  double var = 0;
  for (int64_t c = 0; c < w; c++) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += ((float *)a.data)[i * w + c];
    for (int64_t i = 0; i < n; i++) ss += pow(((float *)a.data)[i * w + c] - s / (double)n, 2);
    var += ss / (double)n / (double)w;
  }
  leap_host_array_free(&a);
  return var;
}

static bool params_finite(const leap_params *ps) {
  for (int i = 0; i < ps->count; i++)
    for (int64_t k = 0; k < leap_tensor_numel(ps->items[i].tensor); k++)
      if (!isfinite(leap_f32(ps->items[i].tensor)[k])) return false;
  return true;
}

/* Checks every line of RUN_DIR/metrics.jsonl: an object with step, loss, lr, samples_per_s; counts lines and
 * those with val_loss. */
static void check_metrics(const char *run_dir, int want_lines, int want_val) {
  char path[256], line[1024];
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  FILE *f = fopen(path, "r");
  if (!LEAP_TEST_ASSERT(f != NULL, "%s exists", path)) return;
  int lines = 0, with_val = 0;
  while (fgets(line, sizeof line, f)) {
    lines++;
    struct fy_document *doc = fy_document_build_from_string(NULL, line, FY_NT);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    LEAP_TEST_ASSERT(root && fy_node_is_mapping(root), "line %d is a JSON object: %s", lines, line);
    const char *keys[] = {"step", "loss", "lr", "samples_per_s"};
    for (int k = 0; root && k < 4; k++)
      LEAP_TEST_ASSERT(fy_node_mapping_lookup_by_string(root, keys[k], FY_NT) != NULL, "line %d has %s", lines,
                       keys[k]);
    with_val += root && fy_node_mapping_lookup_by_string(root, "val_loss", FY_NT) != NULL;
    if (doc) fy_document_destroy(doc);
  }
  fclose(f);
  LEAP_TEST_ASSERT(lines == want_lines && with_val == want_val, "%d lines (%d with val_loss), want %d (%d)", lines,
                   with_val, want_lines, want_val);
}

static bool checkpoint_exists(const char *run_dir, const char *which) {
  char a[256], b[256];
  snprintf(a, sizeof a, "%s/checkpoints/%s/model.safetensors", run_dir, which);
  snprintf(b, sizeof b, "%s/checkpoints/%s/prep.json", run_dir, which);
  return access(a, F_OK) == 0 && access(b, F_OK) == 0;
}

/* Reloads the latest weights into a fresh chain (same predictions, bit for bit) and the best (same val loss). */
static void check_reload(const leap_run_config *cfg, const leap_chain_model *trained, const char *run_dir,
                         const leap_train_result *r) {
  leap_chain_model m;
  if (!build_stage(&m, cfg, 0)) return;
  leap_error err = {0};
  leap_host_array vx = {0}, vy = {0}, p1 = {0}, p2 = {0};
  char dir[256];
  snprintf(dir, sizeof dir, "%s/checkpoints/latest", run_dir);
  bool ok = leap_load_weights(dir, &m.params, &err) == LEAP_OK && !leap_read_field(cfg, "val", "x", &vx, &err) &&
            !leap_read_field(cfg, "val", "y", &vy, &err) &&
            !leap_chain_predict(&g_rt, &trained->chain, &vx, 50, &p1, &err) &&
            !leap_chain_predict(&g_rt, &m.chain, &vx, 50, &p2, &err);
  if (LEAP_TEST_ASSERT(ok, "reload latest: %s", err.message))
    LEAP_TEST_ASSERT(p1.shape[0] == FIX_N_EVAL && p1.shape[1] == FIX_H &&
                         !memcmp(p1.data, p2.data, sizeof(float) * FIX_N_EVAL * FIX_H),
                     "the latest weights reload to the same predictions");
  snprintf(dir, sizeof dir, "%s/checkpoints/best", run_dir);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 0);
  double loss = NAN;
  ok = ok && leap_load_weights(dir, &m.params, &err) == LEAP_OK &&
       leap_chain_eval_loss(&ctx, &m.chain, &vx, &vy, cfg->train.batch, &loss, &err) == LEAP_OK;
  LEAP_TEST_ASSERT(ok && loss == r->best_val_loss, "the best weights reload to val loss %.9g (trainer: %.9g) %s", loss,
                   r->best_val_loss, err.message);
  leap_ctx_free(&ctx);
  leap_host_array_free(&vx), leap_host_array_free(&vy), leap_host_array_free(&p1), leap_host_array_free(&p2);
  leap_chain_model_free(&m);
}

static void test_learns(void) {
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, FIX_STAGES_FIT, NULL, 0)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  char run_dir[128];
  snprintf(run_dir, sizeof run_dir, "%s/run_learns", g_dir);
  leap_train_options o = {300, 1.0, run_dir, "fit", true};
  leap_train_result r;
  leap_error err = {0};
  leap_status st = leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err);
  LEAP_TEST_ASSERT(st == LEAP_OK, "train: %s", err.message);
  double var = field_variance(&cfg, "val", "y");
  printf("learns: best val loss %.3g at step %lld (target variance %.3g), final train loss %.3g, %.2f s\n",
         r.best_val_loss, (long long)r.best_step, var, r.final_train_loss, r.seconds);
  /* The mean predictor's loss is the variance: the MLP must do 30 times better. */
  LEAP_TEST_ASSERT(r.best_val_loss < var / 30, "val loss %g below 1/30 of the variance %g", r.best_val_loss, var);
  LEAP_TEST_ASSERT(r.steps_done == 300 && r.samples_seen == 300 * 32 && r.nonfinite_skips == 0 && !r.stopped_early,
                   "steps %lld samples %lld skips %lld", (long long)r.steps_done, (long long)r.samples_seen,
                   (long long)r.nonfinite_skips);
  LEAP_TEST_ASSERT(r.best_step == 100 || r.best_step == 200 || r.best_step == 300, "best step %lld",
                   (long long)r.best_step);
  LEAP_TEST_ASSERT(r.n_curve == 300 && r.curve[0][0] == 1 && r.curve[299][0] == 300, "curve: %d points", r.n_curve);
  LEAP_TEST_ASSERT(r.n_curve > 0 && r.curve[r.n_curve - 1][1] < 0.05 * r.curve[0][1], "the smoothed loss falls");
  LEAP_TEST_ASSERT(fabs(r.final_train_loss - r.curve[r.n_curve - 1][1]) < 1e-12, "final loss is the curve's end");
  check_metrics(run_dir, 6, 3);
  LEAP_TEST_ASSERT(checkpoint_exists(run_dir, "best") && checkpoint_exists(run_dir, "latest"), "checkpoints");
  check_reload(&cfg, &m, run_dir, &r);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* The loss curve is thinned to at most LEAP_TRAIN_MAX_CURVE evenly spaced points. */
static void test_curve_thinning(void) {
  const char *sets[] = {"train.steps=1100", "train.eval_every=0", "train.lr=1e-3"};
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, FIX_STAGES_FIT, sets, 3)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  leap_train_options o = {1100, 1.0, NULL, "fit", true};
  leap_train_result r;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK, "train: %s", err.message);
  LEAP_TEST_ASSERT(r.n_curve == 367 && r.curve[0][0] == 3 && r.curve[1][0] == 6 && r.curve[r.n_curve - 1][0] == 1100,
                   "%d points, first at %g, last at %g", r.n_curve, r.curve[0][0], r.curve[r.n_curve - 1][0]);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* Trains one SGD step (no momentum, no clipping, no decay) with the given micro-batch setup; returns the chain. */
static bool one_step(leap_chain_model *m, leap_run_config *cfg, int64_t batch, int64_t micro) {
  if (!build_stage(m, cfg, 0)) return false;
  leap_run_config c = *cfg;
  c.train.batch = batch;
  c.train.micro_batches = micro;
  leap_train_options o = {1, 1.0, NULL, "micro", true};
  leap_train_result r;
  leap_error err = {0};
  return LEAP_TEST_ASSERT(leap_train_chain(&c, &g_rt, &m->chain, &o, &r, &err) == LEAP_OK && r.samples_seen == batch,
                          "one step (batch %lld, %lld micro-batches): %s", (long long)batch, (long long)micro,
                          err.message);
}

static double max_abs_diff(const leap_params *a, const leap_params *b) {
  double worst = 0;
  for (int i = 0; i < a->count; i++)
    for (int64_t k = 0; k < leap_tensor_numel(a->items[i].tensor); k++)
      worst = fmax(worst, fabs((double)leap_f32(a->items[i].tensor)[k] - leap_f32(b->items[i].tensor)[k]));
  return worst;
}

static void test_micro_batches(void) {
  const char *sets[] = {"train.steps=1", "train.lr=0.5", "train.optimizer.name=sgd", "train.optimizer.momentum=0",
                        "train.optimizer.clip_norm=0", "train.optimizer.weight_decay=0", "train.schedule.kind=constant",
                        "train.eval_every=0"};
  leap_run_config cfg;
  if (!load_config(&cfg, FIX_STAGES_FIT, sets, 8)) return;
  static const int64_t cases[][2] = {{32, 4}, {32, 32}, {30, 4}, {31, 3}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    leap_chain_model init, whole, split;
    if (!build_stage(&init, &cfg, 0)) break;
    if (one_step(&whole, &cfg, cases[k][0], 1) && one_step(&split, &cfg, cases[k][0], cases[k][1])) {
      double moved = max_abs_diff(&whole.params, &init.params), diff = max_abs_diff(&whole.params, &split.params);
      LEAP_TEST_ASSERT(moved > 1e-3, "the step moved the parameters (by %g)", moved);
      LEAP_TEST_ASSERT(diff <= 1e-5, "batch %lld in %lld micro-batches: parameters differ by %g after one step",
                       (long long)cases[k][0], (long long)cases[k][1], diff);
      leap_chain_model_free(&whole);
      leap_chain_model_free(&split);
    }
    leap_chain_model_free(&init);
  }
  leap_run_config_free(&cfg);
}

static void test_nan_skipped(void) {
  const char *sets[] = {"train.steps=100", "train.eval_every=50"};
  leap_run_config cfg;
  leap_chain_model m;
  const char *stages =
      "  - {name: fit, input: x, output: y_nan, loss: mse, network: {arch: mlp, hidden: [32], activation: relu}}\n";
  if (!load_config(&cfg, stages, sets, 2)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  leap_train_options o = {100, 1.0, NULL, "nan", true};
  leap_train_result r;
  leap_error err = {0};
  leap_status st = leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err);
  /* 100 steps of 32 are 6.25 epochs of 512: the batch holding the NaN sample comes once an epoch. */
  LEAP_TEST_ASSERT(st == LEAP_OK, "a NaN target is not fatal: %s", err.message);
  LEAP_TEST_ASSERT(r.nonfinite_skips >= 6 && r.nonfinite_skips <= 7, "%lld steps skipped",
                   (long long)r.nonfinite_skips);
  LEAP_TEST_ASSERT(r.steps_done == 100 && r.samples_seen == 3200, "every step counted");
  LEAP_TEST_ASSERT(params_finite(&m.params) && isfinite(r.best_val_loss) && isfinite(r.final_train_loss),
                   "the parameters and losses stay finite (val %g, train %g)", r.best_val_loss, r.final_train_loss);
  LEAP_TEST_ASSERT(r.best_val_loss < 0.1 * field_variance(&cfg, "val", "y"), "it still learns (val %g)",
                   r.best_val_loss);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

static void test_nan_fatal(void) {
  leap_run_config cfg;
  leap_chain_model m;
  const char *stages =
      "  - {name: fit, input: x, output: y_allnan, loss: mse, network: {arch: mlp, hidden: [8], activation: relu}}\n";
  if (!load_config(&cfg, stages, NULL, 0)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  leap_train_options o = {100, 1.0, NULL, "allnan", true};
  leap_train_result r;
  leap_error err = {0};
  leap_status st = leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err);
  LEAP_TEST_ASSERT(st == LEAP_ERR_NONFINITE && strstr(err.message, "10 steps in a row") &&
                       strstr(err.message, "steps 1 to 10"),
                   "status %s: %s", leap_status_name(st), err.message);
  LEAP_TEST_ASSERT(r.nonfinite_skips == 10 && r.steps_done == 9, "skips %lld, steps done %lld",
                   (long long)r.nonfinite_skips, (long long)r.steps_done);
  LEAP_TEST_ASSERT(params_finite(&m.params), "no NaN reached the parameters");
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

static void test_early_stop(void) {
  const char *sets[] = {"train.steps=50", "train.eval_every=1", "train.early_stop_patience=2", "train.log_every=1000"};
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, FIX_STAGES_FIT, sets, 4)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  /* A zero learning rate never improves on the first evaluation (the config's range starts above 0). */
  cfg.train.schedule.base_lr = 0.0f;
  char run_dir[128];
  snprintf(run_dir, sizeof run_dir, "%s/run_early", g_dir);
  leap_train_options o = {50, 1.0, run_dir, "early", true};
  leap_train_result r;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK, "train: %s", err.message);
  LEAP_TEST_ASSERT(r.stopped_early && r.steps_done == 3 && r.best_step == 1, "stopped %d after %lld steps, best %lld",
                   r.stopped_early, (long long)r.steps_done, (long long)r.best_step);
  LEAP_TEST_ASSERT(r.n_curve == 3 && r.curve[2][0] == 3, "the curve ends where training stopped");
  check_metrics(run_dir, 3, 3);
  /* Learning (patience 2, a real learning rate) runs to the end. */
  cfg.train.schedule.base_lr = 1e-2f;
  leap_chain_model fresh;
  if (build_stage(&fresh, &cfg, 0)) {
    LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &fresh.chain, &o, &r, &err) == LEAP_OK, "train: %s", err.message);
    LEAP_TEST_ASSERT(r.steps_done > 3, "an improving run goes on (%lld steps)", (long long)r.steps_done);
    leap_chain_model_free(&fresh);
  }
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* Fraction of rows whose argmax of logits (N,3) equals the label. */
static double accuracy(const leap_host_array *logits, const leap_host_array *labels) {
  int64_t right = 0, n = logits->shape[0];
  for (int64_t i = 0; i < n; i++) {
    const float *row = (const float *)logits->data + i * 3;
    int best = row[1] > row[0] ? 1 : 0;
    best = row[2] > row[best] ? 2 : best;
    right += best == ((const int32_t *)labels->data)[i];
  }
  return (double)right / (double)n;
}

static void test_cross_entropy(void) {
  const char *sets[] = {"train.steps=200"};
  const char *stages = "  - {name: cls, input: x, output: label, loss: cross_entropy,\n"
                       "     network: {arch: mlp, hidden: [32], activation: relu}}\n";
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, stages, sets, 1)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  LEAP_TEST_ASSERT(m.nets[0].out_dim == 3, "3 classes from the labels (got %lld)", (long long)m.nets[0].out_dim);
  leap_train_options o = {200, 1.0, NULL, "cls", true};
  leap_train_result r;
  leap_error err = {0};
  leap_host_array vx = {0}, vl = {0}, logits = {0};
  bool ok = leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK &&
            !leap_read_field(&cfg, "val", "x", &vx, &err) && !leap_read_field(&cfg, "val", "label", &vl, &err) &&
            !leap_chain_predict(&g_rt, &m.chain, &vx, 64, &logits, &err);
  if (LEAP_TEST_ASSERT(ok, "train and predict: %s", err.message)) {
    double acc = accuracy(&logits, &vl);
    printf("cross-entropy: val loss %.3g, accuracy %.3f\n", r.best_val_loss, acc);
    LEAP_TEST_ASSERT(vl.dtype == LEAP_I32 && acc > 0.9 && r.best_val_loss < 0.4, "accuracy %.3f, loss %.3g", acc,
                     r.best_val_loss);
  }
  leap_host_array_free(&vx), leap_host_array_free(&vl), leap_host_array_free(&logits);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* Two token inputs, each through its own embedding, joined into one sequence: the class depends on a token of each. */
static void test_joined_inputs(void) {
  const char *sets[] = {"train.steps=300", "train.micro_batches=2"};
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, FIX_STAGES_JOIN, sets, 2)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  leap_train_options o = {300, 1.0, NULL, "join", true};
  leap_train_result r;
  leap_error err = {0};
  leap_host_array vx[2] = {{0}}, vl = {0}, logits = {0};
  bool ok = leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK &&
            !leap_read_field(&cfg, "val", m.chain.inputs[0], &vx[0], &err) &&
            !leap_read_field(&cfg, "val", m.chain.inputs[1], &vx[1], &err) &&
            !leap_read_field(&cfg, "val", "tok_cls", &vl, &err) &&
            !leap_chain_predict(&g_rt, &m.chain, vx, 64, &logits, &err);
  if (LEAP_TEST_ASSERT(ok, "train and predict: %s", err.message)) {
    int64_t right = 0;
    for (int64_t i = 0; i < FIX_N_EVAL; i++) {
      const float *row = (const float *)logits.data + i * FIX_VOCAB;
      int best = 0;
      for (int v = 1; v < FIX_VOCAB; v++) best = row[v] > row[best] ? v : best;
      right += best == ((const int32_t *)vl.data)[i];
    }
    printf("two inputs: val loss %.3g, accuracy %.3f\n", r.best_val_loss, (double)right / FIX_N_EVAL);
    LEAP_TEST_ASSERT(right > 0.9 * FIX_N_EVAL, "accuracy %lld of %d", (long long)right, FIX_N_EVAL);
  }
  leap_host_array_free(&vx[0]), leap_host_array_free(&vx[1]), leap_host_array_free(&vl), leap_host_array_free(&logits);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* Images (normalised u8, NHWC) through a small conv net: the loop handles 4-D inputs, with micro-batches. */
static void test_image_input(void) {
  const char *sets[] = {"train.steps=6", "train.micro_batches=2", "train.eval_every=3"};
  const char *stages = "  - {name: img, input: image, output: y, loss: mse,\n"
                       "     network: {arch: sequential, layers: [{conv: {channels: 4, kernel: 3}}, relu,\n"
                       "               {maxpool: {kernel: 2}}, flatten, {linear: {units: 3}}]}}\n";
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, stages, sets, 3)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  LEAP_TEST_ASSERT(m.nets[0].inputs[0].ndim == 3 && m.nets[0].inputs[0].shape[0] == FIX_IMG_H &&
                       m.nets[0].inputs[0].shape[2] == FIX_IMG_C,
                   "the net sees (H,W,C) images");
  leap_train_options o = {6, 1.0, NULL, "img", true};
  leap_train_result r;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK && r.steps_done == 6 &&
                       isfinite(r.best_val_loss),
                   "image training: %s", err.message);
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

/* A fraction of the training data: a tenth of 512 samples is one batch of 32 per epoch and a 19-sample tail. */
static void test_fraction(void) {
  const char *sets[] = {"train.steps=4", "train.eval_every=0"};
  leap_run_config cfg;
  leap_chain_model m;
  if (!load_config(&cfg, FIX_STAGES_FIT, sets, 2)) return;
  if (!build_stage(&m, &cfg, 0)) return leap_run_config_free(&cfg);
  leap_train_options o = {4, 0.1, NULL, "fraction", true};
  leap_train_result r;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK, "train: %s", err.message);
  LEAP_TEST_ASSERT(r.samples_seen == 4 * 32, "full batches only (%lld samples)", (long long)r.samples_seen);
  o.fraction = 0.01; /* 5 samples: fewer than a batch, used whole */
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_OK, "tiny fraction: %s", err.message);
  LEAP_TEST_ASSERT(r.samples_seen > 0 && r.samples_seen < 4 * 32, "a small set is used whole (%lld samples)",
                   (long long)r.samples_seen);
  o.fraction = 1.5;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_train_chain(&cfg, &g_rt, &m.chain, &o, &r, &err) == LEAP_ERR_VALUE, "fraction 1.5 refused");
  leap_chain_model_free(&m);
  leap_run_config_free(&cfg);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/leap_test_trainer_XXXXXX");
  if (!mkdtemp(g_dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
  snprintf(g_data, sizeof g_data, "%s/tiny.h5", g_dir);
  leap_error err = {0};
  if (!fix_write_file(g_data) || leap_runtime_init(&g_rt, LEAP_CPU, 2, &err))
    return fprintf(stderr, "setup failed: %s\n", err.message), 1;
  test_learns();
  test_curve_thinning();
  test_micro_batches();
  test_nan_skipped();
  test_nan_fatal();
  test_early_stop();
  test_cross_entropy();
  test_image_input();
  test_joined_inputs();
  test_fraction();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  leap_runtime_free(&g_rt);
  return leap_test_finish();
}
