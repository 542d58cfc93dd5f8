/* leap train and leap eval: train one network a config describes (the end-to-end chain, or one pipeline stage) and
 * evaluate saved weights on the test group. Both need leap_train (HDF5 and libfyaml). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/cli.h"

#ifndef LEAP_WITH_TRAIN

int leap_cli_train(int argc, char **argv) {
  fprintf(stderr, "leap: train: this build has no HDF5/libfyaml support\n");
  return 1;
}

int leap_cli_eval(int argc, char **argv) {
  fprintf(stderr, "leap: train: this build has no HDF5/libfyaml support\n");
  return 1;
}

#else

#include <unistd.h>

#include "train/loop/progress.h"
#include "train/loop/build.h"
#include "train/loop/loop_internal.h"
#include "train/loop/trainer.h"
#include "train/tasks/task.h"

#define MAX_OVERRIDES 64

typedef struct cmd_options {
  const char *config, *out, *stage, *mode, *checkpoint;
  char device_set[32]; /* "device=<--device>", one of the overrides */
  const char *overrides[MAX_OVERRIDES];
  int n_overrides;
} cmd_options;

static void train_usage(FILE *out) {
  fprintf(out,
          "usage: leap train CONFIG [--device cpu|cuda] [--set KEY=VALUE]... [--out RUN_DIR]\n"
          "                  [--stage NAME | --mode e2e]\n"
          "Trains the end-to-end model of CONFIG (default) or one pipeline stage (--stage), evaluating on the val\n"
          "group every train.eval_every steps. Writes RUN_DIR (default output.dir/<e2e|pipeline.STAGE>) with\n"
          "metrics.jsonl, config.json and checkpoints/{best,latest}/{model.safetensors,prep.json}. Generates the\n"
          "data file first when it is absent and data.generate is set.\n");
}

static void eval_usage(FILE *out) {
  fprintf(out,
          "usage: leap eval CONFIG --checkpoint DIR [--stage NAME | --mode e2e] [--device cpu|cuda]\n"
          "                 [--set KEY=VALUE]...\n"
          "Loads the weights in DIR (a checkpoint directory holding model.safetensors, or a run directory, whose\n"
          "checkpoints/best is used) and prints the loss and the task's metrics on the test group.\n");
}

/* Parses argv into o; returns -1 to go on, else the exit status (0 after --help, 2 on bad usage). */
static int parse_options(int argc, char **argv, bool eval, cmd_options *o) {
  const char *cmd = eval ? "eval" : "train";
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return eval ? eval_usage(stdout) : train_usage(stdout), 0;
    if (a[0] != '-') {
      if (o->config) return leap_cli_usage_error("%s: more than one CONFIG ('%s', '%s')", cmd, o->config, a);
      o->config = a;
      continue;
    }
    if (!strcmp(a, "--resume") && !eval)
      return fprintf(stderr, "leap: train: --resume is not yet supported (exact resume comes later)\n"), 2;
    if (i + 1 >= argc) return leap_cli_usage_error("%s: %s needs a value (leap %s --help)", cmd, a, cmd);
    const char *v = argv[++i];
    if (!strcmp(a, "--set")) {
      if (o->n_overrides == MAX_OVERRIDES) return leap_cli_usage_error("%s: at most %d --set", cmd, MAX_OVERRIDES);
      o->overrides[o->n_overrides++] = v;
    } else if (!strcmp(a, "--device")) {
      /* An override of the config's device key, so that the resolved config (and the precision that follows from
       * the device) says what really runs. */
      if (leap_device_from_name(v) < 0) return leap_cli_usage_error("%s: --device '%s': expected cpu or cuda", cmd, v);
      if (o->n_overrides == MAX_OVERRIDES) return leap_cli_usage_error("%s: at most %d --set", cmd, MAX_OVERRIDES);
      snprintf(o->device_set, sizeof o->device_set, "device=%s", v);
      o->overrides[o->n_overrides++] = o->device_set;
    } else if (!strcmp(a, "--stage")) o->stage = v;
    else if (!strcmp(a, "--mode")) o->mode = v;
    else if (!strcmp(a, "--out") && !eval) o->out = v;
    else if (!strcmp(a, "--checkpoint") && eval) o->checkpoint = v;
    else return leap_cli_usage_error("%s: unknown option '%s' (leap %s --help)", cmd, a, cmd);
  }
  if (!o->config) return leap_cli_usage_error("%s: no CONFIG given (leap %s --help)", cmd, cmd);
  if (o->stage && o->mode) return leap_cli_usage_error("%s: give --stage or --mode, not both", cmd);
  if (o->mode && strcmp(o->mode, "e2e"))
    return leap_cli_usage_error("%s: --mode '%s': only e2e is trained alone (leap compare runs the others)", cmd,
                                o->mode);
  if (eval && !o->checkpoint) return leap_cli_usage_error("eval: --checkpoint DIR is required");
  return -1;
}

