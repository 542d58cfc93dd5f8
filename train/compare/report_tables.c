/* The report's tables, written once for both report.md (Markdown) and report.html (HTML tables), and the short
 * table printed at the end of `leap compare`. */
#include <math.h>
#include <string.h>

#include "train/compare/compare_internal.h"

/* Where a table goes: Markdown pipes or HTML elements. Cells are escaped for HTML. */
typedef struct table {
  leap_strbuf *sb;
  bool html;
  int cells; /* in the current row */
} table;

static void table_begin(table *t, const char *title, const char *note) {
  if (t->html) {
    leap_strbuf_puts(t->sb, "<h2>");
    leap_strbuf_xml_text(t->sb, title);
    leap_strbuf_puts(t->sb, "</h2>\n");
    if (note) {
      leap_strbuf_puts(t->sb, "<p>");
      leap_strbuf_xml_text(t->sb, note);
      leap_strbuf_puts(t->sb, "</p>\n");
    }
    leap_strbuf_puts(t->sb, "<table>\n");
  } else {
    leap_strbuf_printf(t->sb, "\n## %s\n\n", title);
    if (note) leap_strbuf_printf(t->sb, "%s\n\n", note);
  }
}

static void cell(table *t, const char *text) {
  if (t->html) {
    leap_strbuf_puts(t->sb, t->cells ? "<td>" : "<tr><td>");
    leap_strbuf_xml_text(t->sb, text);
    leap_strbuf_puts(t->sb, "</td>");
  } else {
    leap_strbuf_printf(t->sb, t->cells ? " %s |" : "| %s |", text);
  }
  t->cells++;
}

static void row_end(table *t) {
  leap_strbuf_puts(t->sb, t->html ? "</tr>\n" : "\n");
  t->cells = 0;
}

/* The header row: Markdown adds its separator line (first column left-aligned, the rest right-aligned). */
static void header_end(table *t) {
  int n = t->cells;
  if (t->html) {
    /* Header cells were written as <td>; the style sheet bolds the first row. */
    row_end(t);
    return;
  }
  leap_strbuf_puts(t->sb, "\n|---|");
  for (int i = 1; i < n; i++) leap_strbuf_puts(t->sb, "---:|");
  leap_strbuf_puts(t->sb, "\n");
  t->cells = 0;
}

static void table_end(table *t) {
  if (t->html) leap_strbuf_puts(t->sb, "</table>\n");
}

static void metric_cells(table *t, const leap_metrics *m) {
  char v[32];
  for (int i = 0; i < m->n; i++) {
    leap__compare_format_value(v, sizeof v, m->defs[i], m->values[i]);
    cell(t, v);
  }
}

static void final_metrics(table *t, const leap_compare_result *res) {
  char title[128], note[160], name[96];
  snprintf(title, sizeof title, "Final target '%s' on the test group (%lld samples)", res->target,
           (long long)res->n_test);
  snprintf(note, sizeof note, "Headline metric: %s (%s is better).", res->headline ? res->headline->name : "-",
           res->headline && res->headline->higher_is_better ? "higher" : "lower");
  table_begin(t, title, note);
  cell(t, "mode");
  for (int i = 0; i < res->baseline.n; i++) cell(t, res->baseline.defs[i]->label);
  header_end(t);
  snprintf(name, sizeof name, "baseline (%s)", res->baseline_name ? res->baseline_name : "-");
  cell(t, name);
  metric_cells(t, &res->baseline);
  row_end(t);
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    cell(t, leap_compare_mode_name(m));
    metric_cells(t, &res->modes[m].metrics);
    row_end(t);
  }
  table_end(t);
}

static void baseline_margins(table *t, const leap_compare_result *res) {
  table_begin(t, "Against the baseline",
              "Each cell: the mode's value divided by the baseline's (for rates, the difference in percentage "
              "points), and the share of the gap between the baseline and a perfect score that the mode closes "
              "(100%: perfect, 0%: no better than the baseline).");
  cell(t, "mode");
  for (int i = 0; i < res->baseline.n; i++) cell(t, res->baseline.defs[i]->label);
  header_end(t);
  char v[64];
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    const leap_metrics *mm = &res->modes[m].metrics;
    cell(t, leap_compare_mode_name(m));
    for (int i = 0; i < mm->n; i++) {
      leap_compare_margin g = leap_compare_margin_of(mm->defs[i], mm->values[i],
                                                     leap_metrics_get(&res->baseline, mm->defs[i]->name));
      if (mm->defs[i]->is_rate)
        snprintf(v, sizeof v, "%+.1f points, %.0f%% of the gap", 100 * g.difference, 100 * g.gap_closed);
      else snprintf(v, sizeof v, "%.3gx, %.0f%% of the gap", g.ratio, 100 * g.gap_closed);
      cell(t, v);
    }
    row_end(t);
  }
  table_end(t);
}

