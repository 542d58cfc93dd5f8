#include "train/core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

leap_status leap_error_set(leap_error *err, leap_status status, const char *fmt, ...) {
  if (!err || err->status != LEAP_OK) return status;
  err->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return status;
}

void leap_error_clear(leap_error *err) {
  err->status = LEAP_OK;
  err->message[0] = '\0';
}

const char *leap_status_name(leap_status status) {
  static const char *names[] = {"ok",          "shape error", "device error", "dtype error",
                                "value error", "non-finite",  "unsupported",  "I/O error",
                                "format error", "config error", "out of memory"};
  return (unsigned)status < sizeof names / sizeof names[0] ? names[status] : "unknown error";
}

_Noreturn void leap__fatal(const char *file, int line, const char *fmt, ...) {
  fprintf(stderr, "leap: fatal at %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}
