/* report.json: the schema of shared/DESIGN.md ("Files", comparison report), with every mode's margin over the
 * baseline, each network's own training figures and the run's environment added. All escaping goes through
 * leap_strbuf_json_string / leap_strbuf_json_number. */
#include <math.h>
#include <string.h>

#include "train/compare/compare.h"

/* Starts "key": inside an object, with the comma every member but the first needs. */
static void key(leap_strbuf *sb, bool *first, const char *name) {
  leap_strbuf_puts(sb, *first ? "" : ", ");
  *first = false;
  leap_strbuf_json_string(sb, name);
  leap_strbuf_puts(sb, ": ");
}

static void key_number(leap_strbuf *sb, bool *first, const char *name, double v) {
  key(sb, first, name);
  leap_strbuf_json_number(sb, v);
}

static void metrics_object(leap_strbuf *sb, const leap_metrics *m) {
  bool first = true;
  leap_strbuf_puts(sb, "{");
  for (int i = 0; i < m->n; i++) key_number(sb, &first, m->defs[i]->name, m->values[i]);
  leap_strbuf_puts(sb, "}");
}

static void curve_array(leap_strbuf *sb, const leap_compare_curve *c) {
  leap_strbuf_puts(sb, "[");
  for (int i = 0; i < c->n; i++) {
    leap_strbuf_puts(sb, i ? ", [" : "[");
    leap_strbuf_json_number(sb, c->points[i][0]);
    leap_strbuf_puts(sb, ", ");
    leap_strbuf_json_number(sb, c->points[i][1]);
    leap_strbuf_puts(sb, "]");
  }
  leap_strbuf_puts(sb, "]");
}

static void training_members(leap_strbuf *sb, bool *first, const leap_compare_training *t) {
  key_number(sb, first, "train_seconds", t->seconds);
  key_number(sb, first, "samples_seen", (double)t->samples_seen);
  key_number(sb, first, "steps", (double)t->steps);
  key_number(sb, first, "nonfinite_skips", (double)t->nonfinite_skips);
}

static void margin_object(leap_strbuf *sb, const leap_compare_result *res, const leap_metrics *m) {
  bool first = true;
  leap_strbuf_puts(sb, "{");
  for (int i = 0; i < m->n; i++) {
    double base = leap_metrics_get(&res->baseline, m->defs[i]->name);
    leap_compare_margin g = leap_compare_margin_of(m->defs[i], m->values[i], base);
    bool inner = true;
    key(sb, &first, m->defs[i]->name);
    leap_strbuf_puts(sb, "{");
    key_number(sb, &inner, "difference", g.difference);
    key_number(sb, &inner, "ratio", g.ratio);
    key_number(sb, &inner, "gap_closed", g.gap_closed);
    leap_strbuf_puts(sb, "}");
  }
  leap_strbuf_puts(sb, "}");
}

static void stage_object(leap_strbuf *sb, const leap_compare_stage *s) {
  bool first = true;
  leap_strbuf_puts(sb, "{");
  key(sb, &first, "name");
  leap_strbuf_json_string(sb, s->name);
  key(sb, &first, "target");
  leap_strbuf_json_string(sb, s->target);
  key(sb, &first, "metrics_true_input");
  metrics_object(sb, &s->metrics_true_input);
  key(sb, &first, "metrics_chained");
  metrics_object(sb, &s->metrics_chained);
  key_number(sb, &first, "params", (double)s->params);
  training_members(sb, &first, &s->training);
  key(sb, &first, "loss_curve");
  curve_array(sb, &s->training.curve);
  leap_strbuf_puts(sb, "}");
}

