/* Shared by the comparison tests: parses report.json back with libfyaml (in JSON mode) and checks that it has
 * every field of the schema in shared/DESIGN.md with the right type. Static functions only (a header for tests). */
#ifndef LEAP_TESTS_TRAIN_COMPARE_REPORT_SCHEMA_H
#define LEAP_TESTS_TRAIN_COMPARE_REPORT_SCHEMA_H

#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/leap_test.h"

static struct fy_node *schema_get(struct fy_node *map, const char *key) {
  return map && fy_node_is_mapping(map) ? fy_node_mapping_lookup_by_string(map, key, FY_NT) : NULL;
}

/* A JSON number (plain scalar that parses fully); null passes when allow_null. */
static bool schema_is_number(struct fy_node *n, bool allow_null) {
  if (!n || !fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN) return false;
  const char *s = fy_node_get_scalar0(n);
  if (!s) return false;
  if (!strcmp(s, "null")) return allow_null;
  char *end;
  strtod(s, &end);
  return *s && !*end;
}

static bool schema_is_string(struct fy_node *n) {
  return n && fy_node_is_scalar(n) && fy_node_get_style(n) == FYNS_DOUBLE_QUOTED;
}

static bool schema_is_bool(struct fy_node *n) {
  if (!n || !fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN) return false;
  const char *s = fy_node_get_scalar0(n);
  return s && (!strcmp(s, "true") || !strcmp(s, "false"));
}

static void schema_expect_number(struct fy_node *map, const char *key, const char *where, bool allow_null) {
  LEAP_TEST_ASSERT(schema_is_number(schema_get(map, key), allow_null), "%s: '%s' should be a number", where, key);
}

/* A metrics object holding each named metric as a number. */
static void schema_expect_metrics(struct fy_node *m, const char *const *names, int n, const char *where) {
  LEAP_TEST_ASSERT(m && fy_node_is_mapping(m), "%s: metrics should be an object", where);
  for (int i = 0; i < n; i++) schema_expect_number(m, names[i], where, false);
}

static void schema_expect_curve(struct fy_node *c, const char *where) {
  bool ok = c && fy_node_is_sequence(c) && fy_node_sequence_item_count(c) > 0;
  for (int i = 0; ok && i < fy_node_sequence_item_count(c); i++) {
    struct fy_node *p = fy_node_sequence_get_by_index(c, i);
    ok = p && fy_node_is_sequence(p) && fy_node_sequence_item_count(p) == 2 &&
         schema_is_number(fy_node_sequence_get_by_index(p, 0), false) &&
         schema_is_number(fy_node_sequence_get_by_index(p, 1), false);
  }
  LEAP_TEST_ASSERT(ok, "%s: loss_curve should be a non-empty list of [step, loss]", where);
}

static void schema_expect_mode(struct fy_node *mode, const char *name, const char *const *metrics, int n_metrics,
                               const char *throughput_key) {
  LEAP_TEST_ASSERT(mode && fy_node_is_mapping(mode), "modes.%s should be an object", name);
  schema_expect_metrics(schema_get(mode, "metrics"), metrics, n_metrics, name);
  static const char *const numbers[] = {"success_rate", "latency_ms_batch1", "params", "train_seconds",
                                        "samples_seen", "steps"};
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) schema_expect_number(mode, numbers[i], name, false);
  schema_expect_number(mode, throughput_key, name, false);
  schema_expect_curve(schema_get(mode, "loss_curve"), name);
  struct fy_node *margin = schema_get(mode, "baseline_margin");
  for (int i = 0; i < n_metrics; i++) {
    struct fy_node *g = schema_get(margin, metrics[i]);
    LEAP_TEST_ASSERT(g && fy_node_is_mapping(g), "%s: baseline_margin.%s should be an object", name, metrics[i]);
    schema_expect_number(g, "difference", name, false);
    schema_expect_number(g, "gap_closed", name, false);
    schema_expect_number(g, "ratio", name, true);
  }
}

