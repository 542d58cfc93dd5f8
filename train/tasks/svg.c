/* SVG elements and the PNG encoder behind embedded pictures (svg.h). */
#include "train/tasks/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void leap_svg_begin(leap_strbuf *sb, double width_px, double height_px, double x0, double y0, double w, double h) {
  leap_strbuf_printf(sb,
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                     "viewBox=\"%.4g %.4g %.4g %.4g\" font-family=\"sans-serif\">\n",
                     width_px, height_px, x0, y0, w, h);
}

void leap_svg_end(leap_strbuf *sb) { leap_strbuf_puts(sb, "</svg>\n"); }

void leap_svg_line(leap_strbuf *sb, double x1, double y1, double x2, double y2, const char *stroke, double width,
                   const char *dash) {
  leap_strbuf_printf(sb, "<line x1=\"%.5g\" y1=\"%.5g\" x2=\"%.5g\" y2=\"%.5g\" stroke=\"%s\" stroke-width=\"%.4g\"",
                     x1, y1, x2, y2, stroke, width);
  if (dash) leap_strbuf_printf(sb, " stroke-dasharray=\"%s\"", dash);
  leap_strbuf_puts(sb, " stroke-linecap=\"round\"/>\n");
}

void leap_svg_circle(leap_strbuf *sb, double cx, double cy, double r, const char *fill, const char *stroke,
                     double width) {
  leap_strbuf_printf(sb,
                     "<circle cx=\"%.5g\" cy=\"%.5g\" r=\"%.4g\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%.4g\"/>\n",
                     cx, cy, r, fill, stroke, width);
}

void leap_svg_rect(leap_strbuf *sb, double x, double y, double w, double h, const char *fill, const char *stroke,
                   double width) {
  leap_strbuf_printf(sb,
                     "<rect x=\"%.5g\" y=\"%.5g\" width=\"%.5g\" height=\"%.5g\" fill=\"%s\" stroke=\"%s\" "
                     "stroke-width=\"%.4g\"/>\n",
                     x, y, w, h, fill, stroke, width);
}

void leap_svg_polyline(leap_strbuf *sb, const double *xs, const double *ys, int n, const char *stroke, double width) {
  leap_strbuf_puts(sb, "<polyline points=\"");
  for (int i = 0; i < n; i++)
    if (isfinite(xs[i]) && isfinite(ys[i])) leap_strbuf_printf(sb, "%.5g,%.5g ", xs[i], ys[i]);
  leap_strbuf_printf(sb, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.4g\" stroke-linejoin=\"round\"/>\n", stroke,
                     width);
}

void leap_svg_text(leap_strbuf *sb, double x, double y, const char *text, double size, const char *anchor,
                   const char *fill) {
  leap_strbuf_printf(sb, "<text x=\"%.5g\" y=\"%.5g\" font-size=\"%.4g\" text-anchor=\"%s\" fill=\"%s\">", x, y, size,
                     anchor, fill);
  leap_strbuf_xml_text(sb, text);
  leap_strbuf_puts(sb, "</text>\n");
}

void leap_svg_image(leap_strbuf *sb, double x, double y, double w, double h, const uint8_t *pixels, int height,
                    int width, int channels) {
  leap_strbuf png;
  leap_strbuf_init(&png);
  leap_png_encode(&png, pixels, height, width, channels);
  leap_strbuf_printf(sb,
                     "<image x=\"%.5g\" y=\"%.5g\" width=\"%.5g\" height=\"%.5g\" preserveAspectRatio=\"none\" "
                     "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,",
                     x, y, w, h);
  if (png.failed) sb->failed = true;
  else leap_strbuf_base64(sb, (const uint8_t *)leap_strbuf_str(&png), png.len);
  leap_strbuf_puts(sb, "\"/>\n");
  leap_strbuf_free(&png);
}

/* PNG's CRC-32 (ISO 3309), bit by bit: pictures in reports are small, so no table is worth keeping. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *bytes, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= bytes[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static void put_be32(leap_strbuf *sb, uint32_t v) {
  const char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
  leap_strbuf_append(sb, b, 4);
}

/* One chunk: length, type, data, and the CRC of type and data. */
static void put_chunk(leap_strbuf *sb, const char type[4], const uint8_t *data, size_t n) {
  put_be32(sb, (uint32_t)n);
  size_t start = sb->len;
  leap_strbuf_append(sb, type, 4);
  if (n) leap_strbuf_append(sb, (const char *)data, n);
  if (sb->failed) return;
  put_be32(sb, crc32_update(0, (const uint8_t *)sb->data + start, 4 + n));
}

/* The zlib stream of raw (rows prefixed by filter byte 0) in stored deflate blocks of at most 65535 bytes. */
static uint8_t *zlib_stored(const uint8_t *raw, size_t n, size_t *out_n) {
  size_t blocks = n / 65535 + 1;
  uint8_t *z = malloc(2 + blocks * 5 + n + 4);
  if (!z) return NULL;
  size_t o = 0;
  z[o++] = 0x78;
  z[o++] = 0x01;
  uint32_t a = 1, b = 0;
  for (size_t done = 0, k = 0; k < blocks; k++) {
    size_t len = n - done < 65535 ? n - done : 65535;
    z[o++] = k + 1 == blocks ? 1 : 0;
    z[o++] = (uint8_t)len;
    z[o++] = (uint8_t)(len >> 8);
    z[o++] = (uint8_t)~len;
    z[o++] = (uint8_t)(~len >> 8);
    memcpy(z + o, raw + done, len);
    for (size_t i = 0; i < len; i++) {
      a = (a + raw[done + i]) % 65521u;
      b = (b + a) % 65521u;
    }
    o += len;
    done += len;
  }
  uint32_t adler = b << 16 | a;
  for (int s = 24; s >= 0; s -= 8) z[o++] = (uint8_t)(adler >> s);
  *out_n = o;
  return z;
}

void leap_png_encode(leap_strbuf *sb, const uint8_t *pixels, int height, int width, int channels) {
  static const uint8_t colour_type[5] = {0, 0, 4, 2, 6};
  size_t row = (size_t)width * (size_t)channels;
  size_t n = (row + 1) * (size_t)height;
  uint8_t *raw = malloc(n ? n : 1);
  if (!raw || channels < 1 || channels > 4) {
    free(raw);
    sb->failed = true;
    return;
  }
  for (int r = 0; r < height; r++) {
    raw[(size_t)r * (row + 1)] = 0;
    memcpy(raw + (size_t)r * (row + 1) + 1, pixels + (size_t)r * row, row);
  }
  size_t zn = 0;
  uint8_t *z = zlib_stored(raw, n, &zn);
  free(raw);
  if (!z) {
    sb->failed = true;
    return;
  }
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  uint8_t ihdr[13] = {(uint8_t)(width >> 24), (uint8_t)(width >> 16), (uint8_t)(width >> 8), (uint8_t)width,
                      (uint8_t)(height >> 24), (uint8_t)(height >> 16), (uint8_t)(height >> 8), (uint8_t)height,
                      8, colour_type[channels], 0, 0, 0};
  leap_strbuf_append(sb, (const char *)signature, 8);
  put_chunk(sb, "IHDR", ihdr, sizeof ihdr);
  put_chunk(sb, "IDAT", z, zn);
  put_chunk(sb, "IEND", NULL, 0);
  free(z);
}
