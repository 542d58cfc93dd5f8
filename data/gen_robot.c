#include "data/gen_robot.h"

#include <math.h>
#include <string.h>

#include "kernels/common/kernel_common.h"

#define ROBOT_TASK 1u
#define ROBOT_PURPOSE_SCENE 0u
#define ROBOT_PURPOSE_NOISE 1u
#define ROBOT_TWO_PI 6.28318530717958647692f
#define ROBOT_PIXELS (LEAP_ROBOT_SIZE * LEAP_ROBOT_SIZE)
/* Margin that keeps the whole can inside the picture: its half-diagonal is sqrt(4.5^2 + 1.5^2) = 4.74 px. */
#define ROBOT_CAN_MARGIN 6.0f
#define ROBOT_CAN_RADIUS 4.75f
#define ROBOT_PLACE_ATTEMPTS 64
#define ROBOT_CAN_SAMPLES 8        /* supersampling of the can: coverage in steps of 1/64 */
#define ROBOT_DISTRACTOR_SAMPLES 4
/* Floors darker than this get the light cap, lighter ones the dark cap, so the cap always stands out. */
#define ROBOT_CAP_SWITCH_LEVEL 118.0f

const float leap_robot_body_palette[LEAP_ROBOT_BODY_COLOURS][3] = {
    {180.0f, 35.0f, 35.0f},  /* red */
    {195.0f, 105.0f, 25.0f}, /* orange */
    {185.0f, 170.0f, 35.0f}, /* yellow */
};
const float leap_robot_cap_palette[LEAP_ROBOT_CAP_COLOURS][3] = {
    {190.0f, 190.0f, 195.0f}, /* light */
    {30.0f, 30.0f, 35.0f},    /* dark */
};
const float leap_robot_distractor_palette[LEAP_ROBOT_DISTRACTOR_COLOURS][3] = {
    {45.0f, 150.0f, 65.0f},  /* green */
    {45.0f, 75.0f, 180.0f},  /* blue */
    {130.0f, 55.0f, 160.0f}, /* purple */
    {40.0f, 150.0f, 165.0f}, /* cyan */
};

static void jitter_colour(float *out, const float *base, float amount, leap_gen_rng *r) {
  for (int k = 0; k < 3; k++) out[k] = base[k] + leap_gen_range(r, -amount, amount);
}

static void sample_floor(leap_robot_scene *s, leap_gen_rng *r) {
  float level = leap_gen_range(r, 85.0f, 150.0f);
  for (int k = 0; k < 3; k++) s->floor_rgb[k] = level + leap_gen_range(r, -12.0f, 12.0f);
  s->n_blotches = 3 + leap_gen_int(r, LEAP_ROBOT_MAX_BLOTCHES - 2);
  for (int b = 0; b < s->n_blotches; b++) {
    s->blotch_x[b] = leap_gen_range(r, -4.0f, 68.0f);
    s->blotch_y[b] = leap_gen_range(r, -4.0f, 68.0f);
    s->blotch_radius[b] = leap_gen_range(r, 6.0f, 16.0f);
    float light = leap_gen_range(r, -10.0f, 10.0f);
    for (int k = 0; k < 3; k++) s->blotch_rgb[b][k] = light + leap_gen_range(r, -4.0f, 4.0f);
  }
}

static void sample_lighting(leap_robot_scene *s, leap_gen_rng *r) {
  s->brightness = leap_gen_range(r, 0.7f, 1.3f);
  s->shadow_angle = leap_gen_range(r, 0.0f, ROBOT_TWO_PI);
  s->shadow_offset = leap_gen_range(r, -20.0f, 20.0f);
  s->shadow_width = leap_gen_range(r, 8.0f, 28.0f);
  s->shadow_depth = leap_gen_range(r, 0.1f, 0.35f);
  s->noise = leap_gen_range(r, 4.0f, 10.0f);
}

static bool reachable(float x, float y) {
  float dx = x - LEAP_ROBOT_BASE_X, dy = y - LEAP_ROBOT_BASE_Y;
  return dx * dx + dy * dy <= LEAP_ROBOT_MAX_REACH * LEAP_ROBOT_MAX_REACH;
}

