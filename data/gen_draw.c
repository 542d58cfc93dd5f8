#include "data/gen_draw.h"

#include <math.h>
#include <stdint.h>

bool leap__gen_shape_contains(leap_gen_shape shape, float size, float a, float b) {
  float h = 0.5f * size;
  switch (shape) {
  case LEAP_GEN_DISC:
    return a * a + b * b <= h * h;
  case LEAP_GEN_SQUARE:
    return fabsf(a) <= 0.44f * size && fabsf(b) <= 0.44f * size;
  case LEAP_GEN_TRIANGLE:
    /* The half-width grows linearly from 0 at the apex (b = -h) to h at the base (b = h). */
    return b <= h && fabsf(a) <= 0.5f * (b + h);
  case LEAP_GEN_CROSS: {
    float arm = size / 6.0f;
    return (fabsf(a) <= arm && fabsf(b) <= h) || (fabsf(b) <= arm && fabsf(a) <= h);
  }
  default:
    return false;
  }
}

void leap__gen_stamp(float *canvas, int height, int width, leap_gen_shape shape, float cx, float cy, float size,
                     float angle, const float rgb[3], int samples) {
  /* Screen y points down, so a counter-clockwise turn on screen maps the local axis (1, 0) to (cos, -sin). */
  float ca = cosf(angle), sa = sinf(angle);
  float reach = 0.75f * size + 1.0f;
  int c0 = (int)floorf(cx - reach), c1 = (int)ceilf(cx + reach);
  int r0 = (int)floorf(cy - reach), r1 = (int)ceilf(cy + reach);
  c0 = c0 < 0 ? 0 : c0, r0 = r0 < 0 ? 0 : r0;
  c1 = c1 > width ? width : c1, r1 = r1 > height ? height : r1;
  float step = 1.0f / (float)samples, weight = 1.0f / (float)(samples * samples);
  for (int r = r0; r < r1; r++) {
    for (int c = c0; c < c1; c++) {
      int inside = 0;
      for (int sy = 0; sy < samples; sy++) {
        float dy = (float)r + ((float)sy + 0.5f) * step - cy;
        for (int sx = 0; sx < samples; sx++) {
          float dx = (float)c + ((float)sx + 0.5f) * step - cx;
          float a = ca * dx - sa * dy, b = sa * dx + ca * dy;
          inside += leap__gen_shape_contains(shape, size, a, b);
        }
      }
      if (!inside) continue;
      float cover = (float)inside * weight;
      float *px = canvas + ((int64_t)r * width + c) * 3;
      for (int k = 0; k < 3; k++) px[k] += cover * (rgb[k] - px[k]);
    }
  }
}
