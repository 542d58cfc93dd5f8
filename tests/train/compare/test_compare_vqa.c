/* A tiny vqa comparison end to end (a generated vqa file of 128 training samples, tiny nets, a few steps): the
 * answer stage reads two inputs (scene text and question), the e2e network an image and the question, and
 * pipeline+finetune embeds describe's scores; every mode trained and measured, and report.json with every field of
 * the schema (parsed back with libfyaml), report.md and report.html written. The hand-off feeds the answer stage
 * describe's greedy tokens: scores whose argmax is the true scene give exactly the answer stage's true-input
 * metrics, and the question, which no stage predicts, always reaches the answer stage from the data. The joint
 * training runs at compare.finetune_lr, the networks before it at train.lr (their metrics.jsonl). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/hdf5/gen_write.h"
#include "tests/common/leap_test.h"
#include "tests/train/compare/report_schema.h"
#include "train/compare/compare_internal.h"

static const char *const VQA_METRICS[] = {"accuracy", "token_accuracy"};
static const char *const STAGES[] = {"describe", "answer"};

static const char CONFIG[] =
    "task: vqa\n"
    "data:\n"
    "  file: %s/vqa.h5\n"
    "  fields:\n"
    "    image: {normalize: true, mean: 0.5, std: 0.25}\n"
    "    question: {dtype: i32, vocab: 46}\n"
    "    scene: {dtype: i32, vocab: 46}\n"
    "    answer: {dtype: i32, vocab: 46}\n"
    "  loader: {threads: 1, prefetch: 2}\n"
    "stages:\n"
    "  - name: describe\n"
    "    input: image\n"
    "    output: scene\n"
    "    network:\n"
    "      arch: sequential\n"
    "      layers: [{conv: {channels: 8, kernel: 3, stride: 4}}, relu, tokens, {linear: {units: 8}}, position,\n"
    "               {queries: {length: 40}}, {transformer: {heads: 2}}, {last: {length: 40}}, {linear: {units: 0}}]\n"
    "  - name: answer\n"
    "    input: [scene, question]\n"
    "    output: answer\n"
    "    network:\n"
    "      arch: sequential\n"
    "      inputs:\n"
    "        scene: [{embedding: {vocab: 46, channels: 8}}]\n"
    "        question: [{embedding: {vocab: 46, channels: 8}}]\n"
    "      layers: [position, {queries: {length: 3}}, {transformer: {heads: 2}}, {last: {length: 3}},\n"
    "               {linear: {units: 0}}]\n"
    "e2e:\n"
    "  network:\n"
    "    arch: sequential\n"
    "    inputs:\n"
    "      image: [{conv: {channels: 8, kernel: 3, stride: 4}}, relu, tokens, {linear: {units: 8}}]\n"
    "      question: [{embedding: {vocab: 46, channels: 8}}]\n"
    "    layers: [position, {queries: {length: 3}}, {transformer: {heads: 2}}, {last: {length: 3}},\n"
    "             {linear: {units: 0}}]\n"
    "train: {steps: 4, batch: 16, lr: 1.0e-3, schedule: {kind: constant, warmup: 0}, eval_every: 0,\n"
    "        eval_samples: 16, log_every: 1, seed: 3, threads: 2}\n"
    "compare: {fractions: [1.0], latency_batch: 64, examples: 2, finetune_lr: 2.5e-4}\n"
    "output: {dir: %s/out}\n";

static char g_dir[64] = "/tmp/leap_compare_vqa_XXXXXX";

static bool setup(leap_run_config *cfg, leap_runtime *rt) {
  if (!mkdtemp(g_dir)) return false;
  char path[256], yaml[sizeof CONFIG + 256];
  snprintf(path, sizeof path, "%s/vqa.h5", g_dir);
  leap_gen_options g = {"vqa", path, 128, 16, 64, 5};
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

static bool same_metrics(const leap_metrics *a, const leap_metrics *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++)
    if (a->values[i] != b->values[i]) return false;
  return true;
}

/* Rewrites describe's scores (N,40,46) so that their argmax is the true scene token (user: the true scene). */
static void scores_of_truth(leap_host_array *pred, int stage, void *user) {
  const leap_host_array *scene = user;
  int64_t positions = leap_shape_numel(scene->ndim, scene->shape), vocab = pred->shape[pred->ndim - 1];
  float *p = pred->data;
  for (int64_t i = 0; i < positions; i++) p[i * vocab + ((const int32_t *)scene->data)[i]] += 1e4f;
  (void)stage;
}

