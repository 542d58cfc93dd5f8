/* The loader's HDF5 side: opening a field's dataset and classifying its type, reading resident fields whole,
 * reading a streamed field's blocks (with H5Dread, or raw chunks decoded here with libdeflate). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/hdf5/loader_internal.h"

/* The chunk cache of each dataset (HDF5's default is 1 MiB). */
#define CHUNK_CACHE_BYTES ((size_t)32 << 20)

static const char *class_name(H5T_class_t cls) {
  switch (cls) {
  case H5T_TIME: return "time";
  case H5T_STRING: return "string";
  case H5T_BITFIELD: return "bitfield";
  case H5T_OPAQUE: return "opaque";
  case H5T_COMPOUND: return "compound";
  case H5T_REFERENCE: return "reference";
  case H5T_ENUM: return "enum";
  case H5T_VLEN: return "variable-length";
  case H5T_ARRAY: return "array";
  default: return "unknown";
  }
}

/* Whether a float type has the IEEE layout of its size (binary16, binary32 or binary64). */
static bool ieee_float(hid_t type, size_t size) {
  static const size_t layout[3][6] = {{15, 10, 5, 0, 10, 15}, {31, 23, 8, 0, 23, 127}, {63, 52, 11, 0, 52, 1023}};
  int k = size == 2 ? 0 : size == 4 ? 1 : size == 8 ? 2 : -1;
  size_t spos, epos, esize, mpos, msize;
  if (k < 0 || H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
  size_t got[6] = {spos, epos, esize, mpos, msize, H5Tget_ebias(type)};
  return memcmp(got, layout[k], sizeof got) == 0 && H5Tget_norm(type) == H5T_NORM_IMPLIED;
}

/* The element type of a stored integer or float type (an enum counts as its integer base, as h5py's bool does);
 * NULL, or the name of the unsupported class. */
static const char *classify(hid_t type, leap__src_type *st) {
  H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_ENUM) {
    hid_t base = H5Tget_super(type);
    if (base < 0) return "enum";
    const char *why = H5Tget_class(base) == H5T_INTEGER ? classify(base, st) : "enum";
    return H5Tclose(base) < 0 ? "enum whose base type cannot be read" : why;
  }
  size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    if (size != 1 && size != 2 && size != 4 && size != 8) return "integer of an unusual width";
    H5T_sign_t sign = H5Tget_sign(type);
    if (sign == H5T_SGN_ERROR) return "integer of unknown sign";
    *st = (leap__src_type){sign == H5T_SGN_NONE ? LEAP__SRC_UINT : LEAP__SRC_INT, (int)size};
    return NULL;
  }
  if (cls == H5T_FLOAT) {
    if (!ieee_float(type, size)) return "non-IEEE float";
    *st = (leap__src_type){LEAP__SRC_FLOAT, (int)size};
    return NULL;
  }
  return class_name(cls);
}

static leap_status open_type(leap_loader *L, leap__field *f, bool *little_endian, leap_error *err) {
  hid_t type = H5Dget_type(f->dset);
  if (type < 0)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: cannot read the type of dataset '%s'", L->path, f->name);
  const char *why = classify(type, &f->src);
  H5T_order_t order = H5Tget_order(type);
  if (!why && order == H5T_ORDER_ERROR) why = "type of unknown byte order";
  *little_endian = order != H5T_ORDER_BE;
  f->memtype = why ? H5I_INVALID_HID : H5Tcopy(type);
  if (!why && (f->memtype < 0 || (order == H5T_ORDER_BE && H5Tset_order(f->memtype, H5T_ORDER_LE) < 0)))
    why = "byte order that cannot be converted";
  if (H5Tclose(type) < 0 && !why) why = "type that cannot be read";
  if (why)
    return leap_error_set(err, LEAP_ERR_DTYPE,
                          "%s: dataset '%s' has an unsupported type (%s); leap reads integer and float datasets",
                          L->path, f->name, why);
  return LEAP_OK;
}

