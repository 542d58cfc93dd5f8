/* The robot task's metrics (shared/TASKS.md, "robot"), per sample, in the generator's frame (data/gen_robot.h):
 * picture pixels with y down, angles counter-clockwise as seen on the picture, the arm's base at (32, 66) with
 * links of 30 and 26 px. joints = (theta1, theta2, cos theta3, sin theta3); pose = (x / 32 - 1, y / 32 - 1,
 * cos psi, sin psi). */
#ifndef LEAP_TRAIN_TASKS_ROBOT_TASK_H
#define LEAP_TRAIN_TASKS_ROBOT_TASK_H

#include <stdbool.h>

#define LEAP_ROBOT_GRASP_REACH_PX 2.5   /* a grasp needs the gripper this close to the can's centre */
#define LEAP_ROBOT_GRASP_WRIST_DEG 15.0 /* and the gripper's heading this close to the can's */

/* Angle a wrapped into (-pi, pi]. */
double leap_robot_wrap_angle(double a);

/* Where shoulder theta1 and elbow theta2 put the elbow and the end effector (double precision forward
 * kinematics, the same as leap_robot_forward_kinematics of the generator). */
void leap_robot_arm_points(double *elbow_x, double *elbow_y, double *end_x, double *end_y, double theta1,
                           double theta2);

/* The distance in px from the end effector placed by the predicted theta1, theta2 to the can's centre, which is
 * where the true joints put it (the labels come from exact inverse kinematics). */
double leap_robot_reach_error_px(const float pred[4], const float truth[4]);
/* |wrap(theta1 + theta2 + theta3 - psi)| in degrees, theta3 = atan2(sin, cos) of the predicted (cos, sin) and psi
 * the true gripper heading. */
double leap_robot_wrist_error_deg(const float pred[4], const float truth[4]);
bool leap_robot_grasp_success(double reach_error_px, double wrist_error_deg);

/* The perceive stage's errors: the can's position (px) and heading (degrees) from predicted and true poses. */
double leap_robot_position_error_px(const float pred[4], const float truth[4]);
double leap_robot_heading_error_deg(const float pred[4], const float truth[4]);

#endif