/* Loads the config (--device is one of its overrides), makes the data if needed and the runtime. Prints the error
 * and returns false on failure. */
static bool prepare(const cmd_options *o, const char *cmd, leap_run_config *cfg, leap_runtime *rt) {
  leap_error err = {0};
  memset(cfg, 0, sizeof *cfg);
  if (leap_run_config_load(cfg, o->config, o->overrides, o->n_overrides, &err))
    return fprintf(stderr, "leap: %s: %s\n", cmd, err.message), false;
  if (leap_ensure_data(cfg, &err) || leap_runtime_init(rt, cfg->device, cfg->train.threads, &err)) {
    fprintf(stderr, "leap: %s: %s\n", cmd, err.message);
    return leap_run_config_free(cfg), false;
  }
  return true;
}

static leap_status build_chain(const cmd_options *o, const leap_run_config *cfg, leap_chain_model *m,
                               leap_error *err) {
  if (!o->stage) return leap_chain_build_e2e(m, cfg, cfg->device, err);
  const leap_stage_config *s = leap_run_config_stage(cfg, o->stage);
  if (!s) {
    char names[LEAP_CFG_MAX_STAGES * (LEAP_CFG_NAME + 2)] = "";
    for (int i = 0; i < cfg->n_stages; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", cfg->stages[i].name);
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: no stage '%s' (stages: %s)", cfg->source, o->stage, names);
  }
  return leap_chain_build_stage(m, cfg, (int)(s - cfg->stages), cfg->device, err);
}

static leap_status write_config_json(const char *run_dir, const leap_run_config *cfg, leap_error *err) {
  if (!cfg->resolved_json) return LEAP_OK;
  char path[4096];
  if (leap__path_join(path, sizeof path, run_dir, "config.json", err) || leap__make_dirs(run_dir, err))
    return err->status;
  return leap__write_file_atomic(path, cfg->resolved_json, strlen(cfg->resolved_json), err);
}

static void print_result(const leap_chain *chain, const leap_train_result *res, const char *run_dir) {
  printf("%s: %lld steps%s in %.1f s (%lld samples, %lld non-finite steps skipped); final training loss %.5g, "
         "best val_loss %.5g at step %lld\nweights: %s/checkpoints/{best,latest}\n", chain->name,
         (long long)res->steps_done, res->stopped_early ? " (stopped early)" : "", res->seconds,
         (long long)res->samples_seen, (long long)res->nonfinite_skips, res->final_train_loss, res->best_val_loss,
         (long long)res->best_step, run_dir);
}

static int train_main(const cmd_options *o, leap_run_config *cfg, leap_runtime *rt) {
  leap_error err = {0};
  leap_chain_model m;
  if (build_chain(o, cfg, &m, &err)) return fprintf(stderr, "leap: train: %s\n", err.message), 1;
  char run_dir[4096];
  leap_train_result res;
  leap_status st = LEAP_OK;
  if (o->out) snprintf(run_dir, sizeof run_dir, "%s", o->out);
  else st = leap__path_join(run_dir, sizeof run_dir, cfg->out_dir[0] ? cfg->out_dir : ".", m.chain.name, &err);
  leap_train_options to = {cfg->train.steps, 1.0, run_dir, m.chain.name, false};
  if (!st && !write_config_json(run_dir, cfg, &err)) st = leap_train_chain(cfg, rt, &m.chain, &to, &res, &err);
  if (st) fprintf(stderr, "leap: train: %s\n", err.message);
  else print_result(&m.chain, &res, run_dir);
  leap_chain_model_free(&m);
  return st ? 1 : 0;
}

int leap_cli_train(int argc, char **argv) {
  cmd_options o;
  int rc = parse_options(argc, argv, false, &o);
  if (rc >= 0) return rc;
  leap_run_config cfg;
  leap_runtime rt;
  if (!prepare(&o, "train", &cfg, &rt)) return 1;
  rc = train_main(&o, &cfg, &rt);
  leap_runtime_free(&rt);
  leap_run_config_free(&cfg);
  return rc;
}

/* DIR itself when it holds model.safetensors, else DIR/checkpoints/best (a run directory). */
static leap_status checkpoint_dir(const char *dir, char *out, size_t size, leap_error *err) {
  char probe[4096];
  if (leap__path_join(probe, sizeof probe, dir, "model.safetensors", err)) return err->status;
  if (access(probe, F_OK) == 0) return leap__path_join(out, size, dir, ".", err);
  return leap__path_join(out, size, dir, "checkpoints/best", err);
}

/* The test group's loss and the task's metrics of the chain's target (train/tasks). */
static leap_status eval_test(const leap_run_config *cfg, leap_runtime *rt, const leap_chain *chain, double *loss,
                             leap_metrics *metrics, leap_error *err) {
  leap_host_array x[LEAP_CHAIN_MAX_INPUTS] = {{0}}, y = {0}, pred = {0};
  const char *group = cfg->data.test_group;
  int64_t batch = cfg->train.batch > 0 ? cfg->train.batch : 64;
  leap_ctx ctx;
  leap_ctx_init(&ctx, rt, cfg->train.seed);
  leap_ctx_set_precision(&ctx, chain->act);
  bool read = true;
  for (int i = 0; i < chain->n_inputs && read; i++) read = !leap_read_field(cfg, group, chain->inputs[i], &x[i], err);
  if (read && !leap_read_field(cfg, group, chain->target, &y, err) &&
      !leap_chain_eval_loss(&ctx, chain, x, &y, batch, loss, err) &&
      !leap_chain_predict(rt, chain, x, batch, &pred, err))
    leap_task_metrics(leap_task_find(cfg->task), chain->target, &pred, &y, metrics, err);
  leap_ctx_free(&ctx);
  for (int i = 0; i < LEAP_CHAIN_MAX_INPUTS; i++) leap_host_array_free(&x[i]);
  leap_host_array_free(&y);
  leap_host_array_free(&pred);
  return err->status;
}

static void print_metrics(const leap_metrics *m) {
  for (int i = 0; i < m->n; i++) {
    const leap_metric_def *d = m->defs[i];
    if (d->is_rate) printf("  %-28s %.2f%%\n", d->label, 100.0 * m->values[i]);
    else printf("  %-28s %.6g\n", d->label, m->values[i]);
  }
}

static int eval_main(const cmd_options *o, leap_run_config *cfg, leap_runtime *rt) {
  leap_error err = {0};
  leap_chain_model m;
  if (build_chain(o, cfg, &m, &err)) return fprintf(stderr, "leap: eval: %s\n", err.message), 1;
  char dir[4096];
  double loss = 0;
  leap_metrics metrics = {0};
  int rc = 0;
  if (checkpoint_dir(o->checkpoint, dir, sizeof dir, &err) || leap_load_weights(dir, &m.params, &err) ||
      eval_test(cfg, rt, &m.chain, &loss, &metrics, &err)) {
    fprintf(stderr, "leap: eval: %s\n", err.message);
    rc = 1;
  } else {
    printf("%s on group '%s' of %s (weights: %s)\n  %-28s %.6g\n", m.chain.name, cfg->data.test_group,
           cfg->data.file, dir, m.chain.loss == LEAP_LOSS_CROSS_ENTROPY ? "loss (cross-entropy)" : "loss (mse)", loss);
    print_metrics(&metrics);
  }
  leap_chain_model_free(&m);
  return rc;
}

int leap_cli_eval(int argc, char **argv) {
  cmd_options o;
  int rc = parse_options(argc, argv, true, &o);
  if (rc >= 0) return rc;
  leap_run_config cfg;
  leap_runtime rt;
  if (!prepare(&o, "eval", &cfg, &rt)) return 1;
  rc = eval_main(&o, &cfg, &rt);
  leap_runtime_free(&rt);
  leap_run_config_free(&cfg);
  return rc;
}

#endif
