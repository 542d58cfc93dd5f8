/* train.precision (train/config/run_config.h): auto, fp32 and bf16 parse; the resolved config holds the precision
 * the device gets (auto: bf16 on CUDA, fp32 on the CPU); leap_run_config_act resolves it for the run's final
 * device; bf16 on the CPU is an error naming the key, at load (FILE:LINE, or the --set that wrote it) and at use;
 * anything else is an error listing the choices. Loading needs no device: device: cuda loads on any machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/leap_test.h"
#include "train/config/run_config.h"

static char g_path[64];

/* Writes a minimal config with the given device and train.precision lines ("" for absent) and loads it with the
 * overrides; returns the status, err and cfg filled. */
static leap_status load(leap_run_config *cfg, const char *device, const char *precision, const char *const *sets,
                        int n_sets, leap_error *err) {
  FILE *f = fopen(g_path, "w");
  if (!LEAP_TEST_ASSERT(f != NULL, "cannot write %s", g_path)) return LEAP_ERR_IO;
  fprintf(f,
          "task: precise\n"
          "%s"
          "data:\n"
          "  file: /tmp/leap_precision_unused.h5\n"
          "  fields: {x: {}, y: {}}\n"
          "stages:\n"
          "  - {name: fit, input: x, output: y, network: {arch: mlp, hidden: [4]}}\n"
          "train:\n"
          "  steps: 10\n"
          "%s",
          device, precision);
  fclose(f);
  memset(err, 0, sizeof *err);
  return leap_run_config_load(cfg, g_path, sets, n_sets, err);
}

/* The resolved JSON's "precision" value. */
static bool resolved_is(const leap_run_config *cfg, const char *want) {
  char key[64];
  snprintf(key, sizeof key, "\"precision\": \"%s\"", want);
  return cfg->resolved_json && strstr(cfg->resolved_json, key) != NULL;
}

typedef struct ok_case {
  const char *device, *precision; /* config lines */
  leap_precision parsed;
  const char *resolved;           /* in the resolved config */
  leap_dtype on_cpu, on_cuda;     /* leap_run_config_act for each final device; on_cpu -1: an error */
} ok_case;

static const ok_case g_ok[] = {
    {"device: cpu\n", "", LEAP_PRECISION_AUTO, "fp32", LEAP_F32, LEAP_BF16},
    {"device: cpu\n", "  precision: auto\n", LEAP_PRECISION_AUTO, "fp32", LEAP_F32, LEAP_BF16},
    {"device: cuda\n", "", LEAP_PRECISION_AUTO, "bf16", LEAP_F32, LEAP_BF16},
    {"device: cpu\n", "  precision: fp32\n", LEAP_PRECISION_FP32, "fp32", LEAP_F32, LEAP_F32},
    {"device: cuda\n", "  precision: fp32\n", LEAP_PRECISION_FP32, "fp32", LEAP_F32, LEAP_F32},
    {"device: cuda\n", "  precision: bf16\n", LEAP_PRECISION_BF16, "bf16", (leap_dtype)-1, LEAP_BF16},
};

static void test_resolution(void) {
  for (size_t i = 0; i < sizeof g_ok / sizeof g_ok[0]; i++) {
    const ok_case *k = &g_ok[i];
    leap_run_config cfg;
    leap_error err;
    if (!LEAP_TEST_ASSERT(load(&cfg, k->device, k->precision, NULL, 0, &err) == LEAP_OK, "case %zu: %s", i,
                          err.message))
      continue;
    LEAP_TEST_ASSERT(cfg.train.precision == k->parsed, "case %zu: parsed %d", i, (int)cfg.train.precision);
    LEAP_TEST_ASSERT(resolved_is(&cfg, k->resolved), "case %zu: resolved config %s lacks precision %s", i,
                     cfg.resolved_json, k->resolved);
    leap_dtype act = (leap_dtype)-1;
    leap_status st = leap_run_config_act(&cfg, LEAP_CUDA, &act, &err);
    LEAP_TEST_ASSERT(st == LEAP_OK && act == k->on_cuda, "case %zu on cuda: %s (%s)", i, leap_dtype_name(act),
                     err.message);
    act = (leap_dtype)-1;
    memset(&err, 0, sizeof err);
    st = leap_run_config_act(&cfg, LEAP_CPU, &act, &err);
    if ((int)k->on_cpu < 0)
      LEAP_TEST_ASSERT(st == LEAP_ERR_CONFIG && strstr(err.message, "train.precision") && strstr(err.message, g_path),
                       "case %zu on the cpu: want an error naming the key and the file, got '%s'", i, err.message);
    else
      LEAP_TEST_ASSERT(st == LEAP_OK && act == k->on_cpu, "case %zu on the cpu: %s (%s)", i, leap_dtype_name(act),
                       err.message);
    leap_run_config_free(&cfg);
  }
}

/* The resolved value reloads to itself (a resolved config is a valid config). */
static void test_override(void) {
  static const char *const sets[] = {"train.precision=fp32"};
  leap_run_config cfg;
  leap_error err;
  if (!LEAP_TEST_ASSERT(load(&cfg, "device: cuda\n", "  precision: bf16\n", sets, 1, &err) == LEAP_OK, "%s",
                        err.message))
    return;
  LEAP_TEST_ASSERT(cfg.train.precision == LEAP_PRECISION_FP32 && resolved_is(&cfg, "fp32"),
                   "--set train.precision=fp32 not applied: %s", cfg.resolved_json);
  leap_run_config_free(&cfg);
}

typedef struct bad_case {
  const char *device, *precision;
  const char *set;       /* an override, or NULL */
  const char *expect[3]; /* substrings of the message */
} bad_case;

static const bad_case g_bad[] = {
    {"device: cpu\n", "  precision: bf16\n", NULL, {"key 'train.precision'", ":10:", "needs device cuda"}},
    {"device: cpu\n", "", "train.precision=bf16", {"--set train.precision=bf16", "key 'train.precision'", "cpu"}},
    {"device: cuda\n", "  precision: fp16\n", NULL, {"key 'train.precision'", "auto, fp32, bf16", "'fp16'"}},
    {"device: cuda\n", "  precision: [bf16]\n", NULL, {"key 'train.precision'", "a list", NULL}},
};

static void test_errors(void) {
  for (size_t i = 0; i < sizeof g_bad / sizeof g_bad[0]; i++) {
    const bad_case *k = &g_bad[i];
    leap_run_config cfg;
    leap_error err;
    const char *sets[1] = {k->set};
    leap_status st = load(&cfg, k->device, k->precision, sets, k->set ? 1 : 0, &err);
    bool all = st == LEAP_ERR_CONFIG;
    for (int j = 0; j < 3 && all; j++) all = !k->expect[j] || strstr(err.message, k->expect[j]);
    LEAP_TEST_ASSERT(all, "bad case %zu: got status %d, '%s'", i, (int)st, err.message);
    if (st == LEAP_OK) leap_run_config_free(&cfg);
  }
}

int main(void) {
  snprintf(g_path, sizeof g_path, "/tmp/leap_precision_%d.yaml", (int)getpid());
  test_resolution();
  test_override();
  test_errors();
  unlink(g_path);
  return leap_test_finish();
}
