/* A tiny comparison run end to end (a generated robot file of 256 training samples, tiny nets, a few steps):
 * every mode trained and measured, report.json with every field of the schema (parsed back with libfyaml),
 * report.md and report.html written; and the pipeline's chaining really feeds predictions: perturbing the
 * perceive stage's predictions before act sees them changes act's chained metrics and nothing else (on the
 * evaluation alone, and in a whole run). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/hdf5/gen_write.h"
#include "tests/common/leap_test.h"
#include "tests/train/compare/report_schema.h"
#include "train/compare/compare_internal.h"

static const char *const ROBOT_METRICS[] = {"reach_error_px", "wrist_error_deg", "grasp_success"};
static const char *const STAGES[] = {"perceive", "act"};

static const char CONFIG[] =
    "task: robot\n"
    "data:\n"
    "  file: %s/robot.h5\n"
    "  fields:\n"
    "    image: {normalize: true, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}\n"
    "    pose: {}\n"
    "    joints: {}\n"
    "  loader: {threads: 1, prefetch: 2}\n"
    "stages:\n"
    "  - name: perceive\n"
    "    input: image\n"
    "    output: pose\n"
    "    loss: mse\n"
    "    network:\n"
    "      arch: convnet\n"
    "      conv:\n"
    "        - {channels: 4, kernel: 3, stride: 4, batchnorm: true}\n"
    "      head: {hidden: [16], activation: relu}\n"
    "  - name: act\n"
    "    input: pose\n"
    "    output: joints\n"
    "    loss: mse\n"
    "    network: {arch: mlp, hidden: [16], activation: relu}\n"
    "e2e: {interface: 8}\n"
    "train: {steps: 8, batch: 16, lr: 1.0e-3, schedule: {kind: warmup_cosine, warmup: 2}, eval_every: 0,\n"
    "        eval_samples: 32, log_every: 100, seed: 3, threads: 2}\n"
    "compare: {fractions: [0.5, 1.0], latency_batch: 64, examples: 3}\n"
    "output: {dir: %s/out}\n";

static char g_dir[64] = "/tmp/leap_compare_XXXXXX";

static bool setup(leap_run_config *cfg, leap_runtime *rt) {
  if (!mkdtemp(g_dir)) return false;
  char path[256], yaml[sizeof CONFIG + 256];
  snprintf(path, sizeof path, "%s/robot.h5", g_dir);
  leap_gen_options g = {"robot", path, 256, 32, 64, 5};
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_gen_write(&g, &err) == LEAP_OK, "generate: %s", err.message)) return false;
  snprintf(yaml, sizeof yaml, CONFIG, g_dir, g_dir);
  snprintf(path, sizeof path, "%s/tiny.yaml", g_dir);
  FILE *f = fopen(path, "w");
  if (!f) return false;
  fputs(yaml, f);
  fclose(f);
  memset(cfg, 0, sizeof *cfg);
  if (!LEAP_TEST_ASSERT(leap_run_config_load(cfg, path, NULL, 0, &err) == LEAP_OK, "config: %s", err.message))
    return false;
  return LEAP_TEST_ASSERT(leap_runtime_init(rt, LEAP_CPU, 2, &err) == LEAP_OK, "runtime: %s", err.message);
}

static void add_offset(leap_host_array *pred, int stage, void *user) {
  float *p = pred->data;
  for (int64_t i = 0; i < leap_shape_numel(pred->ndim, pred->shape); i++) p[i] += *(const float *)user;
  (void)stage;
}

/* Replaces the predictions with the true values (user: the true array of the same field). */
static void use_truth(leap_host_array *pred, int stage, void *user) {
  const leap_host_array *truth = user;
  memcpy(pred->data, truth->data, (size_t)leap_shape_numel(truth->ndim, truth->shape) * sizeof(float));
  (void)stage;
}

static bool same_metrics(const leap_metrics *a, const leap_metrics *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++)
    if (a->values[i] != b->values[i]) return false;
  return true;
}

