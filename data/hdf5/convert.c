/* Element conversion with range checks, and the image preparations; see convert.h for the rules. */
#include "data/hdf5/convert.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/common/kernel_common.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the loader reads stored elements as little-endian without swapping bytes"
#endif

/* Elements converted per step by leap__check_range, which converts into a stack buffer it then discards. */
#define CHECK_STEP 1024

const char *leap__src_type_name(leap__src_type t) {
  static const char *names[3][9] = {
      {"?", "u8", "u16", "?", "u32", "?", "?", "?", "u64"},
      {"?", "i8", "i16", "?", "i32", "?", "?", "?", "i64"},
      {"?", "?", "f16", "?", "f32", "?", "?", "?", "f64"},
  };
  return (unsigned)t.kind < 3 && t.size >= 0 && t.size <= 8 ? names[t.kind][t.size] : "?";
}

float leap__half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
  if (exponent == 0) {
    /* Zero or subnormal: mantissa * 2^-24, exact in a float. */
    float v = (float)mantissa * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  if (exponent == 31) bits = sign | 0x7f800000u | (mantissa << 13);
  else bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static uint64_t load_uint(const uint8_t *p, int size) {
  switch (size) {
  case 1: return *p;
  case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
  case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
  default: { uint64_t v; memcpy(&v, p, 8); return v; }
  }
}

static int64_t load_int(const uint8_t *p, int size) {
  switch (size) {
  case 1: return (int8_t)*p;
  case 2: { int16_t v; memcpy(&v, p, 2); return v; }
  case 4: { int32_t v; memcpy(&v, p, 4); return v; }
  default: { int64_t v; memcpy(&v, p, 8); return v; }
  }
}

static double load_float(const uint8_t *p, int size) {
  switch (size) {
  case 2: { uint16_t v; memcpy(&v, p, 2); return leap__half_to_float(v); }
  case 4: { float v; memcpy(&v, p, 4); return v; }
  default: { double v; memcpy(&v, p, 8); return v; }
  }
}

/* One element to f32; false when a finite double overflows f32. */
static bool to_f32(float *out, const uint8_t *p, leap__src_type st) {
  if (st.kind == LEAP__SRC_UINT) *out = (float)load_uint(p, st.size);
  else if (st.kind == LEAP__SRC_INT) *out = (float)load_int(p, st.size);
  else {
    double d = load_float(p, st.size);
    *out = (float)d;
    if (isinf(*out) && isfinite(d)) return false;
  }
  return true;
}

/* One element to an integer in [lo, hi]; false when it is not an integer or lies outside. */
static bool to_int_range(int64_t *out, const uint8_t *p, leap__src_type st, int64_t lo, int64_t hi) {
  if (st.kind == LEAP__SRC_UINT) {
    uint64_t u = load_uint(p, st.size);
    if (u > (uint64_t)hi) return false;
    *out = (int64_t)u;
  } else if (st.kind == LEAP__SRC_INT) {
    *out = load_int(p, st.size);
  } else {
    double d = load_float(p, st.size);
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return false;
    *out = (int64_t)d;
  }
  return *out >= lo && *out <= hi;
}

static bool convert_generic(void *dst, leap_dtype dtype, const uint8_t *src, leap__src_type st, int64_t n,
                            int64_t *bad) {
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *p = src + (size_t)i * (size_t)st.size;
    int64_t v = 0;
    bool ok;
    if (dtype == LEAP_F32) {
      ok = to_f32((float *)dst + i, p, st);
    } else if (dtype == LEAP_I32) {
      ok = to_int_range(&v, p, st, INT32_MIN, INT32_MAX);
      ((int32_t *)dst)[i] = (int32_t)v;
    } else {
      ok = to_int_range(&v, p, st, 0, UINT8_MAX);
      ((uint8_t *)dst)[i] = (uint8_t)v;
    }
    if (!ok) {
      *bad = i;
      return false;
    }
  }
  return true;
}

