/* The robot task's generator (shared/TASKS.md, "robot"): top-down 64x64 pictures of a floor with one can of trash
 * and some distractors, labelled with the can's pose and the joint angles of the planar arm that picks it up.
 *
 * Frames. Picture coordinates are continuous pixel units as in data/gen_draw.h: pixel (row r, column c) covers
 * [c, c+1) x [r, r+1), x to the right, y down, so the picture spans [0, 64] x [0, 64]. Angles are measured
 * counter-clockwise as seen on the picture: heading a points along (cos a, -sin a) in picture coordinates (up on
 * the picture is a = pi/2).
 *
 * The can is a 3 x 9 px rectangle centred at (x, y), its long axis along heading psi; its last 2 px towards psi are
 * the cap, in another colour. The arm's base sits at (32, 66), just below the picture's bottom edge; link 1 (30 px)
 * turns by theta1 from the x axis, link 2 (26 px) by theta2 relative to link 1, and the wrist by theta3 relative to
 * link 2, so the gripper's heading is theta1 + theta2 + theta3 = psi. The inverse kinematics takes the elbow-up
 * solution: theta2 <= 0, so the elbow lies counter-clockwise of the line from the base to the can (above it for a
 * can to the right). As every can lies above the base, theta1 then lies in (0, 2 pi) with no jump anywhere in the
 * reachable region. The can is placed only where the arm reaches (at most 55 px from the base) and wholly inside
 * the picture. */
#ifndef LEAP_DATA_GEN_ROBOT_H
#define LEAP_DATA_GEN_ROBOT_H

#include <stdbool.h>
#include <stdint.h>

#include "data/gen_common.h"
#include "data/gen_draw.h"

#define LEAP_ROBOT_VERSION 1
#define LEAP_ROBOT_SIZE 64 /* picture height and width */
#define LEAP_ROBOT_IMAGE_BYTES (LEAP_ROBOT_SIZE * LEAP_ROBOT_SIZE * 3)
#define LEAP_ROBOT_BASE_X 32.0f
#define LEAP_ROBOT_BASE_Y 66.0f
#define LEAP_ROBOT_LINK1 30.0f
#define LEAP_ROBOT_LINK2 26.0f
#define LEAP_ROBOT_MAX_REACH 55.0f /* the can's centre is placed at most this far from the base */
#define LEAP_ROBOT_CAN_LENGTH 9.0f
#define LEAP_ROBOT_CAN_WIDTH 3.0f
#define LEAP_ROBOT_CAP_LENGTH 2.0f
#define LEAP_ROBOT_MAX_DISTRACTORS 4
#define LEAP_ROBOT_MAX_BLOTCHES 6
#define LEAP_ROBOT_BODY_COLOURS 3
#define LEAP_ROBOT_CAP_COLOURS 2
#define LEAP_ROBOT_DISTRACTOR_COLOURS 4

/* The trash palette (can bodies and caps) and the distractors' palette, which lies far from it. Each object's
 * colour is its palette entry plus a small random jitter. */
extern const float leap_robot_body_palette[LEAP_ROBOT_BODY_COLOURS][3];
extern const float leap_robot_cap_palette[LEAP_ROBOT_CAP_COLOURS][3];
extern const float leap_robot_distractor_palette[LEAP_ROBOT_DISTRACTOR_COLOURS][3];

typedef struct leap_robot_object {
  leap_gen_shape shape; /* disc, square or triangle */
  float x, y, size, angle;
  float rgb[3];
} leap_robot_object;

/* Everything that decides one picture. The picture is floor (colour plus blotches), then distractors, then the can,
 * all multiplied by the lighting (leap_robot_shade), plus per-pixel noise, rounded to uint8. */
typedef struct leap_robot_scene {
  float floor_rgb[3];
  int n_blotches; /* low-contrast blotches: a smooth bump of tint each */
  float blotch_x[LEAP_ROBOT_MAX_BLOTCHES], blotch_y[LEAP_ROBOT_MAX_BLOTCHES], blotch_radius[LEAP_ROBOT_MAX_BLOTCHES];
  float blotch_rgb[LEAP_ROBOT_MAX_BLOTCHES][3];
  float brightness;                       /* global factor, 0.7 to 1.3 */
  float shadow_angle, shadow_offset;      /* the shadow's edge: its normal's heading and distance from the centre */
  float shadow_width, shadow_depth;       /* its softness in px and how much light it takes away */
  float noise;                            /* per-pixel noise amplitude (triangular, in grey levels) */
  int n_distractors;
  leap_robot_object distractors[LEAP_ROBOT_MAX_DISTRACTORS];
  float x, y, psi;                        /* the can's centre and heading */
  float body_rgb[3], cap_rgb[3];
  bool draw_trash;                        /* always true when generating; tests render without it */
  uint64_t noise_seed, noise_stream;      /* where the per-pixel noise comes from */
  int64_t noise_sample;
} leap_robot_scene;

/* Draws scene number index of (seed, split). */
void leap_robot_scene_sample(leap_robot_scene *scene, uint64_t seed, leap_split split, int64_t index);

/* Renders a scene. */
void leap_robot_render(uint8_t *image /* (64,64,3) */, const leap_robot_scene *scene);

/* The lighting factor at picture point (x, y): brightness times the soft shadow. */
float leap_robot_shade(const leap_robot_scene *scene, float x, float y);

/* Elbow-up inverse kinematics for the can centre (x, y); false (angles untouched) when out of reach. */
bool leap_robot_inverse_kinematics(float *theta1, float *theta2, float x, float y);

/* Where the arm's end lands for shoulder theta1 and elbow theta2, in picture coordinates. */
void leap_robot_forward_kinematics(float *x, float *y, float theta1, float theta2);

/* The labels of a scene: pose = (x / 32 - 1, y / 32 - 1, cos psi, sin psi); joints = (theta1, theta2, cos theta3,
 * sin theta3) with theta3 = psi - theta1 - theta2. */
void leap_robot_labels(float *pose /* (4) */, float *joints /* (4) */, const leap_robot_scene *scene);

/* Samples first .. first+n-1 of (seed, split), in parallel over samples (OpenMP); the same bits on any number of
 * threads. Any output may be NULL. */
void leap_robot_generate(uint8_t *images /* (n,64,64,3) */, float *pose /* (n,4) */, float *joints /* (n,4) */,
                         uint64_t seed, leap_split split, int64_t first, int64_t n);

#endif
