/* The robot task's metrics against hand-computed cases: forward kinematics of known angles, reach error, wrist
 * error across the wrap-around, the grasp thresholds, the pose errors, the aggregated metrics of a table of
 * samples, and agreement with the generator (the true joints put the end effector on the can's centre). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/gen_robot.h"
#include "tests/common/leap_test.h"
#include "train/tasks/robot_task.h"
#include "train/tasks/task.h"

#define PI 3.14159265358979323846

static void check_fk(void) {
  static const struct {
    double t1, t2, elbow_x, elbow_y, end_x, end_y;
  } cases[] = {
      {PI / 2, 0, 32, 36, 32, 10},          /* straight up */
      {0, 0, 62, 66, 88, 66},               /* straight right */
      {PI / 2, -PI / 2, 32, 36, 58, 36},    /* elbow bent right */
      {PI, PI / 2, 2, 66, 2, 92},           /* left, then down (off the picture) */
      {PI / 6, 0, 32 + 30 * 0.8660254037844387, 51, 32 + 56 * 0.8660254037844387, 38},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double ex, ey, px, py;
    leap_robot_arm_points(&ex, &ey, &px, &py, cases[i].t1, cases[i].t2);
    LEAP_TEST_ASSERT(fabs(ex - cases[i].elbow_x) < 1e-9 && fabs(ey - cases[i].elbow_y) < 1e-9 &&
                         fabs(px - cases[i].end_x) < 1e-9 && fabs(py - cases[i].end_y) < 1e-9,
                     "fk case %zu: elbow (%g,%g) end (%g,%g)", i, ex, ey, px, py);
    float gx, gy;
    leap_robot_forward_kinematics(&gx, &gy, (float)cases[i].t1, (float)cases[i].t2);
    LEAP_TEST_ASSERT(fabs(gx - px) < 1e-3 && fabs(gy - py) < 1e-3, "fk case %zu: generator says (%g,%g)", i, gx, gy);
  }
}

static void check_wrap(void) {
  static const double cases[][2] = {{0, 0}, {PI, PI}, {-PI, PI}, {3 * PI, PI}, {7, 7 - 2 * PI}, {-7, -7 + 2 * PI},
                                    {2 * PI + 0.25, 0.25}, {-0.25, -0.25}, {100, 100 - 32 * PI}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double w = leap_robot_wrap_angle(cases[i][0]);
    LEAP_TEST_ASSERT(fabs(w - cases[i][1]) < 1e-9, "wrap(%g) = %.12g, want %.12g", cases[i][0], w, cases[i][1]);
  }
}

/* joints vector (t1, t2, cos t3, sin t3). */
static void joints(float *j, double t1, double t2, double t3) {
  j[0] = (float)t1, j[1] = (float)t2, j[2] = (float)cos(t3), j[3] = (float)sin(t3);
}

