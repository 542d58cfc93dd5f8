/* report.html: one self-contained page (no scripts, no external files): the report's tables, inline SVG plots
 * (loss curves per mode, data efficiency, latency and throughput), and test examples drawn by the task with the
 * true and the predicted targets. Also writes all three reports. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/compare/compare_internal.h"
#include "train/loop/loop_internal.h"

static const char STYLE[] =
    "body{font-family:sans-serif;max-width:1100px;margin:24px auto;color:#111;padding:0 12px}"
    "table{border-collapse:collapse;margin:8px 0 16px}td{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "td:first-child{text-align:left}tr:first-child td{font-weight:bold;background:#f0f0f0}"
    ".plots,.examples{display:flex;flex-wrap:wrap;gap:12px}p{max-width:900px}";

/* (step, loss) points of a curve as series arrays (owned by the caller: free xs). */
static leap_plot_series curve_series(const leap_compare_curve *c, const char *label, const char *colour) {
  leap_plot_series s = {label, colour, 0, NULL, NULL};
  double *xs = malloc((size_t)(2 * c->n + 1) * sizeof *xs);
  if (!xs) return s;
  for (int i = 0; i < c->n; i++) xs[i] = c->points[i][0], xs[c->n + i] = c->points[i][1];
  s.n = c->n, s.xs = xs, s.ys = xs + c->n;
  return s;
}

/* One plot per mode: e2e and pipeline+finetune's joint steps on the final target, the pipeline's stages each on
 * its own target. */
static void loss_plots(leap_strbuf *sb, const leap_compare_result *res) {
  leap_strbuf_puts(sb, "<h2>Training loss</h2>\n<div class=\"plots\">\n");
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    const leap_compare_mode_result *r = &res->modes[m];
    leap_plot_series series[LEAP_CFG_MAX_STAGES];
    int n = 0;
    if (m == LEAP_MODE_PIPELINE)
      for (int k = 0; k < r->n_stages; k++)
        series[n++] = curve_series(&r->stages[k].training.curve, r->stages[k].name, leap_task_pred_colour(k + 3));
    else
      series[n++] = curve_series(m == LEAP_MODE_FINETUNE ? &r->own.curve : &r->training.curve,
                                 m == LEAP_MODE_FINETUNE ? "joint steps" : leap_compare_mode_name(m),
                                 leap_task_pred_colour(m));
    char title[96];
    snprintf(title, sizeof title, "%s: training loss", leap_compare_mode_name(m));
    leap__plot_lines(sb, title, "optimizer step", "loss (smoothed)", true, series, n);
    for (int i = 0; i < n; i++) free((void *)series[i].xs);
  }
  leap_strbuf_puts(sb, "</div>\n");
}

static void efficiency_plot(leap_strbuf *sb, const leap_compare_result *res) {
  double xs[LEAP_CFG_MAX_FRACTIONS], ys[LEAP_COMPARE_N_MODES + 1][LEAP_CFG_MAX_FRACTIONS];
  leap_plot_series series[LEAP_COMPARE_N_MODES + 1];
  int n = res->n_fractions;
  for (int f = 0; f < n; f++) {
    xs[f] = res->fractions[f].fraction;
    for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) ys[m][f] = res->fractions[f].headline[m];
    ys[LEAP_COMPARE_N_MODES][f] = res->headline ? leap_metrics_get(&res->baseline, res->headline->name) : NAN;
  }
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++)
    series[m] = (leap_plot_series){leap_compare_mode_name(m), leap_task_pred_colour(m), n, xs, ys[m]};
  series[LEAP_COMPARE_N_MODES] = (leap_plot_series){"baseline", "#888", n, xs, ys[LEAP_COMPARE_N_MODES]};
  const char *label = res->headline ? res->headline->label : "headline";
  leap__plot_lines(sb, "Data efficiency", "fraction of the training data", label, false, series,
                   LEAP_COMPARE_N_MODES + 1);
}