static void sample_trash(leap_robot_scene *s, leap_gen_rng *r) {
  /* Rejection from the square that keeps the can inside the picture; about 70% of it is in reach, so running out
   * of attempts has probability below 1e-30. The centre of the picture is the (reachable) fallback. */
  s->x = s->y = 32.0f;
  for (int a = 0; a < ROBOT_PLACE_ATTEMPTS; a++) {
    float x = leap_gen_range(r, ROBOT_CAN_MARGIN, LEAP_ROBOT_SIZE - ROBOT_CAN_MARGIN);
    float y = leap_gen_range(r, ROBOT_CAN_MARGIN, LEAP_ROBOT_SIZE - ROBOT_CAN_MARGIN);
    if (reachable(x, y)) {
      s->x = x, s->y = y;
      break;
    }
  }
  s->psi = leap_gen_range(r, 0.0f, ROBOT_TWO_PI);
  jitter_colour(s->body_rgb, leap_robot_body_palette[leap_gen_int(r, LEAP_ROBOT_BODY_COLOURS)], 10.0f, r);
  float level = (s->floor_rgb[0] + s->floor_rgb[1] + s->floor_rgb[2]) / 3.0f;
  jitter_colour(s->cap_rgb, leap_robot_cap_palette[level < ROBOT_CAP_SWITCH_LEVEL ? 0 : 1], 8.0f, r);
}

/* Distractors never touch the can (their bounding circle, 0.71 * size, keeps clear of the can's), so the can's
 * pixels are its own; they may overlap each other. One that finds no room is left out. */
static void sample_distractors(leap_robot_scene *s, leap_gen_rng *r) {
  int wanted = leap_gen_int(r, LEAP_ROBOT_MAX_DISTRACTORS + 1);
  s->n_distractors = 0;
  for (int d = 0; d < wanted; d++) {
    leap_robot_object o;
    o.shape = (leap_gen_shape)leap_gen_int(r, 3);
    o.size = leap_gen_range(r, 4.0f, 9.0f);
    o.angle = leap_gen_range(r, 0.0f, ROBOT_TWO_PI);
    jitter_colour(o.rgb, leap_robot_distractor_palette[leap_gen_int(r, LEAP_ROBOT_DISTRACTOR_COLOURS)], 15.0f, r);
    float clear = ROBOT_CAN_RADIUS + 0.71f * o.size + 1.5f;
    for (int a = 0; a < ROBOT_PLACE_ATTEMPTS / 2; a++) {
      o.x = leap_gen_range(r, 2.0f, LEAP_ROBOT_SIZE - 2.0f);
      o.y = leap_gen_range(r, 2.0f, LEAP_ROBOT_SIZE - 2.0f);
      float dx = o.x - s->x, dy = o.y - s->y;
      if (dx * dx + dy * dy >= clear * clear) {
        s->distractors[s->n_distractors++] = o;
        break;
      }
    }
  }
}

void leap_robot_scene_sample(leap_robot_scene *scene, uint64_t seed, leap_split split, int64_t index) {
  memset(scene, 0, sizeof *scene);
  leap_gen_rng r = leap_gen_rng_at(seed, leap_gen_stream(ROBOT_TASK, ROBOT_PURPOSE_SCENE, split), index);
  sample_floor(scene, &r);
  sample_lighting(scene, &r);
  sample_trash(scene, &r);
  sample_distractors(scene, &r);
  scene->draw_trash = true;
  scene->noise_seed = seed;
  scene->noise_stream = leap_gen_stream(ROBOT_TASK, ROBOT_PURPOSE_NOISE, split);
  scene->noise_sample = index;
}

float leap_robot_shade(const leap_robot_scene *s, float x, float y) {
  float along = (x - 32.0f) * cosf(s->shadow_angle) + (y - 32.0f) * sinf(s->shadow_angle);
  float t = (along - s->shadow_offset) / s->shadow_width + 0.5f;
  t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
  return s->brightness * (1.0f - s->shadow_depth * t * t * (3.0f - 2.0f * t));
}