static void check_reach_and_wrist(void) {
  static const struct {
    double pred[3], truth[3], reach, wrist;
  } cases[] = {
      {{PI / 2, 0, 0}, {PI / 2, -PI / 2, 0}, 36.769552621700470, 90.0},  /* (32,10) vs (58,36) */
      {{PI / 2 + 0.04, 0, -0.04}, {PI / 2, 0, 0}, 2 * 56 * 0.019998666693333, 0.0},
      {{PI / 2 + 0.05, 0, 0}, {PI / 2, 0, 0}, 2 * 56 * 0.024997395914712, 0.05 * 180 / PI},
      /* Headings -2.9 and 3.2 rad lie 0.1832 rad apart across the wrap-around. */
      {{0.3, -0.2, -3.0}, {0.3, -0.2, 3.1}, 0.0, (2 * PI - 6.1) * 180 / PI},
      /* A shoulder one turn off reaches the same point with the same heading. */
      {{1.0 + 2 * PI, -0.5, 0.7}, {1.0, -0.5, 0.7}, 0.0, 0.0},
      {{1.0, -0.5, 0.7 + PI}, {1.0, -0.5, 0.7}, 0.0, 180.0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    float p[4], t[4];
    joints(p, cases[i].pred[0], cases[i].pred[1], cases[i].pred[2]);
    joints(t, cases[i].truth[0], cases[i].truth[1], cases[i].truth[2]);
    double r = leap_robot_reach_error_px(p, t), w = leap_robot_wrist_error_deg(p, t);
    LEAP_TEST_ASSERT(fabs(r - cases[i].reach) < 2e-4, "reach case %zu: %.6f, want %.6f", i, r, cases[i].reach);
    LEAP_TEST_ASSERT(fabs(w - cases[i].wrist) < 2e-3, "wrist case %zu: %.6f, want %.6f", i, w, cases[i].wrist);
  }
}

static void check_thresholds(void) {
  static const struct {
    double reach, wrist;
    bool success;
  } cases[] = {{0, 0, true},       {2.5, 15, true},   {2.4999, 14.9999, true}, {2.5001, 0, false},
               {0, 15.0001, false}, {3, 20, false},   {NAN, 0, false},         {0, NAN, false}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    LEAP_TEST_ASSERT(leap_robot_grasp_success(cases[i].reach, cases[i].wrist) == cases[i].success,
                     "grasp(%g px, %g deg) should be %d", cases[i].reach, cases[i].wrist, cases[i].success);
}

static void check_pose(void) {
  float p[4] = {0.1f, -0.2f, (float)cos(179 * PI / 180), (float)sin(179 * PI / 180)};
  float t[4] = {0.0f, 0.0f, (float)cos(-179 * PI / 180), (float)sin(-179 * PI / 180)};
  double pos = leap_robot_position_error_px(p, t), head = leap_robot_heading_error_deg(p, t);
  LEAP_TEST_ASSERT(fabs(pos - 32 * sqrt(0.05)) < 1e-4, "position error %.6f, want %.6f", pos, 32 * sqrt(0.05));
  LEAP_TEST_ASSERT(fabs(head - 2.0) < 1e-3, "heading error %.6f, want 2", head);
  /* An unnormalised (cos, sin) prediction only counts by its direction. */
  float q[4] = {0.0f, 0.0f, 3.0f, 3.0f}, u[4] = {0.0f, 0.0f, 0.0f, 1.0f};
  LEAP_TEST_ASSERT(fabs(leap_robot_heading_error_deg(q, u) - 45.0) < 1e-4, "heading of (3,3) vs up");
}

/* Three samples: a perfect one, one 2.24 px off (a grasp), one with the wrist 10.5 deg off and the reach 36.8 px
 * off (a miss). */
static void check_aggregate(void) {
  float pred[12], truth[12];
  joints(truth + 0, 1.2, -0.7, 0.4);
  joints(pred + 0, 1.2, -0.7, 0.4);
  joints(truth + 4, PI / 2, 0, 0);
  joints(pred + 4, PI / 2 + 0.04, 0, -0.04);
  joints(truth + 8, PI / 2, -PI / 2, 3.1 + PI / 2 - 0.1);
  joints(pred + 8, PI / 2, 0, -3.1);
  leap_host_array p = {LEAP_F32, 2, {3, 4}, pred}, t = {LEAP_F32, 2, {3, 4}, truth};
  const leap_task *task = leap_task_find("robot");
  leap_metrics m;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_task_metrics(task, "joints", &p, &t, &m, &err) == LEAP_OK, "joints metrics: %s", err.message);
  double want_reach = (0 + 2 * 56 * 0.019998666693333 + 36.769552621700470) / 3;
  double want_wrist = (0 + 0 + leap_robot_wrist_error_deg(pred + 8, truth + 8)) / 3;
  LEAP_TEST_ASSERT(m.n == 3 && !strcmp(m.defs[0]->name, "reach_error_px") &&
                       !strcmp(m.defs[1]->name, "wrist_error_deg") && !strcmp(m.defs[2]->name, "grasp_success"),
                   "robot joints metric names");
  LEAP_TEST_ASSERT(fabs(leap_metrics_get(&m, "reach_error_px") - want_reach) < 1e-4, "mean reach %.6f want %.6f",
                   leap_metrics_get(&m, "reach_error_px"), want_reach);
  LEAP_TEST_ASSERT(fabs(leap_metrics_get(&m, "wrist_error_deg") - want_wrist) < 1e-4, "mean wrist %.6f want %.6f",
                   leap_metrics_get(&m, "wrist_error_deg"), want_wrist);
  LEAP_TEST_ASSERT(fabs(leap_metrics_get(&m, "grasp_success") - 2.0 / 3.0) < 1e-12, "grasp success %g",
                   leap_metrics_get(&m, "grasp_success"));
  LEAP_TEST_ASSERT(fabs(leap_robot_wrist_error_deg(pred + 8, truth + 8) - (2 * PI - 6.1) * 180 / PI) < 2e-3,
                   "third sample's wrist error %g", leap_robot_wrist_error_deg(pred + 8, truth + 8));
  const leap_metric_def *h = leap_task_headline(task, "joints", LEAP_F32);
  LEAP_TEST_ASSERT(!strcmp(h->name, "grasp_success") && h->higher_is_better, "robot headline is grasp_success");
  /* A wrong width is an error naming the field. */
  leap_host_array bad = {LEAP_F32, 2, {4, 3}, pred};
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_task_metrics(task, "joints", &bad, &t, &m, &err) == LEAP_ERR_SHAPE &&
                       strstr(err.message, "joints"),
                   "mis-shaped predictions: '%s'", err.message);
}