static void mode_object(leap_strbuf *sb, const leap_compare_result *res, int mode) {
  const leap_compare_mode_result *m = &res->modes[mode];
  bool first = true;
  char name[48];
  leap_strbuf_puts(sb, "{");
  key(sb, &first, "metrics");
  metrics_object(sb, &m->metrics);
  const char *success = res->task_def ? res->task_def->success_metric : NULL;
  key_number(sb, &first, "success_rate", success ? leap_metrics_get(&m->metrics, success) : NAN);
  key_number(sb, &first, "latency_ms_batch1", m->latency_ms_batch1);
  snprintf(name, sizeof name, "throughput_batch%lld", (long long)res->latency_batch);
  key_number(sb, &first, name, m->throughput);
  key_number(sb, &first, "params", (double)m->params);
  training_members(sb, &first, &m->training);
  key(sb, &first, "loss_curve");
  curve_array(sb, &m->training.curve);
  key(sb, &first, "baseline_margin");
  margin_object(sb, res, &m->metrics);
  if (mode == LEAP_MODE_FINETUNE) {
    key_number(sb, &first, "finetune_steps", (double)m->own.steps);
    key_number(sb, &first, "finetune_seconds", m->own.seconds);
    key_number(sb, &first, "finetune_samples_seen", (double)m->own.samples_seen);
  }
  if (m->n_stages > 0) {
    key(sb, &first, "stages");
    leap_strbuf_puts(sb, "[");
    for (int s = 0; s < m->n_stages; s++) {
      leap_strbuf_puts(sb, s ? ",\n      " : "\n      ");
      stage_object(sb, &m->stages[s]);
    }
    leap_strbuf_puts(sb, "]");
  }
  leap_strbuf_puts(sb, "}");
}

static void data_efficiency_array(leap_strbuf *sb, const leap_compare_result *res) {
  leap_strbuf_puts(sb, "[");
  for (int f = 0; f < res->n_fractions; f++) {
    const leap_compare_fraction *fr = &res->fractions[f];
    bool first = true;
    leap_strbuf_puts(sb, f ? ",\n    {" : "\n    {");
    key_number(sb, &first, "fraction", fr->fraction);
    key_number(sb, &first, "train_samples", (double)fr->train_samples);
    for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) key_number(sb, &first, leap_compare_mode_name(m), fr->headline[m]);
    leap_strbuf_puts(sb, "}");
  }
  leap_strbuf_puts(sb, "]");
}

void leap_compare_report_json(leap_strbuf *sb, const leap_compare_result *res) {
  bool first = true;
  leap_strbuf_puts(sb, "{");
  key(sb, &first, "task");
  leap_strbuf_json_string(sb, res->task);
  leap_strbuf_puts(sb, ",\n \"config\": ");
  leap_strbuf_puts(sb, res->config_json && *res->config_json ? res->config_json : "null");
  leap_strbuf_puts(sb, ",\n \"metric\": {\"name\": ");
  leap_strbuf_json_string(sb, res->headline ? res->headline->name : "");
  leap_strbuf_printf(sb, ", \"higher_is_better\": %s, \"target\": ",
                     res->headline && res->headline->higher_is_better ? "true" : "false");
  leap_strbuf_json_string(sb, res->target);
  leap_strbuf_puts(sb, "},\n \"baseline\": {\"name\": ");
  leap_strbuf_json_string(sb, res->baseline_name ? res->baseline_name : "");
  leap_strbuf_puts(sb, ", \"metrics\": ");
  metrics_object(sb, &res->baseline);
  leap_strbuf_puts(sb, "},\n \"modes\": {");
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    leap_strbuf_puts(sb, m ? ",\n  " : "\n  ");
    leap_strbuf_json_string(sb, leap_compare_mode_name(m));
    leap_strbuf_puts(sb, ": ");
    mode_object(sb, res, m);
  }
  leap_strbuf_puts(sb, "},\n \"data_efficiency\": ");
  data_efficiency_array(sb, res);
  leap_strbuf_puts(sb, ",\n \"environment\": {\"device\": ");
  leap_strbuf_json_string(sb, res->device);
  leap_strbuf_printf(sb, ", \"threads\": %d, \"train_samples\": %lld, \"test_samples\": %lld, \"seconds\": ",
                     res->threads, (long long)res->n_train, (long long)res->n_test);
  leap_strbuf_json_number(sb, res->seconds);
  leap_strbuf_puts(sb, "}}\n");
}