static void u8_to_f32(float *LEAP_RESTRICT dst, const uint8_t *LEAP_RESTRICT src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

bool leap__convert(void *dst, leap_dtype dtype, const void *src, leap__src_type st, int64_t n, int64_t *bad) {
  bool same = (dtype == LEAP_U8 && st.kind == LEAP__SRC_UINT && st.size == 1) ||
              (dtype == LEAP_I32 && st.kind == LEAP__SRC_INT && st.size == 4) ||
              (dtype == LEAP_F32 && st.kind == LEAP__SRC_FLOAT && st.size == 4);
  if (same) {
    memcpy(dst, src, (size_t)n * (size_t)st.size);
    return true;
  }
  if (dtype == LEAP_F32 && st.kind == LEAP__SRC_UINT && st.size == 1) {
    u8_to_f32(dst, src, n);
    return true;
  }
  return convert_generic(dst, dtype, src, st, n, bad);
}

bool leap__check_range(leap_dtype dtype, const void *src, leap__src_type st, int64_t n, int64_t *bad) {
  float scratch[CHECK_STEP];
  for (int64_t i = 0; i < n; i += CHECK_STEP) {
    int64_t m = n - i < CHECK_STEP ? n - i : CHECK_STEP;
    if (!leap__convert(scratch, dtype, (const uint8_t *)src + (size_t)i * (size_t)st.size, st, m, bad)) {
      *bad += i;
      return false;
    }
  }
  return true;
}

void leap__format_element(char *buf, size_t size, const void *src, leap__src_type st, int64_t index) {
  const uint8_t *p = (const uint8_t *)src + (size_t)index * (size_t)st.size;
  if (st.kind == LEAP__SRC_UINT) snprintf(buf, size, "%" PRIu64, load_uint(p, st.size));
  else if (st.kind == LEAP__SRC_INT) snprintf(buf, size, "%" PRId64, load_int(p, st.size));
  else snprintf(buf, size, "%.17g", load_float(p, st.size));
}

void leap__norm_init(leap__norm *norm, int channels, const float *mean, const float *std) {
  norm->channels = channels;
  for (int k = 0; k < channels * LEAP__NORM_REPEAT; k++) {
    int c = k % channels;
    norm->scale[k] = 1.0f / (255.0f * std[c]);
    norm->bias[k] = -mean[c] / std[c];
  }
}

void leap__normalize_u8(float *LEAP_RESTRICT dst, const uint8_t *LEAP_RESTRICT src, int64_t n, const leap__norm *norm) {
  const int64_t period = (int64_t)norm->channels * LEAP__NORM_REPEAT;
  const float *LEAP_RESTRICT scale = norm->scale, *LEAP_RESTRICT bias = norm->bias;
  int64_t i = 0;
  for (; i + period <= n; i += period)
    for (int64_t k = 0; k < period; k++) dst[i + k] = (float)src[i + k] * scale[k] + bias[k];
  for (int64_t k = 0; i + k < n; k++) dst[i + k] = (float)src[i + k] * scale[k] + bias[k];
}

void leap__normalize_u8_nchw(float *LEAP_RESTRICT dst, const uint8_t *LEAP_RESTRICT src, int64_t channels, int64_t hw,
                             const leap__norm *norm) {
  for (int64_t c = 0; c < channels; c++) {
    const float scale = norm->scale[c], bias = norm->bias[c];
    const uint8_t *LEAP_RESTRICT plane = src + c * hw;
    for (int64_t p = 0; p < hw; p++) dst[p * channels + c] = (float)plane[p] * scale + bias;
  }
}

void leap__nchw_to_nhwc(void *dst, const void *src, int64_t channels, int64_t hw, size_t elem_size) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (int64_t c = 0; c < channels; c++)
    for (int64_t p = 0; p < hw; p++)
      memcpy(d + (size_t)(p * channels + c) * elem_size, s + (size_t)(c * hw + p) * elem_size, elem_size);
}
