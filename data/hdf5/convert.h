/* Element conversion for the HDF5 loader: stored values (any integer of 8 to 64 bits, IEEE floats of 16, 32 or 64
 * bits, little-endian) to the dtypes the training loop takes (f32, i32, u8), with a range check, and the image
 * preparations (u8 to normalised f32, NCHW to NHWC).
 *
 * The rules (docs/data.md): to f32, integers convert to the nearest float and finite doubles must not overflow
 * f32; to i32 and u8, every value must be an integer (floats included) inside the target's range. NaN and Inf pass
 * to f32 unchanged and fail for i32 and u8. */
#ifndef LEAP_DATA_HDF5_CONVERT_H
#define LEAP_DATA_HDF5_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train/core/tensor.h"

typedef enum leap__src_kind { LEAP__SRC_UINT = 0, LEAP__SRC_INT, LEAP__SRC_FLOAT } leap__src_kind;

/* How one stored element is laid out in memory (always little-endian once read). */
typedef struct leap__src_type {
  leap__src_kind kind;
  int size; /* bytes: 1, 2, 4, 8 (floats: 2, 4, 8) */
} leap__src_type;

/* "u8", "i64", "f16", ... */
const char *leap__src_type_name(leap__src_type t);

/* IEEE binary16 to float, exactly (subnormals, infinities and NaN included). */
float leap__half_to_float(uint16_t h);

/* Converts n elements of type st at src to dtype at dst. Returns false, with *bad the index of the first element
 * that does not fit, when one does not; elements before it are converted. */
bool leap__convert(void *dst, leap_dtype dtype, const void *src, leap__src_type st, int64_t n, int64_t *bad);

/* Checks that all n elements fit dtype (leap__convert without keeping the result). */
bool leap__check_range(leap_dtype dtype, const void *src, leap__src_type st, int64_t n, int64_t *bad);

/* Writes element `index` of src as decimal text, for error messages. */
void leap__format_element(char *buf, size_t size, const void *src, leap__src_type st, int64_t index);

/* The per-channel affine map of a normalised u8 image, out = x * scale[c] + bias[c] with scale = 1 / (255 std[c])
 * and bias = -mean[c] / std[c], repeated LEAP__NORM_REPEAT times so that the inner loop covers whole vectors
 * whatever the channel count. */
#define LEAP__NORM_REPEAT 16
typedef struct leap__norm {
  int channels;
  float scale[4 * LEAP__NORM_REPEAT], bias[4 * LEAP__NORM_REPEAT];
} leap__norm;

void leap__norm_init(leap__norm *norm, int channels, const float *mean, const float *std);
/* n u8 values in channel-last order (n a multiple of channels) to normalised f32. */
void leap__normalize_u8(float *dst, const uint8_t *src, int64_t n, const leap__norm *norm);
/* One (C,H,W) u8 image to normalised (H,W,C) f32. */
void leap__normalize_u8_nchw(float *dst, const uint8_t *src, int64_t channels, int64_t hw, const leap__norm *norm);
/* One (C,H,W) image of elements of elem_size bytes to (H,W,C). */
void leap__nchw_to_nhwc(void *dst, const void *src, int64_t channels, int64_t hw, size_t elem_size);

#endif
