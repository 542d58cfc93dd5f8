/* The robot task: reach, wrist and grasp metrics of the joints, position and heading errors of the pose, and the
 * example picture with the arm drawn at the true and the predicted joints. */
#include "train/tasks/robot_task.h"

#include <math.h>
#include <stdio.h>

#include "data/gen_robot.h"
#include "train/tasks/svg.h"
#include "train/tasks/task_internal.h"

#define PI 3.14159265358979323846
#define RAD_TO_DEG (180.0 / PI)
#define HALF_SIZE (LEAP_ROBOT_SIZE / 2.0) /* pose coordinates are pixels / HALF_SIZE - 1 */

double leap_robot_wrap_angle(double a) {
  a = fmod(a, 2 * PI);
  if (a <= -PI) a += 2 * PI;
  if (a > PI) a -= 2 * PI;
  return a;
}

void leap_robot_arm_points(double *elbow_x, double *elbow_y, double *end_x, double *end_y, double theta1,
                           double theta2) {
  /* Heading a points along (cos a, -sin a) on the picture: y grows downwards. */
  *elbow_x = LEAP_ROBOT_BASE_X + LEAP_ROBOT_LINK1 * cos(theta1);
  *elbow_y = LEAP_ROBOT_BASE_Y - LEAP_ROBOT_LINK1 * sin(theta1);
  *end_x = *elbow_x + LEAP_ROBOT_LINK2 * cos(theta1 + theta2);
  *end_y = *elbow_y - LEAP_ROBOT_LINK2 * sin(theta1 + theta2);
}

double leap_robot_reach_error_px(const float pred[4], const float truth[4]) {
  double ex, ey, px, py, tx, ty;
  leap_robot_arm_points(&ex, &ey, &px, &py, pred[0], pred[1]);
  leap_robot_arm_points(&ex, &ey, &tx, &ty, truth[0], truth[1]);
  return hypot(px - tx, py - ty);
}

/* The gripper's heading theta1 + theta2 + theta3 of a joints vector. */
static double gripper_heading(const float j[4]) { return (double)j[0] + (double)j[1] + atan2(j[3], j[2]); }

double leap_robot_wrist_error_deg(const float pred[4], const float truth[4]) {
  return fabs(leap_robot_wrap_angle(gripper_heading(pred) - gripper_heading(truth))) * RAD_TO_DEG;
}

bool leap_robot_grasp_success(double reach_error_px, double wrist_error_deg) {
  return reach_error_px <= LEAP_ROBOT_GRASP_REACH_PX && wrist_error_deg <= LEAP_ROBOT_GRASP_WRIST_DEG;
}

double leap_robot_position_error_px(const float pred[4], const float truth[4]) {
  return hypot(((double)pred[0] - truth[0]) * HALF_SIZE, ((double)pred[1] - truth[1]) * HALF_SIZE);
}

double leap_robot_heading_error_deg(const float pred[4], const float truth[4]) {
  return fabs(leap_robot_wrap_angle(atan2(pred[3], pred[2]) - atan2(truth[3], truth[2]))) * RAD_TO_DEG;
}

static const leap_metric_def joints_metrics[3] = {
    {"reach_error_px", "reach error (px)", false, 0.0, false},
    {"wrist_error_deg", "wrist error (deg)", false, 0.0, false},
    {"grasp_success", "grasp success", true, 1.0, true},
};

static const leap_metric_def pose_metrics[2] = {
    {"position_error_px", "position error (px)", false, 0.0, false},
    {"heading_error_deg", "heading error (deg)", false, 0.0, false},
};

/* Both fields are (N,4) f32. */
static leap_status check_four(const leap_host_array *pred, const leap_host_array *truth, const char *field,
                              leap_error *err) {
  if (pred->dtype != LEAP_F32 || truth->dtype != LEAP_F32 || leap__task_row_numel(truth) != 4)
    return leap_error_set(err, LEAP_ERR_SHAPE, "field '%s': robot needs f32 (N,4) predictions and targets", field);
  return leap__task_check_shape(pred, truth, field, err);
}

