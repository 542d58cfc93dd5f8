/* The generic metrics, prediction decoding, the baselines (mean predictor and most common answer, with the robot
 * baseline far from grasping), the task registry, and the text helpers behind the reports (JSON escaping and
 * numbers, base64, PNG framing, SVG rendering of an example). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/gen_robot.h"
#include "tests/common/leap_test.h"
#include "train/tasks/svg.h"
#include "train/tasks/task.h"

static void check_generic_f32(void) {
  float p[6] = {1, 2, 3, 4, 5, 6}, t[6] = {1, 0, 3, 5, 5, 3};
  leap_host_array pa = {LEAP_F32, 2, {3, 2}, p}, ta = {LEAP_F32, 2, {3, 2}, t};
  leap_metrics m;
  leap_error err = {0};
  const leap_task *task = leap_task_find("nobody-knows-this-task");
  LEAP_TEST_ASSERT(!strcmp(task->name, "generic"), "unknown tasks get the generic task");
  LEAP_TEST_ASSERT(leap_task_metrics(task, "y", &pa, &ta, &m, &err) == LEAP_OK, "%s", err.message);
  LEAP_TEST_ASSERT(m.n == 2 && fabs(leap_metrics_get(&m, "mse") - 14.0 / 6) < 1e-12 &&
                       fabs(leap_metrics_get(&m, "mae") - 6.0 / 6) < 1e-12,
                   "mse %g mae %g", leap_metrics_get(&m, "mse"), leap_metrics_get(&m, "mae"));
  LEAP_TEST_ASSERT(isnan(leap_metrics_get(&m, "accuracy")), "absent metrics are NaN");
  /* The robot task judges fields it does not know generically too. */
  LEAP_TEST_ASSERT(leap_task_metrics(leap_task_find("robot"), "other", &pa, &ta, &m, &err) == LEAP_OK &&
                       !strcmp(m.defs[0]->name, "mse"),
                   "robot's unknown field gets mse");
  const leap_metric_def *h = leap_task_headline(task, "y", LEAP_F32);
  LEAP_TEST_ASSERT(!strcmp(h->name, "mse") && !h->higher_is_better && h->ideal == 0, "generic f32 headline");
}

static void check_generic_i32(void) {
  int32_t t[6] = {1, 2, 3, 4, 5, 6};
  int32_t p[6] = {1, 2, 3, 0, 5, 0};
  leap_host_array pa = {LEAP_I32, 2, {3, 2}, p}, ta = {LEAP_I32, 2, {3, 2}, t};
  leap_metrics m;
  leap_error err = {0};
  const leap_task *task = leap_task_find("generic");
  LEAP_TEST_ASSERT(leap_task_metrics(task, "answer", &pa, &ta, &m, &err) == LEAP_OK, "%s", err.message);
  LEAP_TEST_ASSERT(fabs(leap_metrics_get(&m, "exact_match") - 1.0 / 3) < 1e-12 &&
                       fabs(leap_metrics_get(&m, "token_accuracy") - 4.0 / 6) < 1e-12,
                   "exact %g token %g", leap_metrics_get(&m, "exact_match"), leap_metrics_get(&m, "token_accuracy"));
  /* Logits (3,2,7) decode by argmax to the same tokens. */
  float logits[3 * 2 * 7];
  leap_test_fill_uniform(logits, 42, -1, 1, 5);
  for (int i = 0; i < 6; i++) logits[i * 7 + p[i]] = 2.0f;
  leap_host_array la = {LEAP_F32, 3, {3, 2, 7}, logits};
  LEAP_TEST_ASSERT(leap_task_metrics(task, "answer", &la, &ta, &m, &err) == LEAP_OK &&
                       fabs(leap_metrics_get(&m, "token_accuracy") - 4.0 / 6) < 1e-12,
                   "logits decode by argmax");
  /* vqa calls the answer's exact match its accuracy, and makes it the headline. */
  LEAP_TEST_ASSERT(leap_task_metrics(leap_task_find("vqa"), "answer", &la, &ta, &m, &err) == LEAP_OK &&
                       fabs(leap_metrics_get(&m, "accuracy") - 1.0 / 3) < 1e-12,
                   "vqa accuracy");
  LEAP_TEST_ASSERT(!strcmp(leap_task_headline(leap_task_find("vqa"), "answer", LEAP_I32)->name, "accuracy"),
                   "vqa headline");
  leap_host_array short_pred = {LEAP_I32, 2, {2, 2}, p};
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_task_metrics(task, "answer", &short_pred, &ta, &m, &err) == LEAP_ERR_SHAPE &&
                       strstr(err.message, "'answer'"),
                   "too few predictions: '%s'", err.message);
}

