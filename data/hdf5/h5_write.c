#include "data/hdf5/h5_write.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/common/kernel_common.h"

#define H5W_DETAIL_MAX 200

/* ---- Errors ---------------------------------------------------------------------------------------------------- */

static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0) snprintf((char *)data, H5W_DETAIL_MAX, "%s", e->desc ? e->desc : "");
  return 0;
}

/* Sets err to "PATH: what: HDF5's innermost message" and clears HDF5's error stack. */
static leap_status h5_fail(leap_error *err, const leap_h5w *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static leap_status h5_fail(leap_error *err, const leap_h5w *w, const char *fmt, ...) {
  char what[LEAP_ERROR_MESSAGE_MAX / 2], detail[H5W_DETAIL_MAX] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, detail);
  H5Eclear2(H5E_DEFAULT);
  return leap_error_set(err, LEAP_ERR_IO, "%s: %s%s%s", w->path ? w->path : "(no file)", what, detail[0] ? ": " : "",
                        detail);
}

/* ---- Files and groups ------------------------------------------------------------------------------------------ */

leap_status leap_h5w_create(leap_h5w *w, const char *path, leap_error *err) {
  memset(w, 0, sizeof *w);
  w->file = H5I_INVALID_HID;
  size_t len = strlen(path);
  w->path = malloc(len + 1), w->tmp_path = malloc(len + 5);
  if (!w->path || !w->tmp_path) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  memcpy(w->path, path, len + 1);
  snprintf(w->tmp_path, len + 5, "%s.tmp", path);
  /* Opening the temporary file ourselves first gives the system's reason (a missing folder, no permission) in
   * plain words, instead of HDF5's stack of messages. */
  FILE *probe = fopen(w->tmp_path, "wb");
  if (!probe) return leap_error_set(err, LEAP_ERR_IO, "%s: cannot create %s: %s", path, w->tmp_path, strerror(errno));
  fclose(probe);
  /* Without modification times in the object headers, the same data gives a byte-identical file. */
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  if (fcpl >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0)
    w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (w->file < 0) return h5_fail(err, w, "cannot create %s", w->tmp_path);
  return LEAP_OK;
}

leap_status leap_h5w_group(leap_h5w *w, const char *name, leap_error *err) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = H5I_INVALID_HID;
  if (gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0) g = H5Gcreate2(w->file, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  if (gcpl >= 0) H5Pclose(gcpl);
  if (g < 0) return h5_fail(err, w, "cannot create group '%s'", name);
  if (H5Gclose(g) < 0) return h5_fail(err, w, "cannot close group '%s'", name);
  return LEAP_OK;
}

/* Removes PATH.tmp and frees the names. */
static void discard(leap_h5w *w) {
  if (w->tmp_path) remove(w->tmp_path);
  free(w->path), free(w->tmp_path);
  w->path = w->tmp_path = NULL;
}

void leap_h5w_abandon(leap_h5w *w) {
  if (w->file >= 0) H5Fclose(w->file);
  w->file = H5I_INVALID_HID;
  H5Eclear2(H5E_DEFAULT);
  discard(w);
}

/* Flushes the closed file's data to the disk, so that the rename below never exposes a file still in flight. */
static bool sync_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  return close(fd) == 0 && ok;
}

leap_status leap_h5w_commit(leap_h5w *w, leap_error *err) {
  herr_t closed = H5Fclose(w->file);
  w->file = H5I_INVALID_HID;
  leap_status status = LEAP_OK;
  if (closed < 0) status = h5_fail(err, w, "cannot close %s", w->tmp_path);
  else if (!sync_file(w->tmp_path))
    status = leap_error_set(err, LEAP_ERR_IO, "%s: cannot sync %s: %s", w->path, w->tmp_path, strerror(errno));
  else if (rename(w->tmp_path, w->path) != 0)
    status = leap_error_set(err, LEAP_ERR_IO, "%s: cannot rename %s to it: %s", w->path, w->tmp_path, strerror(errno));
  if (status != LEAP_OK) discard(w);
  free(w->path), free(w->tmp_path);
  w->path = w->tmp_path = NULL;
  return status;
}

/* ---- Datasets -------------------------------------------------------------------------------------------------- */

static hid_t file_type(leap_h5w_type t) {
  return t == LEAP_H5W_U8 ? H5T_STD_U8LE : t == LEAP_H5W_I32 ? H5T_STD_I32LE : H5T_IEEE_F32LE;
}
static hid_t memory_type(leap_h5w_type t) {
  return t == LEAP_H5W_U8 ? H5T_NATIVE_UINT8 : t == LEAP_H5W_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
}
static size_t type_size(leap_h5w_type t) { return t == LEAP_H5W_U8 ? 1 : 4; }

