/* The robot generator's labels agree with its pictures.
 *
 * The can's pixels are found in the picture itself: rendering the same scene with the can's body colour (then its
 * cap colour) changed by a known amount changes exactly the pixels the can covers, each by coverage * lighting *
 * change, so the difference measures each pixel's coverage. The covered pixels' centroid must sit at the labelled
 * (x, y), the cap's side must point along the labelled heading, the forward kinematics of the labelled joints must
 * land on the measured centre, and the pictures must not be trivial. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/gen_robot.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

#define N_SCENES 300
#define PIXELS (LEAP_ROBOT_SIZE * LEAP_ROBOT_SIZE)
#define COLOUR_CHANGE 60.0f
#define CENTROID_TOL_PX 0.25 /* stricter than the 0.5 px the issue asks for */
#define HEADING_TOL_DEG 4.0
#define FK_TOL_PX 0.5

typedef struct can_measure {
  double cx, cy;       /* centroid of body + cap coverage */
  double cap_x, cap_y; /* centroid of the cap's coverage */
  double body_area, cap_area;
} can_measure;

static double wrap_angle(double a) {
  a = fmod(a, 2.0 * M_PI);
  if (a > M_PI) a -= 2.0 * M_PI;
  if (a < -M_PI) a += 2.0 * M_PI;
  return a;
}

/* Coverage of each pixel by one part of the can: (base - changed) / (change * light), averaged over the channels
 * where neither picture hit 0 or 255. */
static void part_coverage(double *cover, const uint8_t *base, const leap_robot_scene *scene, int part) {
  leap_robot_scene changed = *scene;
  float *rgb = part == 0 ? changed.body_rgb : changed.cap_rgb;
  float delta[3];
  for (int k = 0; k < 3; k++) delta[k] = rgb[k] > 128.0f ? -COLOUR_CHANGE : COLOUR_CHANGE;
  for (int k = 0; k < 3; k++) rgb[k] += delta[k];
  uint8_t *other = malloc(LEAP_ROBOT_IMAGE_BYTES);
  leap_robot_render(other, &changed);
  for (int p = 0; p < PIXELS; p++) {
    float light = leap_robot_shade(scene, (float)(p % LEAP_ROBOT_SIZE) + 0.5f, (float)(p / LEAP_ROBOT_SIZE) + 0.5f);
    double sum = 0.0;
    int used = 0;
    for (int k = 0; k < 3; k++) {
      int a = base[p * 3 + k], b = other[p * 3 + k];
      if (a == 0 || a == 255 || b == 0 || b == 255) continue;
      sum += (double)(b - a) / (delta[k] * light), used++;
    }
    cover[p] = used ? sum / used : 0.0;
  }
  free(other);
}

static can_measure measure_can(const uint8_t *image, const leap_robot_scene *scene) {
  double body[PIXELS], cap[PIXELS];
  part_coverage(body, image, scene, 0);
  part_coverage(cap, image, scene, 1);
  can_measure m = {0};
  double w = 0.0;
  for (int p = 0; p < PIXELS; p++) {
    double px = p % LEAP_ROBOT_SIZE + 0.5, py = p / LEAP_ROBOT_SIZE + 0.5;
    double c = body[p] + cap[p];
    m.cx += c * px, m.cy += c * py, w += c;
    m.cap_x += cap[p] * px, m.cap_y += cap[p] * py;
    m.body_area += body[p], m.cap_area += cap[p];
  }
  m.cx /= w, m.cy /= w;
  m.cap_x /= m.cap_area, m.cap_y /= m.cap_area;
  return m;
}

/* The (at least 97%) covered body pixels show the can's own colour under the scene's lighting, up to the noise and
 * the 3% of floor that may show through. */
static bool body_pixels_in_can_colour(const uint8_t *image, const leap_robot_scene *scene) {
  double body[PIXELS];
  part_coverage(body, image, scene, 0);
  int solid = 0, bad = 0;
  for (int p = 0; p < PIXELS; p++) {
    if (body[p] < 0.97) continue;
    float light = leap_robot_shade(scene, (float)(p % LEAP_ROBOT_SIZE) + 0.5f, (float)(p / LEAP_ROBOT_SIZE) + 0.5f);
    solid++;
    for (int k = 0; k < 3; k++) {
      float want = light * scene->body_rgb[k];
      if (want > 254.0f || image[p * 3 + k] == 0) continue;
      bad += fabsf((float)image[p * 3 + k] - want) > scene->noise + 6.0f;
    }
  }
  return solid >= 3 && bad == 0;
}