static void paint_floor(float *canvas, const leap_robot_scene *s) {
  for (int p = 0; p < ROBOT_PIXELS; p++)
    for (int k = 0; k < 3; k++) canvas[p * 3 + k] = s->floor_rgb[k];
  /* Each blotch adds its tint with the smooth weight (1 - d^2 / R^2)^2 inside its radius R. */
  for (int b = 0; b < s->n_blotches; b++) {
    float bx = s->blotch_x[b], by = s->blotch_y[b], inv_r2 = 1.0f / (s->blotch_radius[b] * s->blotch_radius[b]);
    for (int row = 0; row < LEAP_ROBOT_SIZE; row++) {
      float dy = (float)row + 0.5f - by;
      for (int col = 0; col < LEAP_ROBOT_SIZE; col++) {
        float dx = (float)col + 0.5f - bx;
        float u = 1.0f - (dx * dx + dy * dy) * inv_r2;
        float w = u > 0.0f ? u * u : 0.0f;
        float *px = canvas + (row * LEAP_ROBOT_SIZE + col) * 3;
        for (int k = 0; k < 3; k++) px[k] += w * s->blotch_rgb[b][k];
      }
    }
  }
}

/* The can: body and cap coverage of each pixel near it, from an 8 x 8 grid of points per pixel. In the can's frame
 * a runs along psi (from -4.5 to 4.5) and b across it (from -1.5 to 1.5); the cap is a > 2.5. */
static void paint_can(float *canvas, const leap_robot_scene *s) {
  const float half_len = 0.5f * LEAP_ROBOT_CAN_LENGTH, half_wid = 0.5f * LEAP_ROBOT_CAN_WIDTH;
  const float cap_start = half_len - LEAP_ROBOT_CAP_LENGTH;
  float ux = cosf(s->psi), uy = -sinf(s->psi);
  int c0 = (int)floorf(s->x - ROBOT_CAN_RADIUS), c1 = (int)ceilf(s->x + ROBOT_CAN_RADIUS);
  int r0 = (int)floorf(s->y - ROBOT_CAN_RADIUS), r1 = (int)ceilf(s->y + ROBOT_CAN_RADIUS);
  const float step = 1.0f / ROBOT_CAN_SAMPLES, weight = step * step;
  for (int row = r0 < 0 ? 0 : r0; row < (r1 > LEAP_ROBOT_SIZE ? LEAP_ROBOT_SIZE : r1); row++) {
    for (int col = c0 < 0 ? 0 : c0; col < (c1 > LEAP_ROBOT_SIZE ? LEAP_ROBOT_SIZE : c1); col++) {
      int body = 0, cap = 0;
      for (int sy = 0; sy < ROBOT_CAN_SAMPLES; sy++) {
        float dy = (float)row + ((float)sy + 0.5f) * step - s->y;
        for (int sx = 0; sx < ROBOT_CAN_SAMPLES; sx++) {
          float dx = (float)col + ((float)sx + 0.5f) * step - s->x;
          float a = dx * ux + dy * uy, b = dy * ux - dx * uy;
          if (fabsf(b) > half_wid || fabsf(a) > half_len) continue;
          if (a > cap_start) cap++;
          else body++;
        }
      }
      if (!body && !cap) continue;
      float cb = (float)body * weight, cc = (float)cap * weight;
      float *px = canvas + (row * LEAP_ROBOT_SIZE + col) * 3;
      for (int k = 0; k < 3; k++) px[k] = px[k] * (1.0f - cb - cc) + s->body_rgb[k] * cb + s->cap_rgb[k] * cc;
    }
  }
}

/* Lighting, noise and rounding. Pixel p's noise is Philox block (noise_sample * 4096 + p) of the noise stream,
 * one lane per channel, so it does not depend on what the scene holds. */