static leap_status open_shape(leap_loader *L, leap__field *f, leap_error *err) {
  hid_t space = H5Dget_space(f->dset);
  int ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  hsize_t dims[H5S_MAX_RANK];
  if (ndim > 0 && ndim <= LEAP_MAX_DIMS && H5Sget_simple_extent_dims(space, dims, NULL) < 0) ndim = -1;
  if (space >= 0 && H5Sclose(space) < 0) ndim = -1;
  if (ndim < 0)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: cannot read the shape of dataset '%s'", L->path, f->name);
  if (ndim == 0)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: dataset '%s' is a scalar; a field needs a first (sample) dimension",
                          L->path, f->name);
  if (ndim > LEAP_MAX_DIMS)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: dataset '%s' has %d dimensions; at most %d are supported", L->path,
                          f->name, ndim, LEAP_MAX_DIMS);
  f->ndim = ndim;
  f->row_elems = 1;
  for (int d = 0; d < ndim; d++) {
    f->dims[d] = (int64_t)dims[d];
    if (d > 0) f->row_elems *= f->dims[d];
  }
  f->row_bytes = (size_t)f->row_elems * (size_t)f->src.size;
  return LEAP_OK;
}

/* Reads the layout and filters: whether the raw chunk path could apply (whole samples per chunk, filters it
 * decodes), and the chunk's first dimension. */
static leap_status open_layout(leap_loader *L, leap__field *f, bool little_endian, leap_error *err) {
  hid_t dcpl = H5Dget_create_plist(f->dset);
  if (dcpl < 0)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: cannot read the layout of dataset '%s'", L->path, f->name);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  f->contiguous = layout == H5D_CONTIGUOUS;
  f->raw = little_endian && (layout == H5D_CHUNKED || f->contiguous);
  hsize_t chunk[H5S_MAX_RANK];
  bool chunked = layout == H5D_CHUNKED && H5Pget_chunk(dcpl, f->ndim, chunk) == f->ndim;
  if (layout == H5D_CHUNKED && !chunked) f->raw = false;
  f->chunk_rows = chunked ? (int64_t)chunk[0] : 0;
  for (int d = 1; chunked && f->raw && d < f->ndim; d++)
    if ((int64_t)chunk[d] != f->dims[d]) f->raw = false;
  int n = H5Pget_nfilters(dcpl);
  if (n < 0 || n > LEAP__MAX_FILTERS) f->raw = false;
  f->n_filters = 0;
  for (int i = 0; f->raw && i < n; i++) {
    unsigned flags, cd[4];
    size_t n_cd = 4;
    char name[64];
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, cd, sizeof name, name, NULL);
    if (id == H5Z_FILTER_DEFLATE)
      f->filters[f->n_filters++] = LEAP__FILTER_DEFLATE;
    else if (id == H5Z_FILTER_SHUFFLE && (n_cd == 0 || cd[0] == (unsigned)f->src.size))
      f->filters[f->n_filters++] = LEAP__FILTER_SHUFFLE;
    else
      f->raw = false;
  }
  if (H5Pclose(dcpl) < 0)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: cannot read the layout of dataset '%s'", L->path, f->name);
  return LEAP_OK;
}

leap_status leap__field_open(leap_loader *L, leap__field *f, leap_error *err) {
  htri_t exists = H5Lexists(L->file, f->name, H5P_DEFAULT);
  /* A larger chunk cache than HDF5's 1 MiB, for fields read through H5Dread in blocks that cut across chunks. */
  hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
  if (dapl < 0 || H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, CHUNK_CACHE_BYTES, 1.0) < 0) exists = -1;
  if (exists > 0) f->dset = H5Dopen2(L->file, f->name, dapl);
  if (dapl >= 0 && H5Pclose(dapl) < 0) exists = -1;
  if (exists <= 0 || f->dset < 0) return leap_error_set(err, LEAP_ERR_FORMAT, "%s: no dataset '%s'", L->path, f->name);
  bool little_endian = true;
  leap_status st = open_type(L, f, &little_endian, err);
  if (!st) st = open_shape(L, f, err);
  if (!st) st = open_layout(L, f, little_endian, err);
  return st;
}