static void check_labels(const leap_robot_scene *scene, const uint8_t *image, int index, double *worst) {
  float pose[4], joints[4];
  leap_robot_labels(pose, joints, scene);
  can_measure m = measure_can(image, scene);
  double lx = (pose[0] + 1.0) * 32.0, ly = (pose[1] + 1.0) * 32.0;
  double err = hypot(m.cx - lx, m.cy - ly);
  worst[0] = fmax(worst[0], err);
  LEAP_TEST_ASSERT(err <= CENTROID_TOL_PX, "scene %d: can centroid (%.3f,%.3f) vs label (%.3f,%.3f)", index, m.cx,
                   m.cy, lx, ly);
  LEAP_TEST_ASSERT(fabs(m.body_area - 21.0) < 0.6 && fabs(m.cap_area - 6.0) < 0.3,
                   "scene %d: can areas body %.2f cap %.2f, want 21 and 6 (wholly visible)", index, m.body_area,
                   m.cap_area);
  /* The cap's centroid lies 3.5 px from the can's centre along the heading; y points down in the picture. */
  double seen = atan2(-(m.cap_y - m.cy), m.cap_x - m.cx), labelled = atan2(pose[3], pose[2]);
  double heading_err = fabs(wrap_angle(seen - labelled)) * 180.0 / M_PI;
  worst[1] = fmax(worst[1], heading_err);
  LEAP_TEST_ASSERT(heading_err <= HEADING_TOL_DEG, "scene %d: cap points at %.2f deg, label says %.2f deg", index,
                   seen * 180.0 / M_PI, labelled * 180.0 / M_PI);
  LEAP_TEST_ASSERT(fabs(pose[2] * pose[2] + pose[3] * pose[3] - 1.0) < 1e-5, "scene %d: pose (cos,sin) not unit",
                   index);
  float fx, fy;
  leap_robot_forward_kinematics(&fx, &fy, joints[0], joints[1]);
  double fk_err = hypot(fx - m.cx, fy - m.cy);
  worst[2] = fmax(worst[2], fk_err);
  LEAP_TEST_ASSERT(fk_err <= FK_TOL_PX, "scene %d: forward kinematics lands at (%.3f,%.3f), can seen at (%.3f,%.3f)",
                   index, fx, fy, m.cx, m.cy);
  double wrist = atan2(joints[3], joints[2]) + joints[0] + joints[1];
  LEAP_TEST_ASSERT(fabs(wrap_angle(wrist - labelled)) < 1e-4, "scene %d: theta1+theta2+theta3 != psi", index);
  double reach = hypot(lx - LEAP_ROBOT_BASE_X, ly - LEAP_ROBOT_BASE_Y);
  LEAP_TEST_ASSERT(reach <= LEAP_ROBOT_MAX_REACH + 1e-3, "scene %d: can %.2f px from the base", index, reach);
  /* Elbow up: the elbow lies counter-clockwise of the base-to-can line (a positive cross product, y up). */
  double ex = LEAP_ROBOT_LINK1 * cos(joints[0]), ey = LEAP_ROBOT_LINK1 * sin(joints[0]);
  double tx = lx - LEAP_ROBOT_BASE_X, ty = LEAP_ROBOT_BASE_Y - ly;
  LEAP_TEST_ASSERT(joints[1] <= 0.0f && tx * ey - ty * ex >= 0.0, "scene %d: not the elbow-up solution", index);
  LEAP_TEST_ASSERT(body_pixels_in_can_colour(image, scene), "scene %d: the can's pixels are not its colour", index);
}

/* Mean absolute difference between horizontal neighbours: smooth floors give well under 1 grey level. */
static double neighbour_roughness(const uint8_t *image) {
  double sum = 0.0;
  for (int r = 0; r < LEAP_ROBOT_SIZE; r++)
    for (int c = 0; c + 1 < LEAP_ROBOT_SIZE; c++)
      for (int k = 0; k < 3; k++) {
        int i = (r * LEAP_ROBOT_SIZE + c) * 3 + k;
        sum += abs((int)image[i] - (int)image[i + 3]);
      }
  return sum / (LEAP_ROBOT_SIZE * (LEAP_ROBOT_SIZE - 1) * 3);
}

