/* SVG charts for report.html: lines over a shared x axis (loss curves, data efficiency), optionally with a log y
 * axis, and horizontal bars (latency, throughput). Axes get 1-2-5 ticks; a legend sits to the right. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/compare/compare_internal.h"
#include "train/tasks/svg.h"

#define PLOT_W 520.0
#define PLOT_H 300.0
#define MARGIN_LEFT 64.0
#define MARGIN_RIGHT 150.0
#define MARGIN_TOP 28.0
#define MARGIN_BOTTOM 44.0
#define MAX_TICKS 6

typedef struct axis {
  double lo, hi;
  bool log;
} axis;

static double transform(const axis *a, double v) { return a->log ? (v > 0 ? log10(v) : NAN) : v; }

/* A 1-2-5 step giving at most MAX_TICKS ticks over [lo, hi]. */
static double tick_step(double lo, double hi) {
  double raw = (hi - lo) / (MAX_TICKS - 1), p = pow(10, floor(log10(raw)));
  return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

/* Fits the axis around the transformed finite values, with a little room; log axes span whole decades. */
static void fit_axis(axis *a, const leap_plot_series *series, int n_series, bool use_x) {
  a->lo = INFINITY, a->hi = -INFINITY;
  for (int s = 0; s < n_series; s++)
    for (int i = 0; i < series[s].n; i++) {
      double v = transform(a, use_x ? series[s].xs[i] : series[s].ys[i]);
      if (isfinite(v)) a->lo = fmin(a->lo, v), a->hi = fmax(a->hi, v);
    }
  if (!isfinite(a->lo)) a->lo = 0, a->hi = 1;
  if (a->log) {
    a->lo = floor(a->lo), a->hi = ceil(a->hi);
    if (a->hi <= a->lo) a->hi = a->lo + 1;
    return;
  }
  double pad = a->hi > a->lo ? 0.05 * (a->hi - a->lo) : fabs(a->lo) * 0.1 + 1e-9;
  if (!use_x) a->lo -= pad, a->hi += pad;
  else if (a->hi <= a->lo) a->lo -= pad, a->hi += pad;
}

static double px(const axis *a, double v, double from, double to) {
  return from + (transform(a, v) - a->lo) / (a->hi - a->lo) * (to - from);
}

static void tick_label(char *buf, size_t size, const axis *a, double t) {
  if (a->log) snprintf(buf, size, "1e%g", t);
  else snprintf(buf, size, "%g", fabs(t) < 1e-12 ? 0.0 : t);
}

static void draw_axes(leap_strbuf *sb, const axis *x, const axis *y, double x0, double x1, double y0, double y1) {
  char label[32];
  leap_svg_rect(sb, x0, y1, x1 - x0, y0 - y1, "#fafafa", "#999", 1);
  double ystep = y->log ? fmax(1, ceil((y->hi - y->lo) / (MAX_TICKS - 1))) : tick_step(y->lo, y->hi);
  for (double t = ceil(y->lo / ystep) * ystep; t <= y->hi + 1e-9 * ystep; t += ystep) {
    double yy = y0 + (t - y->lo) / (y->hi - y->lo) * (y1 - y0);
    leap_svg_line(sb, x0, yy, x1, yy, "#e3e3e3", 1, NULL);
    tick_label(label, sizeof label, y, t);
    leap_svg_text(sb, x0 - 6, yy + 4, label, 11, "end", "#333");
  }
  double xstep = tick_step(x->lo, x->hi);
  for (double t = ceil(x->lo / xstep) * xstep; t <= x->hi + 1e-9 * xstep; t += xstep) {
    double xx = x0 + (t - x->lo) / (x->hi - x->lo) * (x1 - x0);
    leap_svg_line(sb, xx, y0, xx, y0 + 4, "#999", 1, NULL);
    tick_label(label, sizeof label, x, t);
    leap_svg_text(sb, xx, y0 + 16, label, 11, "middle", "#333");
  }
}

void leap__plot_lines(leap_strbuf *sb, const char *title, const char *x_label, const char *y_label, bool log_y,
                      const leap_plot_series *series, int n_series) {
  axis x = {0, 1, false}, y = {0, 1, log_y};
  fit_axis(&x, series, n_series, true);
  fit_axis(&y, series, n_series, false);
  double x0 = MARGIN_LEFT, x1 = PLOT_W - MARGIN_RIGHT, y0 = PLOT_H - MARGIN_BOTTOM, y1 = MARGIN_TOP;
  leap_svg_begin(sb, PLOT_W, PLOT_H, 0, 0, PLOT_W, PLOT_H);
  leap_svg_text(sb, PLOT_W / 2 - MARGIN_RIGHT / 2, 18, title, 14, "middle", "#111");
  draw_axes(sb, &x, &y, x0, x1, y0, y1);
  leap_svg_text(sb, (x0 + x1) / 2, PLOT_H - 8, x_label, 12, "middle", "#333");
  leap_strbuf_printf(sb, "<g transform=\"translate(14 %.1f) rotate(-90)\">", (y0 + y1) / 2);
  leap_svg_text(sb, 0, 0, y_label, 12, "middle", "#333");
  leap_strbuf_puts(sb, "</g>\n");
  for (int s = 0; s < n_series; s++) {
    const leap_plot_series *p = &series[s];
    int n = p->n;
    double *xs = malloc((size_t)(n + 1) * sizeof *xs), *ys = malloc((size_t)(n + 1) * sizeof *ys);
    if (!xs || !ys) {
      sb->failed = true;
      n = 0;
    }
    for (int i = 0; i < n; i++) xs[i] = px(&x, p->xs[i], x0, x1), ys[i] = px(&y, p->ys[i], y0, y1);
    if (n) leap_svg_polyline(sb, xs, ys, n, p->colour, 1.8);
    for (int i = 0; n <= 12 && i < n; i++)
      if (isfinite(xs[i]) && isfinite(ys[i])) leap_svg_circle(sb, xs[i], ys[i], 3, p->colour, "none", 0);
    free(xs);
    free(ys);
    double ly = MARGIN_TOP + 10 + 18 * s;
    leap_svg_line(sb, x1 + 12, ly - 4, x1 + 30, ly - 4, p->colour, 3, NULL);
    leap_svg_text(sb, x1 + 36, ly, p->label, 12, "start", "#111");
  }
  leap_svg_end(sb);
}

void leap__plot_bars(leap_strbuf *sb, const char *title, const char *unit, const char *const *labels,
                     const double *values, int n) {
  const double label_w = 140, bar_h = 22, gap = 8, top = 30, width = PLOT_W;
  double height = top + n * (bar_h + gap) + 10, max = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(values[i])) max = fmax(max, values[i]);
  leap_svg_begin(sb, width, height, 0, 0, width, height);
  leap_svg_text(sb, width / 2, 18, title, 14, "middle", "#111");
  char text[64];
  for (int i = 0; i < n; i++) {
    double y = top + i * (bar_h + gap),
           w = max > 0 && isfinite(values[i]) ? values[i] / max * (width - label_w - 110) : 0;
    leap_svg_text(sb, label_w - 8, y + bar_h * 0.7, labels[i], 12, "end", "#111");
    leap_svg_rect(sb, label_w, y, w, bar_h, leap_task_pred_colour(i), "none", 0);
    snprintf(text, sizeof text, "%.3g %s", values[i], unit);
    leap_svg_text(sb, label_w + w + 6, y + bar_h * 0.7, text, 12, "start", "#111");
  }
  leap_svg_end(sb);
}