/* H5Dread of rows [first, first + rows) into dst. */
static leap_status read_rows(leap_loader *L, leap__field *f, int64_t first, int64_t rows, void *dst, leap_error *err) {
  hsize_t start[LEAP_MAX_DIMS] = {0}, count[LEAP_MAX_DIMS];
  for (int d = 0; d < f->ndim; d++) count[d] = (hsize_t)f->dims[d];
  start[0] = (hsize_t)first;
  count[0] = (hsize_t)rows;
  hid_t file_space = H5Dget_space(f->dset), mem_space = H5Screate_simple(f->ndim, count, NULL);
  herr_t rc = file_space < 0 || mem_space < 0 ? -1 : 0;
  if (rc >= 0) rc = H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL);
  if (rc >= 0) rc = H5Dread(f->dset, f->memtype, mem_space, file_space, H5P_DEFAULT, dst);
  if (mem_space >= 0 && H5Sclose(mem_space) < 0) rc = -1;
  if (file_space >= 0 && H5Sclose(file_space) < 0) rc = -1;
  if (rc < 0)
    return leap_error_set(err, LEAP_ERR_IO, "%s: cannot read samples %lld..%lld of dataset '%s'", L->path,
                          (long long)first, (long long)(first + rows - 1), f->name);
  return LEAP_OK;
}

leap_status leap__field_read_resident(leap_loader *L, leap__field *f, leap_error *err) {
  int64_t rows = f->spec.kind == LEAP_FIELD_TOKENS ? L->n_tokens : L->n_used;
  f->resident = true;
  f->keep = true;
  f->block_rows = rows;
  f->n_blocks = 1;
  f->block_bytes = (size_t)rows * f->row_bytes;
  f->blocks = calloc(1, sizeof *f->blocks);
  if (f->blocks) f->blocks[0] = malloc(f->block_bytes ? f->block_bytes : 1);
  if (!f->blocks || !f->blocks[0])
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory for dataset '%s' (%zu bytes)", L->path, f->name,
                          f->block_bytes);
  leap_status st = read_rows(L, f, 0, rows, f->blocks[0], err);
  if (st) return st;
  int64_t bad = 0;
  if (f->spec.normalize || leap__check_range(f->spec.dtype, f->blocks[0], f->src, rows * f->row_elems, &bad))
    return LEAP_OK;
  char value[64];
  leap__format_element(value, sizeof value, f->blocks[0], f->src, bad);
  return leap_error_set(err, LEAP_ERR_VALUE, "%s: dataset '%s': %s %lld holds %s, which does not fit %s", L->path,
                        f->name, f->spec.kind == LEAP_FIELD_TOKENS ? "token" : "sample",
                        (long long)(bad / f->row_elems), value, leap_dtype_name(f->spec.dtype));
}

/* Reads block 0 both through HDF5 and with pread at the address HDF5 reports: the raw path is used only when they
 * agree (a file driver or user block leap does not expect would make them differ). */