leap_status leap_h5w_dataset_create(leap_h5w_dataset *d, leap_h5w *w, const char *name, leap_h5w_type type, int rank,
                                    const int64_t *dims, int64_t chunk_rows, int gzip_level, leap_error *err) {
  memset(d, 0, sizeof *d);
  d->id = H5I_INVALID_HID;
  if (rank < 1 || rank > LEAP_H5W_MAX_RANK || dims[0] < 1 || chunk_rows < 1 || gzip_level < 0 || gzip_level > 9)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: dataset '%s': bad rank, size, chunking or gzip level", w->path,
                          name);
  d->owner = w, d->type = type, d->rank = rank, d->gzip_level = gzip_level;
  snprintf(d->name, sizeof d->name, "%s", name);
  hsize_t chunk[LEAP_H5W_MAX_RANK];
  d->row_bytes = type_size(type);
  for (int k = 0; k < rank; k++) {
    d->dims[k] = chunk[k] = (hsize_t)dims[k];
    if (k > 0) d->row_bytes *= (size_t)dims[k];
  }
  d->chunk_rows = chunk[0] = (hsize_t)(chunk_rows < dims[0] ? chunk_rows : dims[0]);
  hid_t space = H5Screate_simple(rank, d->dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  bool ok = space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0;
  if (ok && gzip_level > 0) ok = H5Pset_deflate(dcpl, (unsigned)gzip_level) >= 0;
  if (ok) d->id = H5Dcreate2(w->file, name, file_type(type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  if (d->id < 0) return h5_fail(err, w, "cannot create dataset '%s'", name);
  return LEAP_OK;
}

leap_status leap_h5w_dataset_close(leap_h5w_dataset *d, leap_error *err) {
  if (d->id < 0) return LEAP_OK;
  herr_t r = H5Dclose(d->id);
  d->id = H5I_INVALID_HID;
  if (r < 0) return h5_fail(err, d->owner, "cannot close dataset '%s'", d->name);
  return LEAP_OK;
}

/* The general path: a hyperslab of rows through H5Dwrite (HDF5 applies the filters). */
static leap_status write_hyperslab(leap_h5w_dataset *d, int64_t first, int64_t n, const void *rows, leap_error *err) {
  hsize_t start[LEAP_H5W_MAX_RANK] = {0}, count[LEAP_H5W_MAX_RANK];
  for (int k = 0; k < d->rank; k++) count[k] = d->dims[k];
  start[0] = (hsize_t)first, count[0] = (hsize_t)n;
  hid_t fspace = H5Dget_space(d->id), mspace = H5Screate_simple(d->rank, count, NULL);
  bool ok = fspace >= 0 && mspace >= 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
            H5Dwrite(d->id, memory_type(d->type), mspace, fspace, H5P_DEFAULT, rows) >= 0;
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (!ok) return h5_fail(err, d->owner, "cannot write rows %lld..%lld of '%s'", (long long)first,
                          (long long)(first + n - 1), d->name);
  return LEAP_OK;
}

/* Compresses chunk k of a whole-chunk write into out (bound bytes); the dataset's last chunk, when short, is
 * padded with zeros to the full chunk size, as HDF5 stores edge chunks. Returns the compressed size, 0 on failure. */
static size_t compress_chunk(struct libdeflate_compressor *c, const leap_h5w_dataset *d, const uint8_t *rows,
                             int64_t n, int64_t k, uint8_t *out, size_t bound) {
  size_t chunk_bytes = (size_t)d->chunk_rows * d->row_bytes;
  int64_t have_rows = n - k * (int64_t)d->chunk_rows;
  size_t have = (size_t)(have_rows < (int64_t)d->chunk_rows ? have_rows : (int64_t)d->chunk_rows) * d->row_bytes;
  const uint8_t *src = rows + (size_t)k * chunk_bytes;
  uint8_t *padded = NULL;
  if (have < chunk_bytes) {
    padded = calloc(1, chunk_bytes);
    if (!padded) return 0;
    memcpy(padded, src, have);
    src = padded;
  }
  size_t size = c ? libdeflate_zlib_compress(c, src, chunk_bytes, out, bound) : 0;
  free(padded);
  return size;
}

/* The fast path: compress whole chunks on all threads, then hand them to HDF5 one by one (HDF5 is single-threaded). */
static leap_status write_chunks(leap_h5w_dataset *d, int64_t first, int64_t n, const void *rows, leap_error *err) {
  int64_t n_chunks = (n + (int64_t)d->chunk_rows - 1) / (int64_t)d->chunk_rows;
  size_t bound = libdeflate_zlib_compress_bound(NULL, (size_t)d->chunk_rows * d->row_bytes);
  uint8_t *out = malloc(bound * (size_t)n_chunks);
  size_t *sizes = calloc((size_t)n_chunks, sizeof(size_t));
  if (!out || !sizes) {
    free(out), free(sizes);
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory compressing '%s'", d->owner->path, d->name);
  }
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel
#endif
  {
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(d->gzip_level);
#ifdef LEAP_WITH_OPENMP
#pragma omp for schedule(dynamic)
#endif
    for (int64_t k = 0; k < n_chunks; k++) sizes[k] = compress_chunk(c, d, rows, n, k, out + (size_t)k * bound, bound);
    if (c) libdeflate_free_compressor(c);
  }
  leap_status status = LEAP_OK;
  for (int64_t k = 0; k < n_chunks && status == LEAP_OK; k++) {
    hsize_t offset[LEAP_H5W_MAX_RANK] = {0};
    offset[0] = (hsize_t)(first + k * (int64_t)d->chunk_rows);
    if (!sizes[k]) status = leap_error_set(err, LEAP_ERR_MEMORY, "%s: cannot compress '%s'", d->owner->path, d->name);
    else if (H5Dwrite_chunk(d->id, H5P_DEFAULT, 0, offset, sizes[k], out + (size_t)k * bound) < 0)
      status = h5_fail(err, d->owner, "cannot write chunk at row %llu of '%s'", (unsigned long long)offset[0], d->name);
  }
  free(out), free(sizes);
  return status;
}

leap_status leap_h5w_dataset_write(leap_h5w_dataset *d, int64_t first, int64_t n, const void *rows, leap_error *err) {
  if (first < 0 || n < 1 || (hsize_t)(first + n) > d->dims[0])
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: rows %lld..%lld outside dataset '%s' of %llu rows", d->owner->path,
                          (long long)first, (long long)(first + n - 1), d->name, (unsigned long long)d->dims[0]);
  int64_t cr = (int64_t)d->chunk_rows;
  bool whole_chunks = first % cr == 0 && (n % cr == 0 || (hsize_t)(first + n) == d->dims[0]);
  /* Chunks go to the file as they are in memory, so the fast path also needs the file's (little-endian) order. */
  bool native_order = H5Tequal(memory_type(d->type), file_type(d->type)) > 0;
  if (d->gzip_level > 0 && whole_chunks && native_order) return write_chunks(d, first, n, rows, err);
  return write_hyperslab(d, first, n, rows, err);
}

/* ---- Attributes ------------------------------------------------------------------------------------------------ */

static leap_status write_attr(leap_h5w *w, const char *object, const char *name, hid_t ftype, hid_t mtype,
                              hid_t space, const void *value, leap_error *err) {
  hid_t a = space >= 0 ? H5Acreate_by_name(w->file, object, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                       : H5I_INVALID_HID;
  bool ok = a >= 0 && H5Awrite(a, mtype, value) >= 0;
  if (a >= 0) ok = H5Aclose(a) >= 0 && ok;
  if (space >= 0) H5Sclose(space);
  if (!ok) return h5_fail(err, w, "cannot write attribute '%s' of '%s'", name, object);
  return LEAP_OK;
}

leap_status leap_h5w_attr_string(leap_h5w *w, const char *object, const char *name, const char *value,
                                 leap_error *err) {
  hid_t type = H5Tcopy(H5T_C_S1);
  if (type < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
    if (type >= 0) H5Tclose(type);
    return h5_fail(err, w, "cannot make a string type for attribute '%s'", name);
  }
  leap_status s = write_attr(w, object, name, type, type, H5Screate(H5S_SCALAR), &value, err);
  if (H5Tclose(type) < 0 && s == LEAP_OK) s = h5_fail(err, w, "cannot close a string type");
  return s;
}

leap_status leap_h5w_attr_int(leap_h5w *w, const char *object, const char *name, int64_t value, leap_error *err) {
  return write_attr(w, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, H5Screate(H5S_SCALAR), &value, err);
}

leap_status leap_h5w_attr_uint64(leap_h5w *w, const char *object, const char *name, uint64_t value, leap_error *err) {
  return write_attr(w, object, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, H5Screate(H5S_SCALAR), &value, err);
}

leap_status leap_h5w_attr_double(leap_h5w *w, const char *object, const char *name, double value, leap_error *err) {
  return write_attr(w, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, H5Screate(H5S_SCALAR), &value, err);
}

leap_status leap_h5w_attr_f32_array(leap_h5w *w, const char *object, const char *name, int rank, const int64_t *dims,
                                    const float *values, leap_error *err) {
  hsize_t d[LEAP_H5W_MAX_RANK];
  if (rank < 1 || rank > LEAP_H5W_MAX_RANK)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: attribute '%s': bad rank %d", w->path, name, rank);
  for (int k = 0; k < rank; k++) d[k] = (hsize_t)dims[k];
  return write_attr(w, object, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, H5Screate_simple(rank, d, NULL), values, err);
}
