/* safetensors files: a reader that validates the whole header before handing out any tensor, and an atomic writer.
 *
 * The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, then N bytes of
 * JSON mapping each tensor name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} (plus an
 * optional "__metadata__" object of string -> string), then the data section: every tensor's raw little-endian
 * bytes, row-major. Offsets are relative to the start of the data section, and the tensors tile it exactly (no
 * overlaps, no holes), which is what the reference implementation accepts. The JSON is parsed and emitted with
 * libfyaml.
 *
 * Every user-caused problem (a truncated file, bad JSON, an unknown dtype, a missing tensor, an element out of
 * int32 range) returns a leap_status with a message naming the file and, where one is involved, the tensor. */
#ifndef LEAP_TRAIN_IO_SAFETENSORS_H
#define LEAP_TRAIN_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "train/core/error.h"

#define LEAP_SAFETENSORS_MAX_DIMS 8

/* Headers larger than this are refused before any allocation, as the reference implementation does. */
#define LEAP_SAFETENSORS_MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)

typedef enum leap_st_dtype {
  LEAP_ST_BOOL,
  LEAP_ST_U8,
  LEAP_ST_I8,
  LEAP_ST_F8_E4M3,
  LEAP_ST_F8_E5M2,
  LEAP_ST_I16,
  LEAP_ST_U16,
  LEAP_ST_F16,
  LEAP_ST_BF16,
  LEAP_ST_I32,
  LEAP_ST_U32,
  LEAP_ST_F32,
  LEAP_ST_I64,
  LEAP_ST_U64,
  LEAP_ST_F64,
  LEAP_ST_DTYPE_COUNT
} leap_st_dtype;

/* The format's name for a dtype ("F32", "BF16", ...) and its size in bytes. */
const char *leap_st_dtype_name(leap_st_dtype dtype);
size_t leap_st_dtype_size(leap_st_dtype dtype);
/* Returns the dtype called `name`, or -1 when the format has no such dtype. */
int leap_st_dtype_from_name(const char *name);

/* One tensor as the header describes it. `begin`/`end` are byte offsets into the data section. */
typedef struct leap_st_tensor_info {
  const char *name;
  leap_st_dtype dtype;
  int ndim;
  int64_t shape[LEAP_SAFETENSORS_MAX_DIMS];
  int64_t numel;
  uint64_t begin, end;
} leap_st_tensor_info;

/* ------------------------------------------------------------------------------------------------------------ */
/* Reader. Opening reads and validates the header only; tensor data is read on demand, so a reader holds the file
 * open and uses memory in proportion to the header, not the file. Reads use pread and change no state in the
 * reader, so several threads may read from one reader at once. */
typedef struct leap_st_reader leap_st_reader;

/* Opens `path` and validates its header completely: the length field, the JSON, every tensor's dtype, shape and
 * offsets (inside the file, matching numel * dtype size, tiling the data section), and the metadata. On failure
 * *out is NULL and err says why. */
leap_status leap_st_open(leap_st_reader **out, const char *path, leap_error *err);
void leap_st_close(leap_st_reader *r);

const char *leap_st_path(const leap_st_reader *r);

/* The tensors, sorted by name; index in [0, count). */
int64_t leap_st_count(const leap_st_reader *r);
const leap_st_tensor_info *leap_st_tensor_at(const leap_st_reader *r, int64_t index);
/* Returns the tensor called `name`, or NULL when the file has none (not an error: callers decide). */
const leap_st_tensor_info *leap_st_find(const leap_st_reader *r, const char *name);
/* Like leap_st_find, but a missing tensor is an error naming the file and the tensor. */
leap_status leap_st_lookup(const leap_st_reader *r, const char *name, const leap_st_tensor_info **out,
                           leap_error *err);

/* The "__metadata__" entries, sorted by key. leap_st_metadata returns NULL for a missing key. */
int64_t leap_st_metadata_count(const leap_st_reader *r);
void leap_st_metadata_at(const leap_st_reader *r, int64_t index, const char **key, const char **value);
const char *leap_st_metadata(const leap_st_reader *r, const char *key);

/* Reads tensor `name` into dst (numel floats), converting F32, F64, F16 and BF16 to fp32 (F64 rounds to nearest;
 * a value beyond fp32's range becomes +-inf, as a C cast does). numel must equal the tensor's element count. */
leap_status leap_st_read_f32(leap_st_reader *r, const char *name, float *dst, int64_t numel, leap_error *err);

/* Reads an integer tensor (I64, I32, I16, I8, U64, U32, U16, U8, BOOL) into dst as int32, failing with the
 * element's index and value when one is outside int32's range. numel must equal the tensor's element count. */
leap_status leap_st_read_i32(leap_st_reader *r, const char *name, int32_t *dst, int64_t numel, leap_error *err);

/* Copies tensor `name`'s bytes unconverted; nbytes must equal its size in bytes and its dtype must be `dtype`. */
leap_status leap_st_read_raw(leap_st_reader *r, const char *name, leap_st_dtype dtype, void *dst, size_t nbytes,
                             leap_error *err);

/* ------------------------------------------------------------------------------------------------------------ */
/* Writer. */

/* A tensor to write: `data` holds numel * dtype size little-endian bytes in row-major order. */
typedef struct leap_st_entry {
  const char *name;
  leap_st_dtype dtype;
  int ndim;
  int64_t shape[LEAP_SAFETENSORS_MAX_DIMS];
  const void *data;
} leap_st_entry;

typedef struct leap_st_meta {
  const char *key;
  const char *value;
} leap_st_meta;

/* Writes `count` tensors (in the order given) and `meta_count` metadata entries to `path`, atomically: the file is
 * written to a temporary file in the same directory, flushed to disk with fsync, and renamed over `path`, and the
 * directory is synced; on any failure the temporary file is removed and `path` is left as it was. Names must be
 * unique, non-empty and not "__metadata__"; metadata keys must be unique. The header is padded with spaces to a
 * multiple of 8 bytes so that every tensor whose offset is aligned stays aligned when the file is mapped. */
leap_status leap_st_write(const char *path, const leap_st_entry *tensors, int64_t count, const leap_st_meta *meta,
                          int64_t meta_count, leap_error *err);

#endif
