/* Anti-aliased drawing for the seed tasks' generators: flat-coloured shapes composited onto a float RGB canvas
 * by their area coverage of each pixel.
 *
 * Coordinates are continuous pixel units: pixel (row r, column c) covers [c, c+1) x [r, r+1), so its centre is
 * (c + 0.5, r + 0.5), x to the right and y down. Coverage is measured by supersampling each pixel on a regular
 * S x S grid, so moving a shape by a fraction of a pixel changes the picture. */
#ifndef LEAP_DATA_GEN_DRAW_H
#define LEAP_DATA_GEN_DRAW_H

#include <stdbool.h>

typedef enum leap_gen_shape {
  LEAP_GEN_DISC = 0,   /* diameter size */
  LEAP_GEN_SQUARE,     /* side 0.88 * size, about the disc's area */
  LEAP_GEN_TRIANGLE,   /* isosceles, base and height size, apex towards local -y */
  LEAP_GEN_CROSS,      /* a plus sign, arms size long and size / 3 wide */
  LEAP_GEN_SHAPE_COUNT
} leap_gen_shape;

/* Whether the point (a, b), in the shape's own frame (centred, unrotated), lies inside. */
bool leap__gen_shape_contains(leap_gen_shape shape, float size, float a, float b);

/* Composites a shape centred at (cx, cy), rotated by angle radians (counter-clockwise on screen), onto canvas
 * (height, width, 3): canvas = canvas * (1 - coverage) + rgb * coverage, coverage from samples x samples points per
 * pixel. Parts outside the canvas are clipped. */
void leap__gen_stamp(float *canvas /* (height,width,3) */, int height, int width, leap_gen_shape shape, float cx,
                     float cy, float size, float angle, const float rgb[3], int samples);

#endif