static void check_baselines(void) {
  float t[6] = {1, 2, 3, 4, 5, 9};
  leap_host_array ta = {LEAP_F32, 2, {3, 2}, t}, out;
  const char *name = NULL;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_task_baseline(&out, &name, &ta, 4, &err) == LEAP_OK, "%s", err.message);
  float want[8] = {3, 5, 3, 5, 3, 5, 3, 5};
  LEAP_TEST_ASSERT(!strcmp(name, "mean_predictor") && out.shape[0] == 4 && out.shape[1] == 2, "mean predictor shape");
  leap_test_allclose("mean predictor", out.data, want, 8, 0, 1e-7);
  free(out.data);

  static const struct {
    int rows, width;
    int32_t data[12], want[3];
  } cases[] = {
      {5, 2, {3, 4, 1, 2, 3, 4, 1, 2, 0, 7}, {1, 2}}, /* a tie goes to the smaller row */
      {3, 1, {5, 5, 2}, {5}},
      {4, 3, {9, 9, 9, 1, 1, 2, 9, 9, 9, 1, 1, 1}, {9, 9, 9}},
      {1, 3, {4, 5, 6}, {4, 5, 6}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    leap_host_array a = {LEAP_I32, 2, {cases[i].rows, cases[i].width}, (void *)cases[i].data};
    LEAP_TEST_ASSERT(leap_task_baseline(&out, &name, &a, 3, &err) == LEAP_OK, "%s", err.message);
    bool same = !strcmp(name, "most_common_answer");
    for (int r = 0; r < 3; r++)
      same = same && !memcmp((int32_t *)out.data + r * cases[i].width, cases[i].want, (size_t)cases[i].width * 4);
    LEAP_TEST_ASSERT(same, "most common answer case %zu", i);
    free(out.data);
  }
}

/* The mean predictor on robot data: far from the can, almost never a grasp. */
static void check_robot_baseline(void) {
  enum { NTRAIN = 2000, NTEST = 500 };
  float *train = malloc(NTRAIN * 4 * sizeof(float)), *test = malloc(NTEST * 4 * sizeof(float));
  leap_robot_generate(NULL, NULL, train, 3, LEAP_SPLIT_TRAIN, 0, NTRAIN);
  leap_robot_generate(NULL, NULL, test, 3, LEAP_SPLIT_TEST, 0, NTEST);
  leap_host_array tr = {LEAP_F32, 2, {NTRAIN, 4}, train}, te = {LEAP_F32, 2, {NTEST, 4}, test}, base;
  const char *name;
  leap_error err = {0};
  leap_metrics m;
  LEAP_TEST_ASSERT(leap_task_baseline(&base, &name, &tr, NTEST, &err) == LEAP_OK, "%s", err.message);
  LEAP_TEST_ASSERT(leap_task_metrics(leap_task_find("robot"), "joints", &base, &te, &m, &err) == LEAP_OK, "%s",
                   err.message);
  double reach = leap_metrics_get(&m, "reach_error_px"), success = leap_metrics_get(&m, "grasp_success");
  printf("robot mean predictor: reach %.2f px, wrist %.1f deg, grasp %.3f\n", reach,
         leap_metrics_get(&m, "wrist_error_deg"), success);
  LEAP_TEST_ASSERT(reach > 8 && success < 0.05, "the mean predictor should be far off: reach %g, grasp %g", reach,
                   success);
  free(base.data);
  free(train);
  free(test);
}