static leap_status check_raw_reads(leap_loader *L, leap__field *f, leap_error *err) {
  leap_status st = leap__field_lookup_chunk(L, f, 0, err);
  if (st || (!f->contiguous && f->chunks[0].missing)) return st;
  int64_t rows = L->n_used < f->block_rows ? L->n_used : f->block_rows;
  size_t size = f->contiguous ? (size_t)rows * f->row_bytes : (size_t)f->chunks[0].size;
  uint64_t offset = f->contiguous ? f->contiguous_offset : L->base_addr + f->chunks[0].offset;
  uint8_t *a = malloc(size ? size : 1), *b = malloc(size ? size : 1);
  uint32_t mask = 0;
  bool same = false;
  if (a && b && f->contiguous)
    st = read_rows(L, f, 0, rows, a, err);
  else if (a && b && H5Dread_chunk(f->dset, H5P_DEFAULT, (hsize_t[LEAP_MAX_DIMS]){0}, &mask, a) < 0)
    st = leap_error_set(err, LEAP_ERR_IO, "%s: cannot read chunk 0 of dataset '%s'", L->path, f->name);
  if (a && b && !st) same = pread(L->fd, b, size, (off_t)offset) == (ssize_t)size && memcmp(a, b, size) == 0;
  free(a);
  free(b);
  if (!a || !b) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory to read dataset '%s'", L->path, f->name);
  f->raw = same;
  return st;
}

leap_status leap__field_plan_streaming(leap_loader *L, leap__field *f, int64_t block_rows, leap_error *err) {
  f->resident = false;
  f->block_rows = block_rows;
  f->n_blocks = (L->n_used + block_rows - 1) / block_rows;
  f->block_bytes = (size_t)block_rows * f->row_bytes;
  f->blocks = calloc((size_t)f->n_blocks, sizeof *f->blocks);
  f->spare = calloc((size_t)f->n_blocks, sizeof *f->spare);
  f->chunks = calloc((size_t)f->n_blocks, sizeof *f->chunks);
  if (!f->blocks || !f->spare || !f->chunks)
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory to plan dataset '%s'", L->path, f->name);
  if (f->raw && !f->contiguous && f->chunk_rows != block_rows) f->raw = false;
  if (f->raw && f->contiguous) {
    haddr_t offset = H5Dget_offset(f->dset);
    f->raw = offset != HADDR_UNDEF;
    f->contiguous_offset = (uint64_t)offset;
  }
  return f->raw ? check_raw_reads(L, f, err) : LEAP_OK;
}

leap_status leap__field_read_block_h5(leap_loader *L, leap__field *f, int64_t b, uint8_t *dst, leap_error *err) {
  int64_t first = b * f->block_rows, rows = L->n_used - first < f->block_rows ? L->n_used - first : f->block_rows;
  return read_rows(L, f, first, rows, dst, err);
}

leap_status leap__field_lookup_chunk(leap_loader *L, leap__field *f, int64_t b, leap_error *err) {
  leap__chunk *c = &f->chunks[b];
  if (f->contiguous || c->size || c->missing) return LEAP_OK;
  hsize_t offset[LEAP_MAX_DIMS] = {0};
  offset[0] = (hsize_t)(b * f->block_rows);
  unsigned mask = 0;
  haddr_t addr = HADDR_UNDEF;
  hsize_t size = 0;
  if (H5Dget_chunk_info_by_coord(f->dset, offset, &mask, &addr, &size) < 0)
    return leap_error_set(err, LEAP_ERR_IO, "%s: cannot locate chunk %lld of dataset '%s'", L->path, (long long)b,
                          f->name);
  c->missing = addr == HADDR_UNDEF || size == 0;
  c->offset = (uint64_t)addr;
  c->size = (uint64_t)size;
  c->filter_mask = mask;
  return LEAP_OK;
}

