/* Small SVG writers shared by the tasks' example pictures and the comparison's plots: elements appended to a
 * leap_strbuf, numbers printed with few digits, text escaped, and pictures embedded as PNG data URIs so that a
 * report is one self-contained file. */
#ifndef LEAP_TRAIN_TASKS_SVG_H
#define LEAP_TRAIN_TASKS_SVG_H

#include <stdint.h>

#include "train/tasks/strbuf.h"

/* <svg> with a pixel size and a viewBox (x0, y0, w, h) in user units. */
void leap_svg_begin(leap_strbuf *sb, double width_px, double height_px, double x0, double y0, double w, double h);
void leap_svg_end(leap_strbuf *sb);

/* stroke: a CSS colour; width in user units; dash: NULL or an SVG dash array ("4 2"). */
void leap_svg_line(leap_strbuf *sb, double x1, double y1, double x2, double y2, const char *stroke, double width,
                   const char *dash);
/* fill or stroke may be "none". */
void leap_svg_circle(leap_strbuf *sb, double cx, double cy, double r, const char *fill, const char *stroke,
                     double width);
void leap_svg_rect(leap_strbuf *sb, double x, double y, double w, double h, const char *fill, const char *stroke,
                   double width);
/* A polyline through n points (xs[i], ys[i]); non-finite points are skipped. */
void leap_svg_polyline(leap_strbuf *sb, const double *xs, const double *ys, int n, const char *stroke, double width);
/* anchor: "start", "middle" or "end"; size in user units. */
void leap_svg_text(leap_strbuf *sb, double x, double y, const char *text, double size, const char *anchor,
                   const char *fill);

/* An 8-bit picture (H,W,C), C = 1 (grey), 3 (RGB) or 4 (RGBA), drawn into the rectangle (x, y, w, h) with its
 * pixels kept sharp when scaled up. */
void leap_svg_image(leap_strbuf *sb, double x, double y, double w, double h, const uint8_t *pixels, int height,
                    int width, int channels);

/* The PNG file of a picture (uncompressed deflate blocks: no compression library needed, and small pictures stay
 * small), appended as bytes to sb. */
void leap_png_encode(leap_strbuf *sb, const uint8_t *pixels, int height, int width, int channels);

#endif