static void check_text_helpers(void) {
  leap_strbuf sb;
  leap_strbuf_init(&sb);
  leap_strbuf_json_string(&sb, "a\"b\\c\n\x01/é");
  LEAP_TEST_ASSERT(!strcmp(leap_strbuf_str(&sb), "\"a\\\"b\\\\c\\n\\u0001/é\""), "json string: %s",
                   leap_strbuf_str(&sb));
  leap_strbuf_free(&sb);
  static const struct {
    double v;
    const char *want;
  } numbers[] = {{0.1, "0.1"}, {NAN, "null"}, {INFINITY, "null"}, {123456, "123456"}, {-2.5e-7, "-2.5e-07"},
                 {0.1f, "0.10000000149011612"}};
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    leap_strbuf_json_number(&sb, numbers[i].v);
    LEAP_TEST_ASSERT(!strcmp(leap_strbuf_str(&sb), numbers[i].want), "json number %zu: %s", i, leap_strbuf_str(&sb));
    leap_strbuf_free(&sb);
  }
  static const char *const b64[][2] = {{"", ""}, {"M", "TQ=="}, {"Ma", "TWE="}, {"Man", "TWFu"}, {"Many", "TWFueQ=="}};
  for (size_t i = 0; i < 5; i++) {
    leap_strbuf_base64(&sb, (const uint8_t *)b64[i][0], strlen(b64[i][0]));
    LEAP_TEST_ASSERT(!strcmp(leap_strbuf_str(&sb), b64[i][1]), "base64 of '%s': %s", b64[i][0], leap_strbuf_str(&sb));
    leap_strbuf_free(&sb);
  }
  leap_strbuf_xml_text(&sb, "<a & 'b'>");
  LEAP_TEST_ASSERT(!strcmp(leap_strbuf_str(&sb), "&lt;a &amp; &#39;b&#39;&gt;"), "xml: %s", leap_strbuf_str(&sb));
  leap_strbuf_free(&sb);
  /* A 3x2 RGB PNG: signature, IHDR with the size, stored pixel bytes, and the fixed IEND chunk. */
  uint8_t px[18];
  for (int i = 0; i < 18; i++) px[i] = (uint8_t)(i * 13);
  leap_png_encode(&sb, px, 3, 2, 3);
  const uint8_t *png = (const uint8_t *)leap_strbuf_str(&sb);
  static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  LEAP_TEST_ASSERT(sb.len > 57 && png[0] == 0x89 && !memcmp(png + 1, "PNG", 3) && png[19] == 2 && png[23] == 3 &&
                       !memcmp(png + sb.len - 12, iend, 12),
                   "png framing");
  leap_strbuf_free(&sb);
}

static void check_render(void) {
  uint8_t image[64 * 64 * 3];
  float pose[4], jt[4], pred[4];
  leap_robot_generate(image, pose, jt, 1, LEAP_SPLIT_TEST, 0, 1);
  memcpy(pred, jt, sizeof pred);
  pred[0] += 0.1f;
  leap_task_example ex = {.index = 0, .image = image, .height = 64, .width = 64, .channels = 3, .field = "joints",
                          .n_values = 4, .truth = jt, .n_preds = 2, .pred_labels = {"e2e", "pipe<line>"},
                          .preds = {jt, pred}};
  leap_strbuf sb;
  leap_strbuf_init(&sb);
  leap_task_render_example(leap_task_find("robot"), &sb, &ex);
  const char *s = leap_strbuf_str(&sb);
  LEAP_TEST_ASSERT(!strncmp(s, "<svg", 4) && strstr(s, "</svg>") && strstr(s, "data:image/png;base64,iVBORw0KGgo") &&
                       strstr(s, "e2e: 0.0 px, 0 deg, grasped") && strstr(s, "pipe&lt;line&gt;"),
                   "robot example svg");
  leap_strbuf_free(&sb);
  leap_task_render_example(leap_task_find("generic"), &sb, &ex);
  LEAP_TEST_ASSERT(strstr(leap_strbuf_str(&sb), "truth:") != NULL, "generic example svg");
  leap_strbuf_free(&sb);
}

int main(void) {
  check_generic_f32();
  check_generic_i32();
  check_baselines();
  check_robot_baseline();
  check_text_helpers();
  check_render();
  return leap_test_finish();
}