static void stage_table(table *t, const leap_compare_result *res) {
  const leap_compare_mode_result *p = &res->modes[LEAP_MODE_PIPELINE];
  table_begin(t, "Pipeline stages: true inputs versus chained predictions",
              "Each stage fed the true input from the dataset, and fed the previous stage's predictions as the "
              "pipeline runs: the difference is the error that accumulates along the chain.");
  static const char *const head[] = {"stage", "target", "metric", "fed the true input", "fed the predictions"};
  for (int i = 0; i < 5; i++) cell(t, head[i]);
  header_end(t);
  char a[32], b[32];
  for (int k = 0; k < p->n_stages; k++) {
    const leap_compare_stage *s = &p->stages[k];
    for (int i = 0; i < s->metrics_true_input.n; i++) {
      const leap_metric_def *d = s->metrics_true_input.defs[i];
      leap__compare_format_value(a, sizeof a, d, s->metrics_true_input.values[i]);
      leap__compare_format_value(b, sizeof b, d, leap_metrics_get(&s->metrics_chained, d->name));
      const char *row[5] = {s->name, s->target, d->label, a, b};
      for (int c = 0; c < 5; c++) cell(t, row[c]);
      row_end(t);
    }
  }
  table_end(t);
}

static void cost_table(table *t, const leap_compare_result *res) {
  char through[64];
  snprintf(through, sizeof through, "throughput, batch %lld (samples/s)", (long long)res->latency_batch);
  table_begin(t, "Cost",
              "Every network trained with the same batch and steps. pipeline: every stage, and the hand-off between "
              "them; pipeline+finetune: the pipeline's training plus its own joint steps.");
  const char *head[] = {"mode", "parameters", "optimizer steps", "samples seen", "training (s)",
                        "latency, batch 1 (ms)", through};
  for (int i = 0; i < 7; i++) cell(t, head[i]);
  header_end(t);
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    const leap_compare_mode_result *r = &res->modes[m];
    char v[6][32];
    leap__compare_format_count(v[0], sizeof v[0], r->params);
    snprintf(v[1], sizeof v[1], "%lld", (long long)r->training.steps);
    leap__compare_format_count(v[2], sizeof v[2], r->training.samples_seen);
    snprintf(v[3], sizeof v[3], "%.1f", r->training.seconds);
    snprintf(v[4], sizeof v[4], "%.3g", r->latency_ms_batch1);
    snprintf(v[5], sizeof v[5], "%.0f", r->throughput);
    cell(t, leap_compare_mode_name(m));
    for (int i = 0; i < 6; i++) cell(t, v[i]);
    row_end(t);
  }
  table_end(t);
}

static void efficiency_table(table *t, const leap_compare_result *res) {
  char title[128];
  snprintf(title, sizeof title, "Data efficiency (%s)", res->headline ? res->headline->label : "headline");
  table_begin(t, title, "Each mode trained again, with the same steps, on the first fraction of the training data.");
  cell(t, "fraction");
  cell(t, "training samples");
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) cell(t, leap_compare_mode_name(m));
  header_end(t);
  char v[32];
  for (int f = 0; f < res->n_fractions; f++) {
    const leap_compare_fraction *fr = &res->fractions[f];
    snprintf(v, sizeof v, "%g", fr->fraction);
    cell(t, v);
    snprintf(v, sizeof v, "%lld", (long long)fr->train_samples);
    cell(t, v);
    for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
      leap__compare_format_value(v, sizeof v, res->headline, fr->headline[m]);
      cell(t, v);
    }
    row_end(t);
  }
  table_end(t);
}

void leap__compare_tables(leap_strbuf *sb, const leap_compare_result *res, bool html) {
  table t = {sb, html, 0};
  final_metrics(&t, res);
  baseline_margins(&t, res);
  stage_table(&t, res);
  cost_table(&t, res);
  efficiency_table(&t, res);
}

void leap_compare_report_md(leap_strbuf *sb, const leap_compare_result *res) {
  leap_strbuf_printf(sb, "# leap compare: %s\n\nConfig `%s`; %s, %d threads; %lld training and %lld test samples; "
                         "%.0f s in all.\n",
                     res->task, res->source, res->device, res->threads, (long long)res->n_train,
                     (long long)res->n_test, res->seconds);
  leap__compare_tables(sb, res, false);
}

void leap_compare_print_table(FILE *out, const leap_compare_result *res) {
  const leap_metrics *b = &res->baseline;
  char v[32];
  fprintf(out, "\n%-20s", "mode");
  for (int i = 0; i < b->n; i++) fprintf(out, " %20s", b->defs[i]->label);
  fprintf(out, " %12s %10s\n%-20s", "latency (ms)", "train (s)", "baseline");
  for (int i = 0; i < b->n; i++) {
    leap__compare_format_value(v, sizeof v, b->defs[i], b->values[i]);
    fprintf(out, " %20s", v);
  }
  fprintf(out, " %12s %10s\n", "-", "-");
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    const leap_compare_mode_result *r = &res->modes[m];
    fprintf(out, "%-20s", leap_compare_mode_name(m));
    for (int i = 0; i < r->metrics.n; i++) {
      leap__compare_format_value(v, sizeof v, r->metrics.defs[i], r->metrics.values[i]);
      fprintf(out, " %20s", v);
    }
    fprintf(out, " %12.3g %10.1f\n", r->latency_ms_batch1, r->training.seconds);
  }
}