/* The evaluation alone, on untrained stages: the perturbation reaches act's chained metrics only. */
static void check_chaining(const leap_run_config *cfg, leap_runtime *rt) {
  leap_chain_model *m[2] = {calloc(1, sizeof(leap_chain_model)), calloc(1, sizeof(leap_chain_model))};
  leap_error err = {0};
  for (int k = 0; k < 2; k++)
    LEAP_TEST_ASSERT(leap_chain_build_stage(m[k], cfg, k, LEAP_CPU, &err) == LEAP_OK, "stage %d: %s", k, err.message);
  const leap_chain *chains[2] = {&m[0]->chain, &m[1]->chain};
  leap_compare_fields test;
  leap__compare_fields_init(&test, cfg, cfg->data.test_group);
  leap_compare_stage plain[2], again[2], perturbed[2];
  memset(plain, 0, sizeof plain), memset(again, 0, sizeof again), memset(perturbed, 0, sizeof perturbed);
  const leap_task *task = leap_task_find("robot");
  float offset = 0.3f;
  leap_host_array final_pred = {0};
  LEAP_TEST_ASSERT(leap__compare_eval_pipeline(rt, task, &test, chains, 2, 50, NULL, NULL, plain, &final_pred, &err) ==
                           LEAP_OK &&
                       leap__compare_eval_pipeline(rt, task, &test, chains, 2, 50, NULL, NULL, again, NULL, &err) ==
                           LEAP_OK &&
                       leap__compare_eval_pipeline(rt, task, &test, chains, 2, 50, add_offset, &offset, perturbed,
                                                   NULL, &err) == LEAP_OK,
                   "eval pipeline: %s", err.message);
  LEAP_TEST_ASSERT(final_pred.shape[0] == 64 && final_pred.shape[1] == 4, "the pipeline's predictions are (64,4)");
  LEAP_TEST_ASSERT(!strcmp(plain[0].name, "perceive") && !strcmp(plain[1].target, "joints"), "stage names");
  LEAP_TEST_ASSERT(same_metrics(&plain[1].metrics_chained, &again[1].metrics_chained), "evaluation is repeatable");
  LEAP_TEST_ASSERT(same_metrics(&plain[0].metrics_true_input, &perturbed[0].metrics_true_input) &&
                       same_metrics(&plain[0].metrics_chained, &perturbed[0].metrics_chained),
                   "perceive's metrics do not see the perturbation");
  LEAP_TEST_ASSERT(same_metrics(&plain[1].metrics_true_input, &perturbed[1].metrics_true_input),
                   "act's true-input metrics do not see the perturbation");
  LEAP_TEST_ASSERT(!same_metrics(&plain[1].metrics_chained, &perturbed[1].metrics_chained),
                   "act's chained metrics change with the perturbation (reach %g vs %g)",
                   plain[1].metrics_chained.values[0], perturbed[1].metrics_chained.values[0]);
  LEAP_TEST_ASSERT(!same_metrics(&plain[1].metrics_chained, &plain[1].metrics_true_input),
                   "act fed perceive's predictions differs from act fed the true pose");
  /* Handing act the true pose through the chain gives exactly act's true-input metrics. */
  const leap_host_array *pose;
  leap_compare_stage truth_fed[2];
  memset(truth_fed, 0, sizeof truth_fed);
  LEAP_TEST_ASSERT(leap__compare_fields_get(&test, "pose", &pose, &err) == LEAP_OK &&
                       leap__compare_eval_pipeline(rt, task, &test, chains, 2, 50, use_truth, (void *)pose, truth_fed,
                                                   NULL, &err) == LEAP_OK,
                   "eval pipeline fed the truth: %s", err.message);
  LEAP_TEST_ASSERT(same_metrics(&truth_fed[1].metrics_chained, &plain[1].metrics_true_input),
                   "act chained on the true pose scores as act on the true input");
  leap_host_array_free(&final_pred);
  leap__compare_fields_free(&test);
  for (int k = 0; k < 2; k++) leap__compare_model_destroy(m[k]);
}

