/* Errors, in two tiers (shared/DESIGN.md, "Errors").
 *
 * Programmer errors and failed CUDA/cuBLAS/NCCL calls abort through LEAP_ASSERT / LEAP_CUDA_CHECK, which print
 * file:line and the message. Everything a user can cause (a shape mismatch, a bad config key, a missing dataset)
 * is a leap_status with a message naming the file, key or tensor, carried in a leap_error. */
#ifndef LEAP_TRAIN_CORE_ERROR_H
#define LEAP_TRAIN_CORE_ERROR_H

#include <stdbool.h>

typedef enum leap_status {
  LEAP_OK = 0,
  LEAP_ERR_SHAPE,       /* tensor shapes do not fit the op */
  LEAP_ERR_DEVICE,      /* tensors on different devices, or a device this build lacks */
  LEAP_ERR_DTYPE,       /* a dtype the op does not take */
  LEAP_ERR_VALUE,       /* an argument out of range (an index, a probability) */
  LEAP_ERR_NONFINITE,   /* NaN or Inf where a finite value is required (a loss) */
  LEAP_ERR_UNSUPPORTED, /* a combination this build or op does not implement */
  LEAP_ERR_IO,          /* a file that cannot be read or written */
  LEAP_ERR_FORMAT,      /* a file or string whose contents are malformed */
  LEAP_ERR_CONFIG,      /* a bad or missing configuration key */
  LEAP_ERR_MEMORY,      /* an allocation failed */
} leap_status;

#define LEAP_ERROR_MESSAGE_MAX 512

typedef struct leap_error {
  leap_status status;
  char message[LEAP_ERROR_MESSAGE_MAX];
} leap_error;

/* Sets the error unless one is already set: the first error is the one worth reporting. Returns status. */
leap_status leap_error_set(leap_error *err, leap_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void leap_error_clear(leap_error *err);
const char *leap_status_name(leap_status status);

/* Aborts with file:line and a message. For broken invariants, never for bad user input. */
_Noreturn void leap__fatal(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define LEAP_ASSERT(cond, ...)                                         \
  do {                                                                 \
    if (!(cond)) leap__fatal(__FILE__, __LINE__, "assertion `" #cond "` failed: " __VA_ARGS__); \
  } while (0)

#endif