static leap_status joints_compute(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                  const char *field, leap_error *err) {
  leap_status st = check_four(pred, truth, field, err);
  if (st != LEAP_OK) return st;
  int64_t n = leap__task_rows(truth);
  const float *p = pred->data, *t = truth->data;
  double reach = 0, wrist = 0, success = 0;
  for (int64_t i = 0; i < n; i++) {
    double r = leap_robot_reach_error_px(p + 4 * i, t + 4 * i), w = leap_robot_wrist_error_deg(p + 4 * i, t + 4 * i);
    reach += r;
    wrist += w;
    success += leap_robot_grasp_success(r, w);
  }
  values[0] = n ? reach / (double)n : NAN;
  values[1] = n ? wrist / (double)n : NAN;
  values[2] = n ? success / (double)n : NAN;
  return LEAP_OK;
}

static leap_status pose_compute(double *values, const leap_host_array *pred, const leap_host_array *truth,
                                const char *field, leap_error *err) {
  leap_status st = check_four(pred, truth, field, err);
  if (st != LEAP_OK) return st;
  int64_t n = leap__task_rows(truth);
  const float *p = pred->data, *t = truth->data;
  double position = 0, heading = 0;
  for (int64_t i = 0; i < n; i++) {
    position += leap_robot_position_error_px(p + 4 * i, t + 4 * i);
    heading += leap_robot_heading_error_deg(p + 4 * i, t + 4 * i);
  }
  values[0] = n ? position / (double)n : NAN;
  values[1] = n ? heading / (double)n : NAN;
  return LEAP_OK;
}

/* The arm at joints j: links from the base through the elbow to the end effector, and the gripper's heading. */
static void draw_arm(leap_strbuf *svg, const float j[4], const char *colour, double width, const char *dash) {
  double ex, ey, px, py;
  leap_robot_arm_points(&ex, &ey, &px, &py, j[0], j[1]);
  double heading = gripper_heading(j);
  leap_svg_line(svg, LEAP_ROBOT_BASE_X, LEAP_ROBOT_BASE_Y, ex, ey, colour, width, dash);
  leap_svg_line(svg, ex, ey, px, py, colour, width, dash);
  leap_svg_line(svg, px, py, px + 4 * cos(heading), py - 4 * sin(heading), colour, width * 1.6, NULL);
  leap_svg_circle(svg, px, py, 0.9, "none", colour, width * 0.8);
}

static void robot_render(leap_strbuf *svg, const leap_task_example *ex) {
  const double picture = LEAP_ROBOT_SIZE, floor_h = LEAP_ROBOT_BASE_Y + 3, line = 5.0;
  double height = floor_h + line * (ex->n_preds + 1) + 1;
  leap_svg_begin(svg, 4 * picture, 4 * height, 0, 0, picture, height);
  leap_svg_rect(svg, 0, 0, picture, height, "#222", "none", 0);
  if (ex->image) leap_svg_image(svg, 0, 0, picture, picture, ex->image, ex->height, ex->width, ex->channels);
  leap_svg_rect(svg, LEAP_ROBOT_BASE_X - 2, LEAP_ROBOT_BASE_Y - 1, 4, 2, "#aaa", "none", 0);
  draw_arm(svg, ex->truth, "#ffffff", 0.9, "2 1");
  for (int i = 0; i < ex->n_preds; i++) draw_arm(svg, ex->preds[i], leap_task_pred_colour(i), 0.7, NULL);
  double cx, cy, elx, ely;
  leap_robot_arm_points(&elx, &ely, &cx, &cy, ex->truth[0], ex->truth[1]);
  leap_svg_circle(svg, cx, cy, 1.6, "none", "#ffffff", 0.4);
  char text[160];
  snprintf(text, sizeof text, "test sample %lld (truth: dashed white)", (long long)ex->index);
  leap_svg_text(svg, 1, floor_h + line - 1.2, text, 2.9, "start", "#fff");
  for (int i = 0; i < ex->n_preds; i++) {
    double r = leap_robot_reach_error_px(ex->preds[i], ex->truth);
    double w = leap_robot_wrist_error_deg(ex->preds[i], ex->truth);
    snprintf(text, sizeof text, "%s: %.1f px, %.0f deg, %s", ex->pred_labels[i], r, w,
             leap_robot_grasp_success(r, w) ? "grasped" : "missed");
    leap_svg_text(svg, 1, floor_h + line * (i + 2) - 1.2, text, 2.9, "start", leap_task_pred_colour(i));
  }
  leap_svg_end(svg);
}

static const leap_task_field robot_fields[2] = {
    {"joints", 3, joints_metrics, joints_compute},
    {"pose", 2, pose_metrics, pose_compute},
};

const leap_task leap__robot_task = {"robot", "grasp_success", "grasp_success", 2, robot_fields, robot_render};
