/* Helpers the safetensors reader and writer share; not part of the public API. */
#ifndef LEAP_TRAIN_IO_SAFETENSORS_INTERNAL_H
#define LEAP_TRAIN_IO_SAFETENSORS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train/core/error.h"

/* Writes "[2,3]" (or "[]" for a scalar) into buf, truncating to size. */
void leap__st_format_shape(char *buf, size_t size, int ndim, const int64_t *shape);

/* The element count of a shape; false when a dimension is negative or the product overflows int64. */
bool leap__st_numel(int ndim, const int64_t *shape, int64_t *numel);

/* Reads exactly n bytes at offset, retrying short reads; a short file is an I/O error naming path. */
leap_status leap__st_pread(int fd, void *buf, size_t n, uint64_t offset, const char *path, leap_error *err);

#endif
