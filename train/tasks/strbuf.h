/* A growable text buffer for writing reports (JSON, Markdown, HTML with inline SVG), with the one escaping helper
 * for each output language. An allocation failure is remembered (failed) instead of reported at each append, so a
 * writer appends freely and checks once at the end. */
#ifndef LEAP_TRAIN_TASKS_STRBUF_H
#define LEAP_TRAIN_TASKS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct leap_strbuf {
  char *data; /* NUL-terminated when len > 0; NULL until the first append */
  size_t len, cap;
  bool failed; /* an allocation failed: the content is incomplete */
} leap_strbuf;

void leap_strbuf_init(leap_strbuf *sb);
void leap_strbuf_free(leap_strbuf *sb);
/* The text so far ("" when empty). */
const char *leap_strbuf_str(const leap_strbuf *sb);

void leap_strbuf_append(leap_strbuf *sb, const char *text, size_t n);
void leap_strbuf_puts(leap_strbuf *sb, const char *text);
void leap_strbuf_printf(leap_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON string literal with its quotes; control characters, quotes and backslashes escaped. */
void leap_strbuf_json_string(leap_strbuf *sb, const char *text);
/* A JSON number: finite values with 17 significant digits at most (shortest form that reads back the same for
 * doubles that came from floats), and null for NaN or infinities, which JSON cannot hold. */
void leap_strbuf_json_number(leap_strbuf *sb, double value);
/* Text for HTML or SVG element content and attribute values: & < > " ' escaped. */
void leap_strbuf_xml_text(leap_strbuf *sb, const char *text);
/* Standard base64 (RFC 4648, with padding) of n bytes. */
void leap_strbuf_base64(leap_strbuf *sb, const uint8_t *bytes, size_t n);

/* Writes the buffer to path atomically (path.tmp, then rename); false with errno-style text in why on failure. */
bool leap_strbuf_write_file(const leap_strbuf *sb, const char *path, char *why, size_t why_size);

#endif