static void finish_pixels(uint8_t *image, const float *canvas, const leap_robot_scene *s) {
  uint64_t base = (uint64_t)s->noise_sample * ROBOT_PIXELS;
  for (int row = 0; row < LEAP_ROBOT_SIZE; row++) {
    for (int col = 0; col < LEAP_ROBOT_SIZE; col++) {
      int p = row * LEAP_ROBOT_SIZE + col;
      float light = leap_robot_shade(s, (float)col + 0.5f, (float)row + 0.5f);
      leap_philox4 bits = leap_rng_block(s->noise_seed, s->noise_stream, base + (uint64_t)p);
      for (int k = 0; k < 3; k++) {
        float v = light * canvas[p * 3 + k] + s->noise * leap_gen_triangular(bits.x[k]);
        v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        image[p * 3 + k] = (uint8_t)(v + 0.5f);
      }
    }
  }
}

void leap_robot_render(uint8_t *image, const leap_robot_scene *scene) {
  float canvas[ROBOT_PIXELS * 3];
  paint_floor(canvas, scene);
  for (int d = 0; d < scene->n_distractors; d++) {
    const leap_robot_object *o = &scene->distractors[d];
    leap__gen_stamp(canvas, LEAP_ROBOT_SIZE, LEAP_ROBOT_SIZE, o->shape, o->x, o->y, o->size, o->angle, o->rgb,
                    ROBOT_DISTRACTOR_SAMPLES);
  }
  if (scene->draw_trash) paint_can(canvas, scene);
  finish_pixels(image, canvas, scene);
}

bool leap_robot_inverse_kinematics(float *theta1, float *theta2, float x, float y) {
  /* Work in a y-up frame at the base so that angles are counter-clockwise as seen on the picture. */
  double dx = (double)x - LEAP_ROBOT_BASE_X, dy = LEAP_ROBOT_BASE_Y - (double)y;
  double l1 = LEAP_ROBOT_LINK1, l2 = LEAP_ROBOT_LINK2, d2 = dx * dx + dy * dy;
  double c2 = (d2 - l1 * l1 - l2 * l2) / (2.0 * l1 * l2);
  if (c2 < -1.0 || c2 > 1.0) return false;
  double t2 = -acos(c2);
  double t1 = atan2(dy, dx) - atan2(l2 * sin(t2), l1 + l2 * cos(t2));
  *theta1 = (float)t1, *theta2 = (float)t2;
  return true;
}

void leap_robot_forward_kinematics(float *x, float *y, float theta1, float theta2) {
  double t1 = theta1, t12 = (double)theta1 + theta2;
  *x = (float)(LEAP_ROBOT_BASE_X + LEAP_ROBOT_LINK1 * cos(t1) + LEAP_ROBOT_LINK2 * cos(t12));
  *y = (float)(LEAP_ROBOT_BASE_Y - LEAP_ROBOT_LINK1 * sin(t1) - LEAP_ROBOT_LINK2 * sin(t12));
}

void leap_robot_labels(float *pose, float *joints, const leap_robot_scene *scene) {
  float t1 = 0.0f, t2 = 0.0f;
  leap_robot_inverse_kinematics(&t1, &t2, scene->x, scene->y);
  double t3 = (double)scene->psi - t1 - t2;
  pose[0] = scene->x / (0.5f * LEAP_ROBOT_SIZE) - 1.0f;
  pose[1] = scene->y / (0.5f * LEAP_ROBOT_SIZE) - 1.0f;
  pose[2] = cosf(scene->psi), pose[3] = sinf(scene->psi);
  joints[0] = t1, joints[1] = t2;
  joints[2] = (float)cos(t3), joints[3] = (float)sin(t3);
}

void leap_robot_generate(uint8_t *images, float *pose, float *joints, uint64_t seed, leap_split split, int64_t first,
                         int64_t n) {
  LEAP_OMP_FOR
  for (int64_t i = 0; i < n; i++) {
    leap_robot_scene scene;
    leap_robot_scene_sample(&scene, seed, split, first + i);
    if (images) leap_robot_render(images + i * LEAP_ROBOT_IMAGE_BYTES, &scene);
    float p[4], j[4];
    leap_robot_labels(p, j, &scene);
    for (int k = 0; k < 4; k++) {
      if (pose) pose[i * 4 + k] = p[k];
      if (joints) joints[i * 4 + k] = j[k];
    }
  }
}