static bool read_fully(int fd, uint8_t *dst, size_t size, uint64_t offset) {
  while (size > 0) {
    ssize_t got = pread(fd, dst, size, (off_t)offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    dst += got;
    size -= (size_t)got;
    offset += (uint64_t)got;
  }
  return true;
}

/* Undoes HDF5's shuffle filter: the input holds byte 0 of every element, then byte 1, ...; trailing bytes that
 * make no whole element are copied as they are. */
static void unshuffle(uint8_t *restrict dst, const uint8_t *restrict src, size_t bytes, size_t elem) {
  size_t n = bytes / elem;
  for (size_t j = 0; j < elem; j++)
    for (size_t i = 0; i < n; i++) dst[i * elem + j] = src[j * n + i];
  memcpy(dst + n * elem, src + n * elem, bytes - n * elem);
}

static bool grow(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  uint8_t *p = realloc(*buf, need);
  if (!p) return false;
  *buf = p;
  *cap = need;
  return true;
}

leap_status leap__field_decode_chunk(const leap_loader *L, const leap__field *f, int64_t b, uint8_t *dst,
                                     leap__worker *w, leap_error *err) {
  if (f->contiguous) {
    int64_t rows = L->n_used - b * f->block_rows < f->block_rows ? L->n_used - b * f->block_rows : f->block_rows;
    if (!read_fully(L->fd, dst, (size_t)rows * f->row_bytes, f->contiguous_offset + (uint64_t)b * f->block_bytes))
      return leap_error_set(err, LEAP_ERR_IO, "%s: cannot read samples of dataset '%s'", L->path, f->name);
    return LEAP_OK;
  }
  const leap__chunk *c = &f->chunks[b];
  if (!grow(&w->packed, &w->packed_bytes, (size_t)c->size) || !grow(&w->scratch, &w->scratch_bytes, f->block_bytes))
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory to decode dataset '%s'", L->path, f->name);
  if (!read_fully(L->fd, w->packed, (size_t)c->size, L->base_addr + c->offset))
    return leap_error_set(err, LEAP_ERR_IO, "%s: cannot read chunk %lld of dataset '%s'", L->path, (long long)b,
                          f->name);
  int steps = 0;
  for (int i = 0; i < f->n_filters; i++) steps += !(c->filter_mask >> i & 1u);
  const uint8_t *in = w->packed;
  size_t in_bytes = (size_t)c->size;
  for (int i = f->n_filters - 1; i >= 0; i--) {
    if (c->filter_mask >> i & 1u) continue;
    uint8_t *out = --steps % 2 ? w->scratch : dst; /* the last step writes dst */
    size_t out_bytes = f->block_bytes;
    if (f->filters[i] == LEAP__FILTER_SHUFFLE) {
      if (in_bytes != f->block_bytes) break;
      unshuffle(out, in, in_bytes, (size_t)f->src.size);
    } else if (libdeflate_zlib_decompress(w->inflater, in, in_bytes, out, f->block_bytes, &out_bytes) !=
               LIBDEFLATE_SUCCESS) {
      in_bytes = 0;
      break;
    }
    in = out;
    in_bytes = out_bytes;
  }
  if (in_bytes != f->block_bytes)
    return leap_error_set(err, LEAP_ERR_FORMAT,
                          "%s: chunk %lld of dataset '%s' is corrupt (it does not decode to %zu bytes)", L->path,
                          (long long)b, f->name, f->block_bytes);
  if (in != dst) memcpy(dst, in, in_bytes);
  return LEAP_OK;
}

leap_status leap__field_alloc_arena(leap_loader *L, leap__field *f, leap_error *err) {
  size_t bytes = (size_t)f->n_blocks * f->block_bytes;
  f->arena = malloc(bytes ? bytes : 1);
  if (!f->arena)
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory to cache dataset '%s' (%zu bytes)", L->path, f->name,
                          bytes);
  return LEAP_OK;
}

void leap__field_close(leap__field *f) {
  if (f->blocks && !f->arena)
    for (int64_t b = 0; b < f->n_blocks; b++) free(f->blocks[b]);
  free(f->arena);
  f->arena = NULL;
  for (int64_t i = 0; i < f->n_spare; i++) free(f->spare[i]);
  free(f->blocks);
  free(f->spare);
  free(f->chunks);
  f->blocks = f->spare = NULL;
  f->chunks = NULL;
  f->n_spare = 0;
  /* Closing read-only objects loses nothing; a failure has nothing left to report to. */
  if (f->memtype >= 0) (void)H5Tclose(f->memtype);
  if (f->dset >= 0) (void)H5Dclose(f->dset);
  f->memtype = f->dset = H5I_INVALID_HID;
}