/* The evaluation alone, on untrained stages: describe's scores become tokens for the answer stage. */
static void check_handoff(const leap_run_config *cfg, leap_runtime *rt) {
  leap_chain_model *m[2] = {calloc(1, sizeof(leap_chain_model)), calloc(1, sizeof(leap_chain_model))};
  leap_error err = {0};
  for (int k = 0; k < 2; k++)
    LEAP_TEST_ASSERT(leap_chain_build_stage(m[k], cfg, k, LEAP_CPU, &err) == LEAP_OK, "stage %d: %s", k, err.message);
  LEAP_TEST_ASSERT(m[1]->chain.n_inputs == 2 && !strcmp(m[1]->chain.inputs[0], "scene") &&
                       !strcmp(m[1]->chain.inputs[1], "question"),
                   "the answer stage reads scene and question");
  const leap_chain *chains[2] = {&m[0]->chain, &m[1]->chain};
  leap_compare_fields test;
  leap__compare_fields_init(&test, cfg, cfg->data.test_group);
  const leap_host_array *scene;
  leap_compare_stage plain[2], truth_fed[2];
  memset(plain, 0, sizeof plain), memset(truth_fed, 0, sizeof truth_fed);
  const leap_task *task = leap_task_find("vqa");
  leap_host_array final_pred = {0};
  bool ok = leap__compare_fields_get(&test, "scene", &scene, &err) == LEAP_OK &&
            leap__compare_eval_pipeline(rt, task, &test, chains, 2, 20, NULL, NULL, plain, &final_pred, &err) ==
                LEAP_OK &&
            leap__compare_eval_pipeline(rt, task, &test, chains, 2, 20, scores_of_truth, (void *)scene, truth_fed,
                                        NULL, &err) == LEAP_OK;
  if (LEAP_TEST_ASSERT(ok, "eval pipeline: %s", err.message)) {
    LEAP_TEST_ASSERT(final_pred.ndim == 3 && final_pred.shape[0] == 64 && final_pred.shape[1] == 3 &&
                         final_pred.shape[2] == 46,
                     "the pipeline's predictions are (64,3,46) answer scores");
    LEAP_TEST_ASSERT(plain[0].metrics_true_input.n == 2 && plain[1].metrics_chained.n == 2 &&
                         isfinite(plain[1].metrics_chained.values[1]),
                     "describe and answer have their metrics");
    LEAP_TEST_ASSERT(same_metrics(&truth_fed[1].metrics_chained, &plain[1].metrics_true_input),
                     "answer chained on scores of the true scene scores as answer on the true scene");
    LEAP_TEST_ASSERT(same_metrics(&truth_fed[0].metrics_chained, &plain[0].metrics_chained),
                     "describe's own metrics do not see the hand-off");
  }
  leap_host_array_free(&final_pred);
  leap__compare_fields_free(&test);
  for (int k = 0; k < 2; k++) leap__compare_model_destroy(m[k]);
}

static void check_run(const leap_run_config *cfg, const leap_compare_result *r) {
  const leap_compare_mode_result *e2e = &r->modes[0], *pipe = &r->modes[1], *ft = &r->modes[2];
  int64_t per_net = cfg->train.steps * cfg->train.batch;
  LEAP_TEST_ASSERT(e2e->done && pipe->done && ft->done, "every mode measured");
  LEAP_TEST_ASSERT(e2e->training.samples_seen == per_net && pipe->training.samples_seen == 2 * per_net &&
                       ft->own.samples_seen == cfg->train.batch,
                   "samples seen: e2e %lld, pipeline %lld, finetune %lld", (long long)e2e->training.samples_seen,
                   (long long)pipe->training.samples_seen, (long long)ft->own.samples_seen);
  LEAP_TEST_ASSERT(ft->params == pipe->params && e2e->params > 0 && pipe->n_stages == 2,
                   "finetune has the pipeline's parameters");
  LEAP_TEST_ASSERT(!strcmp(r->baseline_name, "most_common_answer") && r->n_train == 128 && r->n_test == 64 &&
                       !strcmp(r->headline->name, "accuracy"),
                   "baseline, sizes and the headline");
  LEAP_TEST_ASSERT(r->example_h == 32 && r->example_c == 3 && r->example_values == 3 && r->n_examples == 2,
                   "examples: the pictures and their 3 answer tokens");
  for (int m = 0; m < 3; m++)
    LEAP_TEST_ASSERT(r->modes[m].latency_ms_batch1 > 0 && r->modes[m].throughput > 0, "%s: latency %g, throughput %g",
                     leap_compare_mode_name(m), r->modes[m].latency_ms_batch1, r->modes[m].throughput);
}

/* Every learning rate logged in DIR/metrics.jsonl is want. */
static void check_lr(const char *out, const char *run, double want) {
  char path[256], line[512];
  snprintf(path, sizeof path, "%s/%s/metrics.jsonl", out, run);
  FILE *f = fopen(path, "r");
  int n = 0;
  bool all = true;
  while (f && fgets(line, sizeof line, f)) {
    const char *at = strstr(line, "\"lr\": ");
    double lr = at ? strtod(at + 6, NULL) : NAN;
    all &= fabs(lr - want) <= 1e-6 * want;
    n++;
  }
  if (f) fclose(f);
  LEAP_TEST_ASSERT(n > 0 && all, "%s: %d lines, every lr %g", path, n, want);
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
  struct fy_document *doc = schema_check_report(json, "vqa", "accuracy", VQA_METRICS, 2, 2, STAGES, 1);
  if (doc) fy_document_destroy(doc);
  free(json);
  snprintf(path, sizeof path, "%s/report.html", out);
  LEAP_TEST_ASSERT(access(path, R_OK) == 0, "report.html written");
  snprintf(path, sizeof path, "%s/report.md", out);
  LEAP_TEST_ASSERT(access(path, R_OK) == 0, "report.md written");
}

int main(void) {
  leap_run_config cfg;
  leap_runtime rt;
  if (!setup(&cfg, &rt)) return leap_test_finish();
  check_handoff(&cfg, &rt);
  char out[128];
  snprintf(out, sizeof out, "%s/out", g_dir);
  leap_compare_options o = {.out_dir = out, .quiet = true, .latency_samples = 3};
  leap_compare_result r;
  leap_error err = {0};
  if (LEAP_TEST_ASSERT(leap_compare_run(&cfg, &rt, &o, &r, &err) == LEAP_OK, "compare: %s", err.message)) {
    check_run(&cfg, &r);
    check_reports(&r, out);
    check_lr(out, "e2e", 1e-3);
    check_lr(out, "pipeline.answer", 1e-3);
    check_lr(out, "pipeline+finetune", 2.5e-4);
  }
  leap_compare_result_free(&r);
  leap_runtime_free(&rt);
  leap_run_config_free(&cfg);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return leap_test_finish();
}
