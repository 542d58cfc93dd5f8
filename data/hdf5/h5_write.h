/* A small HDF5 writer: files of groups and chunked, gzip-compressed datasets of u8/i32/f32, with string, integer
 * and float attributes, as h5py and any HDF5 tool read them.
 *
 * Crash safety: the file is written as PATH.tmp and renamed to PATH only by leap_h5w_commit, after it is closed and
 * synced, so PATH never holds a half-written file; leap_h5w_abandon removes PATH.tmp.
 *
 * Speed: Debian's HDF5 compresses chunks on one thread, behind one global lock. When a write covers whole chunks
 * (it starts on a chunk boundary and ends on one or at the end of the dataset), the writer compresses the chunks
 * itself, in parallel over OpenMP threads with libdeflate (the zlib format HDF5's deflate filter reads), and hands
 * them to HDF5 with H5Dwrite_chunk; other writes go through H5Dwrite and HDF5's own filter. Both give the same
 * file contents when read back.
 *
 * Every HDF5 call's result is checked; a failure returns an error naming the file and the object, with HDF5's own
 * innermost message. The caller should switch off HDF5's automatic error printing (H5Eset_auto2) to keep errors
 * to one line. */
#ifndef LEAP_DATA_HDF5_H5_WRITE_H
#define LEAP_DATA_HDF5_H5_WRITE_H

#include <hdf5.h>
#include <stdint.h>

#include "train/core/error.h"

#define LEAP_H5W_MAX_RANK 4
#define LEAP_H5W_NAME_MAX 256

typedef enum leap_h5w_type { LEAP_H5W_U8 = 0, LEAP_H5W_I32, LEAP_H5W_F32 } leap_h5w_type;

typedef struct leap_h5w {
  hid_t file;
  char *path, *tmp_path;
} leap_h5w;

typedef struct leap_h5w_dataset {
  leap_h5w *owner;
  hid_t id;
  char name[LEAP_H5W_NAME_MAX];
  leap_h5w_type type;
  int rank;
  hsize_t dims[LEAP_H5W_MAX_RANK];
  hsize_t chunk_rows;
  int gzip_level;
  size_t row_bytes;
} leap_h5w_dataset;

/* Creates PATH.tmp (truncating an old one). */
leap_status leap_h5w_create(leap_h5w *w, const char *path, leap_error *err);
/* Creates a group, e.g. "train". */
leap_status leap_h5w_group(leap_h5w *w, const char *name, leap_error *err);

/* Creates dataset `name` (a path such as "train/image") of the given shape, chunked along the first dimension by
 * chunk_rows rows (each chunk spans the other dimensions whole) and gzip-compressed at gzip_level (0: none). */
leap_status leap_h5w_dataset_create(leap_h5w_dataset *d, leap_h5w *w, const char *name, leap_h5w_type type, int rank,
                                    const int64_t *dims, int64_t chunk_rows, int gzip_level, leap_error *err);
/* Writes rows first .. first+n-1 from `rows` (n rows, C order, the dataset's type). */
leap_status leap_h5w_dataset_write(leap_h5w_dataset *d, int64_t first, int64_t n, const void *rows, leap_error *err);
leap_status leap_h5w_dataset_close(leap_h5w_dataset *d, leap_error *err);

/* Attributes on an object (a group or dataset path; "/" for the file): a UTF-8 variable-length string (what h5py
 * writes for a str), a signed or unsigned 64-bit integer, a double, or an f32 array. */
leap_status leap_h5w_attr_string(leap_h5w *w, const char *object, const char *name, const char *value,
                                 leap_error *err);
leap_status leap_h5w_attr_int(leap_h5w *w, const char *object, const char *name, int64_t value, leap_error *err);
leap_status leap_h5w_attr_uint64(leap_h5w *w, const char *object, const char *name, uint64_t value, leap_error *err);
leap_status leap_h5w_attr_double(leap_h5w *w, const char *object, const char *name, double value, leap_error *err);
leap_status leap_h5w_attr_f32_array(leap_h5w *w, const char *object, const char *name, int rank, const int64_t *dims,
                                    const float *values, leap_error *err);

/* Closes the file, syncs it and renames PATH.tmp to PATH. On failure PATH.tmp is removed. Frees w either way. */
leap_status leap_h5w_commit(leap_h5w *w, leap_error *err);
/* Closes and removes PATH.tmp; frees w. Safe on a writer whose create failed. */
void leap_h5w_abandon(leap_h5w *w);

#endif