/* The generator's labels: the true joints' end effector lies on the pose's centre, the gripper on its heading, so
 * perfect predictions score perfectly. */
static void check_against_generator(void) {
  enum { N = 64 };
  float pose[N * 4], jt[N * 4];
  leap_robot_generate(NULL, pose, jt, 11, LEAP_SPLIT_TEST, 0, N);
  double worst_reach = 0, worst_heading = 0;
  for (int i = 0; i < N; i++) {
    double ex, ey, px, py;
    leap_robot_arm_points(&ex, &ey, &px, &py, jt[4 * i], jt[4 * i + 1]);
    double cx = (pose[4 * i] + 1.0) * 32, cy = (pose[4 * i + 1] + 1.0) * 32;
    worst_reach = fmax(worst_reach, hypot(px - cx, py - cy));
    double heading = jt[4 * i] + jt[4 * i + 1] + atan2(jt[4 * i + 3], jt[4 * i + 2]);
    double psi = atan2(pose[4 * i + 3], pose[4 * i + 2]);
    worst_heading = fmax(worst_heading, fabs(leap_robot_wrap_angle(heading - psi)) * 180 / PI);
  }
  LEAP_TEST_ASSERT(worst_reach < 1e-3, "true joints miss the can's centre by %g px", worst_reach);
  LEAP_TEST_ASSERT(worst_heading < 1e-3, "true joints miss the can's heading by %g deg", worst_heading);
  leap_host_array t = {LEAP_F32, 2, {N, 4}, jt};
  leap_metrics m;
  leap_error err = {0};
  leap_task_metrics(leap_task_find("robot"), "joints", &t, &t, &m, &err);
  LEAP_TEST_ASSERT(leap_metrics_get(&m, "grasp_success") == 1.0 && leap_metrics_get(&m, "reach_error_px") < 1e-9,
                   "perfect predictions score perfectly");
  leap_host_array p = {LEAP_F32, 2, {N, 4}, pose};
  leap_task_metrics(leap_task_find("robot"), "pose", &p, &p, &m, &err);
  LEAP_TEST_ASSERT(m.n == 2 && leap_metrics_get(&m, "position_error_px") == 0 &&
                       leap_metrics_get(&m, "heading_error_deg") == 0,
                   "pose metrics of the truth are 0");
}

int main(void) {
  check_fk();
  check_wrap();
  check_reach_and_wrist();
  check_thresholds();
  check_pose();
  check_aggregate();
  check_against_generator();
  return leap_test_finish();
}
