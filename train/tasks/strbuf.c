/* The report writers' text buffer and escaping helpers (strbuf.h). */
#include "train/tasks/strbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void leap_strbuf_init(leap_strbuf *sb) { memset(sb, 0, sizeof *sb); }

void leap_strbuf_free(leap_strbuf *sb) {
  free(sb->data);
  memset(sb, 0, sizeof *sb);
}

const char *leap_strbuf_str(const leap_strbuf *sb) { return sb->data ? sb->data : ""; }

/* Makes room for n more bytes and the terminating NUL; false (and failed set) when it cannot. */
static bool reserve(leap_strbuf *sb, size_t n) {
  if (sb->failed) return false;
  if (sb->len + n + 1 <= sb->cap) return true;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + n + 1) cap *= 2;
  char *data = realloc(sb->data, cap);
  if (!data) {
    sb->failed = true;
    return false;
  }
  sb->data = data;
  sb->cap = cap;
  return true;
}

void leap_strbuf_append(leap_strbuf *sb, const char *text, size_t n) {
  if (!reserve(sb, n)) return;
  memcpy(sb->data + sb->len, text, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void leap_strbuf_puts(leap_strbuf *sb, const char *text) { leap_strbuf_append(sb, text, strlen(text)); }

void leap_strbuf_printf(leap_strbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !reserve(sb, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

void leap_strbuf_json_string(leap_strbuf *sb, const char *text) {
  leap_strbuf_append(sb, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    switch (*p) {
      case '"': leap_strbuf_puts(sb, "\\\""); break;
      case '\\': leap_strbuf_puts(sb, "\\\\"); break;
      case '\n': leap_strbuf_puts(sb, "\\n"); break;
      case '\r': leap_strbuf_puts(sb, "\\r"); break;
      case '\t': leap_strbuf_puts(sb, "\\t"); break;
      default:
        if (*p < 0x20) leap_strbuf_printf(sb, "\\u%04x", *p);
        else leap_strbuf_append(sb, (const char *)p, 1);
    }
  }
  leap_strbuf_append(sb, "\"", 1);
}

void leap_strbuf_json_number(leap_strbuf *sb, double value) {
  if (!isfinite(value)) {
    leap_strbuf_puts(sb, "null");
    return;
  }
  /* The shortest of 15 or 17 significant digits that reads back as the same double. */
  char text[40];
  snprintf(text, sizeof text, "%.15g", value);
  if (strtod(text, NULL) != value) snprintf(text, sizeof text, "%.17g", value);
  leap_strbuf_puts(sb, text);
}

void leap_strbuf_xml_text(leap_strbuf *sb, const char *text) {
  for (const char *p = text; *p; p++) {
    switch (*p) {
      case '&': leap_strbuf_puts(sb, "&amp;"); break;
      case '<': leap_strbuf_puts(sb, "&lt;"); break;
      case '>': leap_strbuf_puts(sb, "&gt;"); break;
      case '"': leap_strbuf_puts(sb, "&quot;"); break;
      case '\'': leap_strbuf_puts(sb, "&#39;"); break;
      default: leap_strbuf_append(sb, p, 1);
    }
  }
}

void leap_strbuf_base64(leap_strbuf *sb, const uint8_t *bytes, size_t n) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!reserve(sb, (n + 2) / 3 * 4)) return;
  char *out = sb->data + sb->len;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
    *out++ = alphabet[v >> 18 & 63];
    *out++ = alphabet[v >> 12 & 63];
    *out++ = alphabet[v >> 6 & 63];
    *out++ = alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)bytes[i] << 16 | (i + 1 < n ? (uint32_t)bytes[i + 1] << 8 : 0);
    *out++ = alphabet[v >> 18 & 63];
    *out++ = alphabet[v >> 12 & 63];
    *out++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
    *out++ = '=';
  }
  sb->len = (size_t)(out - sb->data);
  sb->data[sb->len] = '\0';
}

bool leap_strbuf_write_file(const leap_strbuf *sb, const char *path, char *why, size_t why_size) {
  if (sb->failed) {
    snprintf(why, why_size, "out of memory while composing it");
    return false;
  }
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    snprintf(why, why_size, "path too long");
    return false;
  }
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(why, why_size, "%s", strerror(errno));
    return false;
  }
  bool ok = fwrite(leap_strbuf_str(sb), 1, sb->len, f) == sb->len;
  ok = fflush(f) == 0 && ok;
  ok = fsync(fileno(f)) == 0 && ok;
  int saved = errno;
  ok = fclose(f) == 0 && ok;
  if (ok && rename(tmp, path) != 0) {
    saved = errno;
    ok = false;
  }
  if (!ok) {
    snprintf(why, why_size, "%s", strerror(saved ? saved : EIO));
    remove(tmp);
  }
  return ok;
}