static double mean_level(const uint8_t *image) {
  double sum = 0.0;
  for (int i = 0; i < LEAP_ROBOT_IMAGE_BYTES; i++) sum += image[i];
  return sum / LEAP_ROBOT_IMAGE_BYTES;
}

static double colour_distance(const float *a, const float *b) {
  return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

/* Each distractor shows (its centre differs from the picture without it) and is coloured outside the trash palette. */
static void check_distractors(const leap_robot_scene *scene, const uint8_t *image, int index, int *count_hist) {
  count_hist[scene->n_distractors]++;
  leap_robot_scene bare = *scene;
  bare.n_distractors = 0;
  uint8_t *without = malloc(LEAP_ROBOT_IMAGE_BYTES);
  leap_robot_render(without, &bare);
  for (int d = 0; d < scene->n_distractors; d++) {
    const leap_robot_object *o = &scene->distractors[d];
    int c = (int)o->x, r = (int)o->y, p = (r * LEAP_ROBOT_SIZE + c) * 3, most = 0;
    for (int k = 0; k < 3; k++)
      most = abs((int)image[p + k] - (int)without[p + k]) > most ? abs((int)image[p + k] - (int)without[p + k]) : most;
    LEAP_TEST_ASSERT(most >= 20, "scene %d: distractor %d barely visible (%d grey levels)", index, d, most);
    double nearest = 1e9;
    for (int b = 0; b < LEAP_ROBOT_BODY_COLOURS; b++)
      nearest = fmin(nearest, colour_distance(o->rgb, leap_robot_body_palette[b]));
    for (int b = 0; b < LEAP_ROBOT_CAP_COLOURS; b++)
      nearest = fmin(nearest, colour_distance(o->rgb, leap_robot_cap_palette[b]));
    LEAP_TEST_ASSERT(nearest > 60.0, "scene %d: distractor %d colour within %.1f of the trash palette", index, d,
                     nearest);
  }
  free(without);
}

static void check_scenes(void) {
  uint8_t *image = malloc(LEAP_ROBOT_IMAGE_BYTES), *no_can = malloc(LEAP_ROBOT_IMAGE_BYTES);
  double worst[3] = {0.0, 0.0, 0.0}, lo = 1e9, hi = 0.0, roughest_min = 1e9;
  int count_hist[LEAP_ROBOT_MAX_DISTRACTORS + 1] = {0};
  for (int i = 0; i < N_SCENES; i++) {
    leap_robot_scene scene;
    leap_robot_scene_sample(&scene, 11, LEAP_SPLIT_TRAIN, i);
    leap_robot_render(image, &scene);
    check_labels(&scene, image, i, worst);
    check_distractors(&scene, image, i, count_hist);
    leap_robot_scene bare = scene;
    bare.draw_trash = false;
    leap_robot_render(no_can, &bare);
    roughest_min = fmin(roughest_min, neighbour_roughness(no_can));
    double level = mean_level(image);
    lo = fmin(lo, level), hi = fmax(hi, level);
  }
  printf("robot: worst centroid error %.3f px, heading error %.2f deg, FK error %.3f px over %d scenes\n", worst[0],
         worst[1], worst[2], N_SCENES);
  printf("robot: mean level %.1f .. %.1f; least neighbour roughness %.2f; distractor counts", lo, hi, roughest_min);
  for (int k = 0; k <= LEAP_ROBOT_MAX_DISTRACTORS; k++) printf(" %d", count_hist[k]);
  printf("\n");
  LEAP_TEST_ASSERT(roughest_min > 1.5, "a floor without per-pixel noise (roughness %.2f)", roughest_min);
  LEAP_TEST_ASSERT(hi / lo > 1.6, "brightness barely varies: mean levels %.1f .. %.1f", lo, hi);
  for (int k = 0; k <= LEAP_ROBOT_MAX_DISTRACTORS; k++)
    LEAP_TEST_ASSERT(count_hist[k] >= N_SCENES / 10, "only %d scenes with %d distractors", count_hist[k], k);
  free(image);
  free(no_can);
}

/* Moving the can by a quarter pixel changes the picture: the rendering is anti-aliased. */
static void check_subpixel(void) {
  leap_robot_scene scene;
  leap_robot_scene_sample(&scene, 3, LEAP_SPLIT_VAL, 7);
  uint8_t *a = malloc(LEAP_ROBOT_IMAGE_BYTES), *b = malloc(LEAP_ROBOT_IMAGE_BYTES);
  for (int axis = 0; axis < 2; axis++) {
    leap_robot_scene moved = scene;
    *(axis ? &moved.y : &moved.x) += 0.25f;
    leap_robot_render(a, &scene);
    leap_robot_render(b, &moved);
    int most = 0;
    for (int i = 0; i < LEAP_ROBOT_IMAGE_BYTES; i++)
      most = abs((int)a[i] - (int)b[i]) > most ? abs((int)a[i] - (int)b[i]) : most;
    LEAP_TEST_ASSERT(most >= 5, "a quarter-pixel move along %c changes the picture by only %d levels", "xy"[axis],
                     most);
  }
  free(a);
  free(b);
}

static void check_kinematics(void) {
  float t1, t2, x, y;
  LEAP_TEST_ASSERT(!leap_robot_inverse_kinematics(&t1, &t2, 32.0f, 66.0f - 56.5f), "out of reach accepted");
  LEAP_TEST_ASSERT(!leap_robot_inverse_kinematics(&t1, &t2, 32.0f, 66.0f - 3.0f), "inside the inner limit accepted");
  double worst = 0.0;
  for (float py = 6.0f; py <= 58.0f; py += 1.3f)
    for (float px = 6.0f; px <= 58.0f; px += 1.7f) {
      if (!leap_robot_inverse_kinematics(&t1, &t2, px, py)) continue;
      leap_robot_forward_kinematics(&x, &y, t1, t2);
      worst = fmax(worst, hypot(x - px, y - py));
      LEAP_TEST_ASSERT(t1 > 0.0f && t1 < 6.2832f && t2 <= 0.0f, "angles out of range at (%g,%g)", px, py);
    }
  LEAP_TEST_ASSERT(worst < 1e-3, "FK(IK(p)) misses p by %.2e px", worst);
}

/* The same bits on 1 and 2 threads, from any starting sample, and different bits for other splits and seeds. */
static void check_determinism(void) {
  enum { N = 24, FIRST = 5 };
  size_t bytes = (size_t)N * LEAP_ROBOT_IMAGE_BYTES;
  uint8_t *a = malloc(bytes), *b = malloc(bytes), *one = malloc(LEAP_ROBOT_IMAGE_BYTES);
  float pa[N * 4], pb[N * 4], ja[N * 4], jb[N * 4];
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(1);
#endif
  leap_robot_generate(a, pa, ja, 9, LEAP_SPLIT_TRAIN, FIRST, N);
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(2);
#endif
  leap_robot_generate(b, pb, jb, 9, LEAP_SPLIT_TRAIN, FIRST, N);
  LEAP_TEST_ASSERT(!memcmp(a, b, bytes) && !memcmp(pa, pb, sizeof pa) && !memcmp(ja, jb, sizeof ja),
                   "1 and 2 threads differ");
  leap_robot_generate(one, NULL, NULL, 9, LEAP_SPLIT_TRAIN, FIRST + 3, 1);
  LEAP_TEST_ASSERT(!memcmp(one, a + 3 * LEAP_ROBOT_IMAGE_BYTES, LEAP_ROBOT_IMAGE_BYTES),
                   "sample 8 depends on the block");
  leap_robot_generate(b, NULL, NULL, 9, LEAP_SPLIT_VAL, FIRST, N);
  LEAP_TEST_ASSERT(memcmp(a, b, LEAP_ROBOT_IMAGE_BYTES) != 0, "train and val give the same picture");
  leap_robot_generate(b, NULL, NULL, 10, LEAP_SPLIT_TRAIN, FIRST, N);
  LEAP_TEST_ASSERT(memcmp(a, b, LEAP_ROBOT_IMAGE_BYTES) != 0, "seeds 9 and 10 give the same picture");
  free(a);
  free(b);
  free(one);
}

int main(void) {
  check_kinematics();
  check_scenes();
  check_subpixel();
  check_determinism();
  return leap_test_finish();
}
