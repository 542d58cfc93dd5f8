/* The report writers on a filled result (nothing trained): report.json parses back with every field of the schema
 * and the values written, report.md and report.html hold the tables, plots and examples, text is escaped, the
 * margins over the baseline are right, and the files are written whole. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/gen_robot.h"
#include "tests/common/leap_test.h"
#include "tests/train/compare/report_schema.h"
#include "train/compare/compare.h"

static const char *const ROBOT_METRICS[] = {"reach_error_px", "wrist_error_deg", "grasp_success"};
static const char *const STAGES[] = {"perceive", "act"};

static void set_metrics(leap_metrics *m, const char *field, const double *values) {
  int n;
  const leap_metric_def *defs = leap_task_metric_defs(leap_task_find("robot"), field, LEAP_F32, &n);
  m->n = n;
  for (int i = 0; i < n; i++) m->defs[i] = &defs[i], m->values[i] = values[i];
}

static void set_training(leap_compare_training *t, int64_t steps, double seconds, double first_loss) {
  t->steps = steps, t->samples_seen = steps * 64, t->seconds = seconds;
  t->curve.n = 5;
  t->curve.points = malloc(5 * sizeof *t->curve.points);
  for (int i = 0; i < 5; i++)
    t->curve.points[i][0] = (double)(i + 1) * steps / 5, t->curve.points[i][1] = first_loss / (i + 1);
}

static void fill(leap_compare_result *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->task, sizeof r->task, "robot");
  snprintf(r->source, sizeof r->source, "configs/<robot&>.yaml");
  snprintf(r->target, sizeof r->target, "joints");
  snprintf(r->device, sizeof r->device, "cpu");
  r->task_def = leap_task_find("robot");
  r->config_json = "{\"task\": \"robot\", \"train\": {\"steps\": 100, \"batch\": 64}}";
  r->headline = leap_task_headline(r->task_def, "joints", LEAP_F32);
  r->baseline_name = "mean_predictor";
  set_metrics(&r->baseline, "joints", (const double[]){18.6, 85.5, 0.002});
  r->latency_batch = 64, r->threads = 2, r->n_train = 1000, r->n_test = 200, r->seconds = 12.5;
  static const double values[3][3] = {{1.5, 6.0, 0.85}, {2.5, 9.0, 0.61}, {1.2, 5.0, 0.9}};
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    leap_compare_mode_result *mr = &r->modes[m];
    mr->done = true;
    set_metrics(&mr->metrics, "joints", values[m]);
    mr->latency_ms_batch1 = 0.4 + m, mr->throughput = 5200 - 1000 * m, mr->params = 123456 + m;
    set_training(&mr->training, 100 * (m + 1), 10.0 * (m + 1), 1.0);
  }
  leap_compare_mode_result *p = &r->modes[LEAP_MODE_PIPELINE];
  p->n_stages = 2;
  snprintf(p->stages[0].name, LEAP_CFG_NAME, "perceive");
  snprintf(p->stages[0].target, LEAP_CFG_NAME, "pose");
  set_metrics(&p->stages[0].metrics_true_input, "pose", (const double[]){0.8, 4.0});
  set_metrics(&p->stages[0].metrics_chained, "pose", (const double[]){0.8, 4.0});
  snprintf(p->stages[1].name, LEAP_CFG_NAME, "act");
  snprintf(p->stages[1].target, LEAP_CFG_NAME, "joints");
  set_metrics(&p->stages[1].metrics_true_input, "joints", (const double[]){0.3, 1.0, 0.99});
  set_metrics(&p->stages[1].metrics_chained, "joints", values[1]);
  for (int k = 0; k < 2; k++) set_training(&p->stages[k].training, 100, 5, 2.0);
  set_training(&r->modes[LEAP_MODE_FINETUNE].own, 25, 2.0, 0.5);
  r->n_fractions = 2;
  r->fractions[0] = (leap_compare_fraction){0.5, 500, {0.5, 0.4, 0.55}};
  r->fractions[1] = (leap_compare_fraction){1.0, 1000, {0.85, 0.61, 0.9}};
  r->n_examples = 2, r->example_h = 64, r->example_w = 64, r->example_c = 3, r->example_values = 4;
  r->example_index[0] = 0, r->example_index[1] = 100;
  r->example_images = malloc(2 * LEAP_ROBOT_IMAGE_BYTES);
  r->example_truth = malloc(8 * sizeof(float));
  leap_robot_generate(r->example_images, NULL, r->example_truth, 1, LEAP_SPLIT_TEST, 0, 2);
  for (int m = 0; m < LEAP_COMPARE_N_MODES; m++) {
    r->modes[m].example_preds = malloc(8 * sizeof(float));
    for (int i = 0; i < 8; i++) r->modes[m].example_preds[i] = r->example_truth[i] + 0.05f * (float)m;
  }
}

static double number_at(struct fy_document *doc, const char *path) {
  struct fy_node *n = fy_node_by_path(fy_document_root(doc), path, FY_NT, FYNWF_DONT_FOLLOW);
  const char *s = n ? fy_node_get_scalar0(n) : NULL;
  return s ? strtod(s, NULL) : NAN;
}

static void check_json(const leap_compare_result *r) {
  leap_strbuf sb;
  leap_strbuf_init(&sb);
  leap_compare_report_json(&sb, r);
  struct fy_document *doc = schema_check_report(leap_strbuf_str(&sb), "robot", "grasp_success", ROBOT_METRICS, 3, 2,
                                                STAGES, 2);
  if (doc) {
    LEAP_TEST_ASSERT(number_at(doc, "/modes/e2e/metrics/grasp_success") == 0.85, "e2e grasp success read back");
    LEAP_TEST_ASSERT(number_at(doc, "/modes/e2e/success_rate") == 0.85, "success_rate is the grasp success");
    LEAP_TEST_ASSERT(number_at(doc, "/modes/pipeline/stages/1/metrics_true_input/reach_error_px") == 0.3,
                     "act's true-input reach error read back");
    LEAP_TEST_ASSERT(number_at(doc, "/config/train/steps") == 100, "the config is embedded as an object");
    LEAP_TEST_ASSERT(number_at(doc, "/data_efficiency/0/pipeline") == 0.4, "data efficiency read back");
    double gap = number_at(doc, "/modes/e2e/baseline_margin/reach_error_px/gap_closed");
    LEAP_TEST_ASSERT(fabs(gap - (1.5 - 18.6) / (0 - 18.6)) < 1e-12, "reach gap closed %g", gap);
    fy_document_destroy(doc);
  }
  leap_strbuf_free(&sb);
}

static int count(const char *s, const char *what) {
  int n = 0;
  for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
  return n;
}

static void check_md_html(const leap_compare_result *r) {
  leap_strbuf md, html;
  leap_strbuf_init(&md);
  leap_strbuf_init(&html);
  leap_compare_report_md(&md, r);
  leap_compare_report_html(&html, r);
  const char *m = leap_strbuf_str(&md), *h = leap_strbuf_str(&html);
  LEAP_TEST_ASSERT(strstr(m, "| baseline (mean_predictor) | 18.6 | 85.5 | 0.2% |") &&
                       strstr(m, "| e2e | 1.5 | 6 | 85.0% |") &&
                       strstr(m, "| perceive | pose | position error (px) | 0.8 | 0.8 |") &&
                       strstr(m, "| act | joints | reach error (px) | 0.3 | 2.5 |") && strstr(m, "| 0.5 | 500 |"),
                   "report.md tables:\n%s", m);
  LEAP_TEST_ASSERT(!strncmp(h, "<!DOCTYPE html>", 15) && !strstr(h, "<script") && strstr(h, "</html>"),
                   "report.html is a page without scripts");
  /* Three loss plots, data efficiency, two bar charts, two examples. */
  LEAP_TEST_ASSERT(count(h, "<svg") == 8, "report.html has %d svgs, want 8", count(h, "<svg"));
  LEAP_TEST_ASSERT(count(h, "data:image/png;base64,") == 2 && strstr(h, "<td>perceive</td>"),
                   "report.html has the examples' pictures and the tables");
  LEAP_TEST_ASSERT(strstr(h, "configs/&lt;robot&amp;&gt;.yaml") && !strstr(h, "<robot&>"), "html escaping");
  leap_strbuf_free(&md);
  leap_strbuf_free(&html);
}

