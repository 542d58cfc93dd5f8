/* `leap compare CONFIG`: end-to-end versus pipeline versus pipeline+finetune on one config, with the reports
 * (train/compare/compare.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: leap compare CONFIG [--device cpu|cuda] [--out DIR] [--fractions 0.1,0.3,1] [--set KEY=VALUE]...\n"
          "\n"
          "Trains the config's end-to-end model, its pipeline (each stage on its own target) and the pipeline\n"
          "fine-tuned end to end, with the same batch and optimizer steps per network, on the same data; evaluates\n"
          "them on the test group against a baseline (the training mean, or the most common answer); and writes\n"
          "DIR/report.json, DIR/report.md and DIR/report.html (DIR: --out, else the config's output.dir).\n"
          "\n"
          "  --device cpu|cuda   where to train (default: the config's, cuda when available)\n"
          "  --out DIR           where the reports and each network's run directory go\n"
          "  --fractions LIST    fractions of the training data to train every mode on for the data efficiency\n"
          "                      curve, comma-separated in (0, 1] (default: the config's compare.fractions)\n"
          "  --set KEY=VALUE     override a config key by its dotted path (repeatable), e.g. --set train.steps=500\n"
          "\n"
          "The data file is generated first when it is absent and the config's data.generate says how.\n");
}

#ifndef LEAP_WITH_TRAIN

int leap_cli_compare(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "leap: compare: this build has no HDF5/libfyaml support\n");
  return 1;
}

#else


#include "train/compare/compare.h"
#include "train/loop/trainer.h"

#define MAX_OVERRIDES 64

typedef struct compare_args {
  const char *config, *out;
  char device_set[32]; /* "device=<--device>", one of the overrides */
  const char *overrides[MAX_OVERRIDES];
  int n_overrides;
  int n_fractions;
  double fractions[LEAP_CFG_MAX_FRACTIONS];
} compare_args;

static bool parse_fractions(const char *text, compare_args *a) {
  const char *p = text;
  a->n_fractions = 0;
  while (*p) {
    char *end;
    double f = strtod(p, &end);
    if (end == p || !(f > 0 && f <= 1) || a->n_fractions == LEAP_CFG_MAX_FRACTIONS || (*end && *end != ',')) {
      fprintf(stderr, "leap: compare: --fractions '%s': expected up to %d comma-separated numbers in (0, 1]\n", text,
              LEAP_CFG_MAX_FRACTIONS);
      return false;
    }
    a->fractions[a->n_fractions++] = f;
    p = *end ? end + 1 : end;
  }
  if (a->n_fractions == 0) fprintf(stderr, "leap: compare: --fractions needs at least one number\n");
  return a->n_fractions > 0;
}

/* -1: go on; otherwise the exit status. */
static int parse_args(int argc, char **argv, compare_args *a) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return usage(stdout), 0;
    if (arg[0] != '-') {
      if (a->config) return leap_cli_usage_error("compare: one CONFIG only ('%s' and '%s')", a->config, arg);
      a->config = arg;
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool known = !strcmp(arg, "--device") || !strcmp(arg, "--out") || !strcmp(arg, "--fractions") ||
                 !strcmp(arg, "--set");
    if (!known) return leap_cli_usage_error("compare: unknown option '%s' (leap compare --help)", arg);
    if (!v) return leap_cli_usage_error("compare: %s needs a value", arg);
    i++;
    if (!strcmp(arg, "--device")) {
      /* An override of the config's device key, so that the resolved config says what really runs. */
      if (leap_device_from_name(v) < 0) return leap_cli_usage_error("compare: --device '%s': expected cpu or cuda", v);
      if (a->n_overrides == MAX_OVERRIDES) return leap_cli_usage_error("compare: more than %d --set", MAX_OVERRIDES);
      snprintf(a->device_set, sizeof a->device_set, "device=%s", v);
      a->overrides[a->n_overrides++] = a->device_set;
    } else if (!strcmp(arg, "--out")) a->out = v;
    else if (!strcmp(arg, "--fractions") && !parse_fractions(v, a)) return 2;
    else if (!strcmp(arg, "--set")) {
      if (a->n_overrides == MAX_OVERRIDES) return leap_cli_usage_error("compare: more than %d --set", MAX_OVERRIDES);
      a->overrides[a->n_overrides++] = v;
    }
  }
  if (!a->config) return leap_cli_usage_error("compare: no CONFIG given (leap compare --help)");
  return -1;
}

static int run(const compare_args *a, leap_run_config *cfg) {
  leap_error err = {0};
  leap_runtime rt;
  if (leap_ensure_data(cfg, &err) || leap_runtime_init(&rt, cfg->device, cfg->train.threads, &err)) {
    fprintf(stderr, "leap: compare: %s\n", err.message);
    return 1;
  }
  const char *out = a->out ? a->out : cfg->out_dir[0] ? cfg->out_dir : "runs/compare";
  leap_compare_options o = {.out_dir = out, .n_fractions = a->n_fractions};
  memcpy(o.fractions, a->fractions, sizeof o.fractions);
  leap_compare_result res;
  leap_status st = leap_compare_run(cfg, &rt, &o, &res, &err);
  if (st == LEAP_OK) st = leap_compare_write_reports(&res, out, &err);
  if (st == LEAP_OK) {
    leap_compare_print_table(stdout, &res);
    printf("\nreports: %s/report.html, %s/report.md, %s/report.json (%.0f s)\n", out, out, out, res.seconds);
  } else {
    fprintf(stderr, "leap: compare: %s\n", err.message);
  }
  leap_compare_result_free(&res);
  leap_runtime_free(&rt);
  return st == LEAP_OK ? 0 : 1;
}

int leap_cli_compare(int argc, char **argv) {
  compare_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0) return rc;
  leap_run_config cfg;
  leap_error err = {0};
  memset(&cfg, 0, sizeof cfg);
  if (leap_run_config_load(&cfg, a.config, a.overrides, a.n_overrides, &err)) {
    fprintf(stderr, "leap: compare: %s\n", err.message);
    leap_run_config_free(&cfg);
    return 1;
  }
  rc = run(&a, &cfg);
  leap_run_config_free(&cfg);
  return rc;
}

#endif