static void speed_plots(leap_strbuf *sb, const leap_compare_result *res) {
  const char *labels[LEAP_COMPARE_N_MODES];
  double latency[LEAP_COMPARE_N_MODES], throughput[LEAP_COMPARE_N_MODES];
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    labels[m] = leap_compare_mode_name(m);
    latency[m] = res->modes[m].latency_ms_batch1;
    throughput[m] = res->modes[m].throughput;
  }
  char title[96];
  leap__plot_bars(sb, "Latency per sample, batch 1", "ms", labels, latency, LEAP_COMPARE_N_MODES);
  snprintf(title, sizeof title, "Throughput, batch %lld", (long long)res->latency_batch);
  leap__plot_bars(sb, title, "samples/s", labels, throughput, LEAP_COMPARE_N_MODES);
}

static void examples(leap_strbuf *sb, const leap_compare_result *res) {
  if (res->n_examples < 1 || !res->task_def) return;
  leap_strbuf_puts(sb, "<h2>Test examples</h2>\n<div class=\"examples\">\n");
  int64_t pixels = (int64_t)res->example_h * res->example_w * res->example_c;
  for (int e = 0; e < res->n_examples; e++) {
    leap_task_example ex = {.index = res->example_index[e], .field = res->target, .n_values = res->example_values,
                            .truth = res->example_truth + e * res->example_values};
    if (res->example_images) {
      ex.image = res->example_images + e * pixels;
      ex.height = res->example_h, ex.width = res->example_w, ex.channels = res->example_c;
    }
    for (int m = 0; m < LEAP_COMPARE_N_MODES && ex.n_preds < LEAP_TASK_MAX_PREDS; m++)
      if (res->modes[m].example_preds) {
        ex.pred_labels[ex.n_preds] = leap_compare_mode_name(m);
        ex.preds[ex.n_preds++] = res->modes[m].example_preds + e * res->example_values;
      }
    leap_task_render_example(res->task_def, sb, &ex);
  }
  leap_strbuf_puts(sb, "</div>\n");
}

void leap_compare_report_html(leap_strbuf *sb, const leap_compare_result *res) {
  leap_strbuf_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>leap compare: ");
  leap_strbuf_xml_text(sb, res->task);
  leap_strbuf_printf(sb, "</title><style>%s</style></head>\n<body>\n<h1>leap compare: ", STYLE);
  leap_strbuf_xml_text(sb, res->task);
  leap_strbuf_puts(sb, "</h1>\n<p>Config <code>");
  leap_strbuf_xml_text(sb, res->source);
  leap_strbuf_printf(sb, "</code>; %s, %d threads; %lld training and %lld test samples; %.0f s in all. The same "
                         "data, batch and optimizer steps for every network trained.</p>\n",
                     res->device, res->threads, (long long)res->n_train, (long long)res->n_test, res->seconds);
  leap__compare_tables(sb, res, true);
  loss_plots(sb, res);
  leap_strbuf_puts(sb, "<h2>Data efficiency and speed</h2>\n<div class=\"plots\">\n");
  efficiency_plot(sb, res);
  speed_plots(sb, res);
  leap_strbuf_puts(sb, "</div>\n");
  examples(sb, res);
  leap_strbuf_puts(sb, "</body></html>\n");
}


leap_status leap_compare_write_reports(const leap_compare_result *res, const char *out_dir, leap_error *err) {
  if (leap__make_dirs(out_dir, err)) return err->status;
  void (*writers[3])(leap_strbuf *, const leap_compare_result *) = {leap_compare_report_json, leap_compare_report_md,
                                                                    leap_compare_report_html};
  static const char *const names[3] = {"report.json", "report.md", "report.html"};
  for (int i = 0; i < 3; i++) {
    leap_strbuf sb;
    leap_strbuf_init(&sb);
    writers[i](&sb, res);
    char path[LEAP_CFG_PATH * 2], why[256];
    snprintf(path, sizeof path, "%s/%s", out_dir, names[i]);
    bool ok = leap_strbuf_write_file(&sb, path, why, sizeof why);
    leap_strbuf_free(&sb);
    if (!ok) return leap_error_set(err, LEAP_ERR_IO, "%s: cannot write: %s", path, why);
  }
  return LEAP_OK;
}
