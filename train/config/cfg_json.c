/* The resolved config's JSON text, written in the order the config is read. Commas are placed by a per-depth flag
 * ("a value has been written at this depth"), so that readers only say open, key, value, close. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/config/cfg_internal.h"

static void put(leap__json *j, const char *s, size_t n) {
  if (j->failed) return;
  if (j->len + n + 1 > j->cap) {
    size_t cap = j->cap ? j->cap : 1024;
    while (j->len + n + 1 > cap) cap *= 2;
    char *buf = realloc(j->buf, cap);
    if (!buf) {
      j->failed = true;
      return;
    }
    j->buf = buf;
    j->cap = cap;
  }
  memcpy(j->buf + j->len, s, n);
  j->len += n;
  j->buf[j->len] = '\0';
}

/* Before a value or a key: a comma unless it is the first at this depth or the value of a key just written. */
static void separate(leap__json *j) {
  if (j->after_key) {
    j->after_key = false;
    return;
  }
  if (j->need_comma[j->depth]) put(j, ", ", 2);
  j->need_comma[j->depth] = true;
}

void leap__json_open(leap__json *j, char bracket) {
  separate(j);
  put(j, &bracket, 1);
  if (j->depth + 1 < LEAP__CFG_JSON_DEPTH) j->depth++;
  else j->failed = true;
  j->need_comma[j->depth] = false;
}

void leap__json_close(leap__json *j, char bracket) {
  put(j, &bracket, 1);
  if (j->depth > 0) j->depth--;
}

void leap__json_string(leap__json *j, const char *s) {
  separate(j);
  put(j, "\"", 1);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    char esc[8];
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\', esc[1] = (char)ch;
      put(j, esc, 2);
    } else if (ch < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", ch);
      put(j, esc, 6);
    } else {
      put(j, s, 1);
    }
  }
  put(j, "\"", 1);
}

void leap__json_key(leap__json *j, const char *key) {
  leap__json_string(j, key);
  put(j, ": ", 2);
  j->after_key = true;
}

void leap__json_raw(leap__json *j, const char *literal) {
  separate(j);
  put(j, literal, strlen(literal));
}

void leap__json_int(leap__json *j, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  leap__json_raw(j, buf);
}

void leap__json_number(leap__json *j, double v, size_t size) {
  char buf[40];
  int lo = size == sizeof(float) ? 6 : 15, hi = size == sizeof(float) ? 9 : 17;
  for (int digits = lo; digits <= hi; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    double back = strtod(buf, NULL);
    if (size == sizeof(float) ? (float)back == (float)v : back == v) break;
  }
  leap__json_raw(j, buf);
}