static void check_margins(void) {
  const leap_metric_def *defs;
  int n;
  defs = leap_task_metric_defs(leap_task_find("robot"), "joints", LEAP_F32, &n);
  leap_compare_margin g = leap_compare_margin_of(&defs[0], 2.0, 18.0);
  LEAP_TEST_ASSERT(fabs(g.ratio - 2.0 / 18) < 1e-12 && fabs(g.gap_closed - 16.0 / 18) < 1e-12 && g.difference == -16,
                   "reach margin");
  g = leap_compare_margin_of(&defs[2], 0.9, 0.002);
  LEAP_TEST_ASSERT(fabs(g.gap_closed - 0.898 / 0.998) < 1e-12, "grasp margin %g", g.gap_closed);
  g = leap_compare_margin_of(&defs[2], 0.9, 1.0);
  LEAP_TEST_ASSERT(isnan(g.gap_closed), "no gap to close when the baseline is perfect");
}

static void check_files(const leap_compare_result *r) {
  char dir[] = "/tmp/leap_report_XXXXXX", out[128], path[160];
  LEAP_TEST_ASSERT(mkdtemp(dir) != NULL, "mkdtemp");
  snprintf(out, sizeof out, "%s/a/b", dir);
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_compare_write_reports(r, out, &err) == LEAP_OK, "write reports: %s", err.message);
  static const char *const names[] = {"report.json", "report.md", "report.html"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", out, names[i]);
    LEAP_TEST_ASSERT(access(path, R_OK) == 0, "%s written", path);
    remove(path);
    snprintf(path, sizeof path, "%s/%s.tmp", out, names[i]);
    LEAP_TEST_ASSERT(access(path, F_OK) != 0, "no temporary file left: %s", path);
  }
  snprintf(path, sizeof path, "%s/a/b", dir);
  rmdir(path);
  snprintf(path, sizeof path, "%s/a", dir);
  rmdir(path);
  rmdir(dir);
  /* A directory that cannot be made is an error naming it. */
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_compare_write_reports(r, "/proc/leap-no/such", &err) == LEAP_ERR_IO &&
                       strstr(err.message, "/proc/leap-no"),
                   "unwritable directory: '%s'", err.message);
}

int main(void) {
  leap_compare_result r;
  fill(&r);
  check_json(&r);
  check_md_html(&r);
  check_margins();
  check_files(&r);
  leap_compare_result_free(&r);
  return leap_test_finish();
}