/* A whole run's figures agree with each other and with the budget. */
static void check_run_figures(const leap_run_config *cfg, const leap_compare_result *r) {
  const leap_compare_mode_result *e2e = &r->modes[0], *pipe = &r->modes[1], *ft = &r->modes[2];
  int64_t per_net = cfg->train.steps * cfg->train.batch;
  LEAP_TEST_ASSERT(e2e->done && pipe->done && ft->done, "every mode measured");
  LEAP_TEST_ASSERT(e2e->training.samples_seen == per_net && pipe->training.samples_seen == 2 * per_net &&
                       ft->own.samples_seen == (cfg->train.steps / 4) * cfg->train.batch &&
                       ft->training.samples_seen == 2 * per_net + ft->own.samples_seen,
                   "samples seen: e2e %lld, pipeline %lld, finetune %lld", (long long)e2e->training.samples_seen,
                   (long long)pipe->training.samples_seen, (long long)ft->training.samples_seen);
  LEAP_TEST_ASSERT(pipe->params == pipe->stages[0].params + pipe->stages[1].params && ft->params == pipe->params &&
                       e2e->params > 0,
                   "parameters: e2e %lld, pipeline %lld, finetune %lld", (long long)e2e->params,
                   (long long)pipe->params, (long long)ft->params);
  for (int m = 0; m < 3; m++)
    LEAP_TEST_ASSERT(
        r->modes[m].latency_ms_batch1 > 0 && r->modes[m].throughput > 0 && r->modes[m].training.curve.n > 0,
        "%s: latency %g ms, throughput %g/s", leap_compare_mode_name(m), r->modes[m].latency_ms_batch1,
        r->modes[m].throughput);
  LEAP_TEST_ASSERT(!strcmp(r->baseline_name, "mean_predictor") && r->n_train == 256 && r->n_test == 64,
                   "baseline and sizes");
  double e2e_grasp = leap_metrics_get(&e2e->metrics, "grasp_success");
  LEAP_TEST_ASSERT(r->n_fractions == 2 && r->fractions[1].headline[0] == e2e_grasp &&
                       isfinite(r->fractions[0].headline[2]) && r->fractions[0].train_samples == 128,
                   "data efficiency");
  LEAP_TEST_ASSERT(same_metrics(&pipe->metrics, &pipe->stages[1].metrics_chained),
                   "the pipeline's metrics are act's chained ones");
}

static void check_reports(const leap_compare_result *r, const char *out) {
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_compare_write_reports(r, out, &err) == LEAP_OK, "write reports: %s", err.message);
  char path[256];
  snprintf(path, sizeof path, "%s/report.json", out);
  FILE *f = fopen(path, "rb");
  char *json = calloc(1, 1 << 22);
  if (f && json) fread(json, 1, (1 << 22) - 1, f);
  if (f) fclose(f);
  struct fy_document *doc = schema_check_report(json, "robot", "grasp_success", ROBOT_METRICS, 3, 2, STAGES, 2);
  if (doc) fy_document_destroy(doc);
  free(json);
  snprintf(path, sizeof path, "%s/report.html", out);
  LEAP_TEST_ASSERT(access(path, R_OK) == 0, "report.html written");
  snprintf(path, sizeof path, "%s/report.md", out);
  LEAP_TEST_ASSERT(access(path, R_OK) == 0, "report.md written");
}

/* A whole run with the perturbation: the same training (deterministic), so only act's chained metrics move. */
static void check_perturbed_run(const leap_run_config *cfg, leap_runtime *rt, const leap_compare_result *plain) {
  float offset = 0.3f;
  leap_compare_options o = {.quiet = true, .latency_samples = 3, .n_fractions = 1, .fractions = {1.0},
                            .handoff = add_offset, .handoff_user = &offset};
  leap_compare_result r;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_compare_run(cfg, rt, &o, &r, &err) == LEAP_OK, "perturbed run: %s", err.message);
  const leap_compare_stage *a = plain->modes[1].stages, *b = r.modes[1].stages;
  LEAP_TEST_ASSERT(same_metrics(&a[0].metrics_chained, &b[0].metrics_chained) &&
                       same_metrics(&a[1].metrics_true_input, &b[1].metrics_true_input),
                   "the perturbation leaves perceive and act's true-input metrics alone");
  LEAP_TEST_ASSERT(!same_metrics(&a[1].metrics_chained, &b[1].metrics_chained), "it moves act's chained metrics");
  LEAP_TEST_ASSERT(same_metrics(&plain->modes[0].metrics, &r.modes[0].metrics), "and not e2e's");
  leap_compare_result_free(&r);
}

int main(void) {
  leap_run_config cfg;
  leap_runtime rt;
  if (!setup(&cfg, &rt)) return leap_test_finish();
  check_chaining(&cfg, &rt);
  char out[128];
  snprintf(out, sizeof out, "%s/out", g_dir);
  leap_compare_options o = {.out_dir = out, .quiet = true, .latency_samples = 5};
  leap_compare_result r;
  leap_error err = {0};
  if (LEAP_TEST_ASSERT(leap_compare_run(&cfg, &rt, &o, &r, &err) == LEAP_OK, "compare: %s", err.message)) {
    check_run_figures(&cfg, &r);
    check_reports(&r, out);
    check_perturbed_run(&cfg, &rt, &r);
  }
  leap_compare_result_free(&r);
  leap_runtime_free(&rt);
  leap_run_config_free(&cfg);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return leap_test_finish();
}