/* Checks the whole report; returns the parsed document (free with fy_document_destroy) or NULL. */
static struct fy_document *schema_check_report(const char *json, const char *task, const char *headline,
                                               const char *const *metrics, int n_metrics, int n_stages,
                                               const char *const *stage_names, int n_fractions) {
  struct fy_parse_cfg pc = {NULL, FYPCF_QUIET | FYPCF_JSON_FORCE, NULL, NULL};
  struct fy_document *doc = fy_document_build_from_string(&pc, json, FY_NT);
  LEAP_TEST_ASSERT(doc != NULL, "report.json does not parse");
  if (!doc) return NULL;
  struct fy_node *root = fy_document_root(doc);
  struct fy_node *t = schema_get(root, "task");
  LEAP_TEST_ASSERT(schema_is_string(t) && !strcmp(fy_node_get_scalar0(t), task), "task should be \"%s\"", task);
  struct fy_node *config = schema_get(root, "config");
  LEAP_TEST_ASSERT(config && fy_node_is_mapping(config), "config should be an object");
  struct fy_node *metric = schema_get(root, "metric");
  LEAP_TEST_ASSERT(schema_is_string(schema_get(metric, "name")) &&
                       !strcmp(fy_node_get_scalar0(schema_get(metric, "name")), headline) &&
                       schema_is_bool(schema_get(metric, "higher_is_better")),
                   "metric should be {name: %s, higher_is_better: bool}", headline);
  struct fy_node *baseline = schema_get(root, "baseline");
  LEAP_TEST_ASSERT(schema_is_string(schema_get(baseline, "name")), "baseline.name should be a string");
  schema_expect_metrics(schema_get(baseline, "metrics"), metrics, n_metrics, "baseline");
  struct fy_node *modes = schema_get(root, "modes");
  static const char *const mode_names[] = {"e2e", "pipeline", "pipeline+finetune"};
  for (int m = 0; m < 3; m++)
    schema_expect_mode(schema_get(modes, mode_names[m]), mode_names[m], metrics, n_metrics, "throughput_batch64");
  struct fy_node *stages = schema_get(schema_get(modes, "pipeline"), "stages");
  LEAP_TEST_ASSERT(stages && fy_node_is_sequence(stages) && fy_node_sequence_item_count(stages) == n_stages,
                   "modes.pipeline.stages should list %d stages", n_stages);
  for (int k = 0; stages && k < n_stages && k < fy_node_sequence_item_count(stages); k++) {
    struct fy_node *s = fy_node_sequence_get_by_index(stages, k);
    struct fy_node *name = schema_get(s, "name");
    LEAP_TEST_ASSERT(schema_is_string(name) && !strcmp(fy_node_get_scalar0(name), stage_names[k]),
                     "stage %d should be named %s", k, stage_names[k]);
    struct fy_node *mt = schema_get(s, "metrics_true_input"), *mc = schema_get(s, "metrics_chained");
    LEAP_TEST_ASSERT(mt && fy_node_is_mapping(mt) && fy_node_mapping_item_count(mt) > 0 && mc &&
                         fy_node_is_mapping(mc) && fy_node_mapping_item_count(mc) == fy_node_mapping_item_count(mt),
                     "stage %d: metrics_true_input and metrics_chained should be objects with the same metrics", k);
  }
  struct fy_node *de = schema_get(root, "data_efficiency");
  LEAP_TEST_ASSERT(de && fy_node_is_sequence(de) && fy_node_sequence_item_count(de) == n_fractions,
                   "data_efficiency should list %d fractions", n_fractions);
  for (int f = 0; de && f < fy_node_sequence_item_count(de); f++) {
    struct fy_node *e = fy_node_sequence_get_by_index(de, f);
    schema_expect_number(e, "fraction", "data_efficiency", false);
    for (int m = 0; m < 3; m++) schema_expect_number(e, mode_names[m], "data_efficiency", false);
  }
  return doc;
}

#endif
