/* The safetensors reader: header validation (with libfyaml for the JSON) and reads with dtype conversion. */
#include "train/io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/io/safetensors_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader copies it without swapping bytes"
#endif

typedef struct st_meta_entry {
  char *key;
  char *value;
} st_meta_entry;

struct leap_st_reader {
  char *path;
  int fd;
  uint64_t data_start; /* 8 + header length: where the data section begins in the file */
  uint64_t data_size;  /* bytes from data_start to the end of the file */
  int64_t count;
  leap_st_tensor_info *tensors; /* sorted by name; each name is owned */
  int64_t meta_count;
  st_meta_entry *meta; /* sorted by key */
};

/* ------------------------------------------------------------------------------------------------------------ */
/* dtypes */

static const struct {
  const char *name;
  size_t size;
} st_dtypes[LEAP_ST_DTYPE_COUNT] = {
    [LEAP_ST_BOOL] = {"BOOL", 1},    [LEAP_ST_U8] = {"U8", 1},     [LEAP_ST_I8] = {"I8", 1},
    [LEAP_ST_F8_E4M3] = {"F8_E4M3", 1}, [LEAP_ST_F8_E5M2] = {"F8_E5M2", 1}, [LEAP_ST_I16] = {"I16", 2},
    [LEAP_ST_U16] = {"U16", 2},      [LEAP_ST_F16] = {"F16", 2},   [LEAP_ST_BF16] = {"BF16", 2},
    [LEAP_ST_I32] = {"I32", 4},      [LEAP_ST_U32] = {"U32", 4},   [LEAP_ST_F32] = {"F32", 4},
    [LEAP_ST_I64] = {"I64", 8},      [LEAP_ST_U64] = {"U64", 8},   [LEAP_ST_F64] = {"F64", 8},
};

const char *leap_st_dtype_name(leap_st_dtype dtype) {
  return (unsigned)dtype < LEAP_ST_DTYPE_COUNT ? st_dtypes[dtype].name : "?";
}

size_t leap_st_dtype_size(leap_st_dtype dtype) {
  return (unsigned)dtype < LEAP_ST_DTYPE_COUNT ? st_dtypes[dtype].size : 0;
}

int leap_st_dtype_from_name(const char *name) {
  for (int i = 0; i < LEAP_ST_DTYPE_COUNT; i++)
    if (strcmp(name, st_dtypes[i].name) == 0) return i;
  return -1;
}

void leap__st_format_shape(char *buf, size_t size, int ndim, const int64_t *shape) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, d ? ",%lld" : "%lld", (long long)shape[d]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

bool leap__st_numel(int ndim, const int64_t *shape, int64_t *numel) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return false;
    if (shape[d] != 0 && n > INT64_MAX / shape[d]) return false;
    n *= shape[d];
  }
  *numel = n;
  return true;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* JSON helpers */

static bool st_scalar_is_string(struct fy_node *node) {
  enum fy_node_style style = fy_node_get_style(node);
  return fy_node_is_scalar(node) && (style == FYNS_DOUBLE_QUOTED || style == FYNS_SINGLE_QUOTED);
}

/* A JSON string as a fresh NUL-terminated copy; NULL when the node is not a string or holds a NUL byte. */
static char *st_string_copy(struct fy_node *node) {
  size_t len = 0;
  const char *text = fy_node_is_scalar(node) ? fy_node_get_scalar(node, &len) : NULL;
  if (!text || memchr(text, '\0', len)) return NULL;
  char *copy = malloc(len + 1);
  if (!copy) return NULL;
  memcpy(copy, text, len);
  copy[len] = '\0';
  return copy;
}

/* A JSON non-negative integer written in plain digits (what every safetensors writer emits). */
static bool st_scalar_uint(struct fy_node *node, uint64_t *value) {
  size_t len = 0;
  const char *text = fy_node_is_scalar(node) ? fy_node_get_scalar(node, &len) : NULL;
  if (!text || st_scalar_is_string(node) || len == 0 || len > 20) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] < '0' || text[i] > '9') return false;
    uint64_t digit = (uint64_t)(text[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *value = v;
  return true;
}

/* Builds the document from the header bytes; on a JSON error, reports libfyaml's first message and position. */
static struct fy_document *st_parse_json(const char *path, const char *json, size_t len, leap_error *err) {
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (!diag) {
    leap_error_set(err, LEAP_ERR_MEMORY, "%s: cannot create a JSON parser", path);
    return NULL;
  }
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_JSON_FORCE, .diag = diag};
  struct fy_document *doc = fy_document_build_from_string(&pcfg, json, len);
  if (!doc || fy_diag_got_error(diag)) {
    void *iter = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &iter);
    if (e)
      leap_error_set(err, LEAP_ERR_FORMAT, "%s: header is not valid JSON: line %d, column %d: %s", path, e->line,
                     e->column, e->msg);
    else
      leap_error_set(err, LEAP_ERR_FORMAT, "%s: header is not valid JSON", path);
    if (doc) fy_document_destroy(doc);
    doc = NULL;
  }
  fy_diag_destroy(diag);
  return doc;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Header validation */

static leap_status st_parse_shape(const leap_st_reader *r, const char *name, struct fy_node *node,
                                  leap_st_tensor_info *t, leap_error *err) {
  if (!node || !fy_node_is_sequence(node))
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': \"shape\" is missing or not a list", r->path,
                          name);
  if (fy_node_sequence_item_count(node) > LEAP_SAFETENSORS_MAX_DIMS)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': shape has %d dimensions, more than %d", r->path,
                          name, fy_node_sequence_item_count(node), LEAP_SAFETENSORS_MAX_DIMS);
  void *iter = NULL;
  struct fy_node *dim;
  t->ndim = 0;
  while ((dim = fy_node_sequence_iterate(node, &iter))) {
    uint64_t v;
    if (!st_scalar_uint(dim, &v) || v > (uint64_t)INT64_MAX)
      return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer",
                            r->path, name, t->ndim);
    t->shape[t->ndim++] = (int64_t)v;
  }
  if (!leap__st_numel(t->ndim, t->shape, &t->numel))
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': shape's element count overflows", r->path, name);
  return LEAP_OK;
}

static leap_status st_parse_offsets(const leap_st_reader *r, const char *name, struct fy_node *node,
                                    leap_st_tensor_info *t, leap_error *err) {
  uint64_t v[2];
  int n = 0;
  if (node && fy_node_is_sequence(node) && fy_node_sequence_item_count(node) == 2) {
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(node, &iter)) && st_scalar_uint(item, &v[n])) n++;
  }
  if (n != 2)
    return leap_error_set(err, LEAP_ERR_FORMAT,
                          "%s: tensor '%s': \"data_offsets\" is missing or not two non-negative integers", r->path,
                          name);
  t->begin = v[0];
  t->end = v[1];
  if (t->begin > t->end)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu) end before they begin",
                          r->path, name, (unsigned long long)t->begin, (unsigned long long)t->end);
  char shape[160];
  leap__st_format_shape(shape, sizeof shape, t->ndim, t->shape);
  size_t esize = leap_st_dtype_size(t->dtype);
  if ((uint64_t)t->numel > UINT64_MAX / esize || t->end - t->begin != (uint64_t)t->numel * esize)
    return leap_error_set(err, LEAP_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu, %llu) do not match shape %s of %s (%llu bytes)",
                          r->path, name, (unsigned long long)t->begin, (unsigned long long)t->end, shape,
                          leap_st_dtype_name(t->dtype), (unsigned long long)((uint64_t)t->numel * esize));
  if (t->end > r->data_size)
    return leap_error_set(err, LEAP_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu, %llu) run past the end of the data section (%llu "
                          "bytes; the file may be truncated)",
                          r->path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                          (unsigned long long)r->data_size);
  return LEAP_OK;
}

/* One header entry {"dtype": ..., "shape": [...], "data_offsets": [b, e]}: every key present, no others. */
static leap_status st_parse_tensor(const leap_st_reader *r, const char *name, struct fy_node *node,
                                   leap_st_tensor_info *t, leap_error *err) {
  if (!fy_node_is_mapping(node))
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", r->path, name);
  void *iter = NULL;
  struct fy_node_pair *pair;
  while ((pair = fy_node_mapping_iterate(node, &iter))) {
    const char *key = fy_node_get_scalar0(fy_node_pair_key(pair));
    if (!key || (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets")))
      return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': unknown key '%s'", r->path, name,
                            key ? key : "?");
  }
  struct fy_node *dtype = fy_node_mapping_lookup_by_string(node, "dtype", FY_NT);
  const char *dname = dtype && st_scalar_is_string(dtype) ? fy_node_get_scalar0(dtype) : NULL;
  if (!dname)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string", r->path,
                          name);
  int dt = leap_st_dtype_from_name(dname);
  if (dt < 0)
    return leap_error_set(err, LEAP_ERR_DTYPE, "%s: tensor '%s': unknown dtype '%s'", r->path, name, dname);
  t->dtype = (leap_st_dtype)dt;
  if (st_parse_shape(r, name, fy_node_mapping_lookup_by_string(node, "shape", FY_NT), t, err)) return err->status;
  return st_parse_offsets(r, name, fy_node_mapping_lookup_by_string(node, "data_offsets", FY_NT), t, err);
}

static leap_status st_parse_metadata(leap_st_reader *r, struct fy_node *node, leap_error *err) {
  if (!fy_node_is_mapping(node))
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", r->path);
  r->meta = calloc((size_t)fy_node_mapping_item_count(node) + 1, sizeof *r->meta);
  if (!r->meta) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory reading the metadata", r->path);
  void *iter = NULL;
  struct fy_node_pair *pair;
  while ((pair = fy_node_mapping_iterate(node, &iter))) {
    st_meta_entry *m = &r->meta[r->meta_count];
    m->key = st_string_copy(fy_node_pair_key(pair));
    if (!m->key) return leap_error_set(err, LEAP_ERR_FORMAT, "%s: a metadata key is not a string", r->path);
    r->meta_count++;
    struct fy_node *value = fy_node_pair_value(pair);
    m->value = value && st_scalar_is_string(value) ? st_string_copy(value) : NULL;
    if (!m->value)
      return leap_error_set(err, LEAP_ERR_FORMAT, "%s: metadata '%s': value is not a string", r->path, m->key);
  }
  return LEAP_OK;
}

static int st_compare_tensor_names(const void *a, const void *b) {
  return strcmp(((const leap_st_tensor_info *)a)->name, ((const leap_st_tensor_info *)b)->name);
}

static int st_compare_meta_keys(const void *a, const void *b) {
  return strcmp(((const st_meta_entry *)a)->key, ((const st_meta_entry *)b)->key);
}

/* Walks the root object: "__metadata__" goes to st_parse_metadata, every other key is a tensor. */
static leap_status st_parse_root(leap_st_reader *r, struct fy_node *root, leap_error *err) {
  if (!root || !fy_node_is_mapping(root))
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: header is not a JSON object", r->path);
  r->tensors = calloc((size_t)fy_node_mapping_item_count(root) + 1, sizeof *r->tensors);
  if (!r->tensors) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory reading the header", r->path);
  void *iter = NULL;
  struct fy_node_pair *pair;
  while ((pair = fy_node_mapping_iterate(root, &iter))) {
    char *name = st_string_copy(fy_node_pair_key(pair));
    if (!name) return leap_error_set(err, LEAP_ERR_FORMAT, "%s: a tensor name is not a string", r->path);
    if (strcmp(name, "__metadata__") == 0) {
      free(name);
      if (r->meta) return leap_error_set(err, LEAP_ERR_FORMAT, "%s: \"__metadata__\" appears twice", r->path);
      if (st_parse_metadata(r, fy_node_pair_value(pair), err)) return err->status;
      continue;
    }
    leap_st_tensor_info *t = &r->tensors[r->count++];
    t->name = name;
    if (st_parse_tensor(r, name, fy_node_pair_value(pair), t, err)) return err->status;
  }
  qsort(r->tensors, (size_t)r->count, sizeof *r->tensors, st_compare_tensor_names);
  if (r->meta) qsort(r->meta, (size_t)r->meta_count, sizeof *r->meta, st_compare_meta_keys);
  return LEAP_OK;
}

static int st_compare_by_offset(const void *a, const void *b) {
  const leap_st_tensor_info *x = *(const leap_st_tensor_info *const *)a, *y = *(const leap_st_tensor_info *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* The tensors must tile the data section exactly: sorted by offset, each begins where the previous one ended and
 * the last ends at the end of the file. Overlaps would let two tensors alias; holes and trailing bytes are refused
 * by the reference implementation (they would let a file carry hidden contents). */
static leap_status st_check_tiling(const leap_st_reader *r, leap_error *err) {
  const leap_st_tensor_info **order = malloc(((size_t)r->count + 1) * sizeof *order);
  if (!order) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory checking offsets", r->path);
  for (int64_t i = 0; i < r->count; i++) order[i] = &r->tensors[i];
  qsort(order, (size_t)r->count, sizeof *order, st_compare_by_offset);
  uint64_t pos = 0;
  const leap_st_tensor_info *prev = NULL;
  for (int64_t i = 0; i < r->count && err->status == LEAP_OK; i++) {
    const leap_st_tensor_info *t = order[i];
    if (t->begin < pos)
      leap_error_set(err, LEAP_ERR_FORMAT,
                     "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s' [%llu, %llu)", r->path, t->name,
                     (unsigned long long)t->begin, (unsigned long long)t->end, prev->name,
                     (unsigned long long)prev->begin, (unsigned long long)prev->end);
    else if (t->begin > pos)
      leap_error_set(err, LEAP_ERR_FORMAT, "%s: data bytes [%llu, %llu) before tensor '%s' belong to no tensor",
                     r->path, (unsigned long long)pos, (unsigned long long)t->begin, t->name);
    pos = t->end;
    prev = t;
  }
  free(order);
  if (err->status == LEAP_OK && pos != r->data_size)
    leap_error_set(err, LEAP_ERR_FORMAT, "%s: %llu bytes after the last tensor's data belong to no tensor", r->path,
                   (unsigned long long)(r->data_size - pos));
  return err->status;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Opening */

leap_status leap__st_pread(int fd, void *buf, size_t n, uint64_t offset, const char *path, leap_error *err) {
  char *p = buf;
  while (n > 0) {
    ssize_t got = pread(fd, p, n, (off_t)offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return leap_error_set(err, LEAP_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    if (got == 0)
      return leap_error_set(err, LEAP_ERR_IO, "%s: file ended early at byte %llu (truncated while open?)", path,
                            (unsigned long long)offset);
    p += got, n -= (size_t)got, offset += (uint64_t)got;
  }
  return LEAP_OK;
}

/* Reads the length field, checks it against the file's size, and reads the header text (NUL-terminated). */
static leap_status st_read_header(leap_st_reader *r, char **json, uint64_t *json_len, leap_error *err) {
  struct stat st;
  if (fstat(r->fd, &st) != 0) return leap_error_set(err, LEAP_ERR_IO, "%s: %s", r->path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return leap_error_set(err, LEAP_ERR_IO, "%s: not a regular file", r->path);
  uint64_t file_size = (uint64_t)st.st_size;
  if (file_size < 8)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: file is %llu bytes, too short for the 8-byte header length",
                          r->path, (unsigned long long)file_size);
  unsigned char len_bytes[8];
  if (leap__st_pread(r->fd, len_bytes, 8, 0, r->path, err)) return err->status;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | len_bytes[i];
  if (n > file_size - 8)
    return leap_error_set(err, LEAP_ERR_FORMAT,
                          "%s: header length %llu exceeds the %llu bytes that follow it (truncated or not a "
                          "safetensors file)",
                          r->path, (unsigned long long)n, (unsigned long long)(file_size - 8));
  if (n > LEAP_SAFETENSORS_MAX_HEADER_BYTES)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes", r->path,
                          (unsigned long long)n, (unsigned long long)LEAP_SAFETENSORS_MAX_HEADER_BYTES);
  r->data_start = 8 + n;
  r->data_size = file_size - r->data_start;
  *json = malloc((size_t)n + 1);
  if (!*json) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory for a %llu-byte header", r->path,
                                    (unsigned long long)n);
  (*json)[n] = '\0';
  *json_len = n;
  return leap__st_pread(r->fd, *json, (size_t)n, 8, r->path, err);
}

leap_status leap_st_open(leap_st_reader **out, const char *path, leap_error *err) {
  *out = NULL;
  leap_st_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  }
  leap_error local;
  leap_error_clear(&local);
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  char *json = NULL;
  uint64_t json_len = 0;
  if (r->fd < 0) {
    leap_error_set(&local, LEAP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  } else if (st_read_header(r, &json, &json_len, &local) == LEAP_OK) {
    struct fy_document *doc = st_parse_json(path, json, (size_t)json_len, &local);
    if (doc && st_parse_root(r, fy_document_root(doc), &local) == LEAP_OK) st_check_tiling(r, &local);
    if (doc) fy_document_destroy(doc);
  }
  free(json);
  if (local.status != LEAP_OK) {
    leap_st_close(r);
    return leap_error_set(err, local.status, "%s", local.message);
  }
  *out = r;
  return LEAP_OK;
}

void leap_st_close(leap_st_reader *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  for (int64_t i = 0; i < r->count; i++) free((char *)r->tensors[i].name);
  for (int64_t i = 0; i < r->meta_count; i++) free(r->meta[i].key), free(r->meta[i].value);
  free(r->tensors);
  free(r->meta);
  free(r->path);
  free(r);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Queries */

const char *leap_st_path(const leap_st_reader *r) { return r->path; }
int64_t leap_st_count(const leap_st_reader *r) { return r->count; }

const leap_st_tensor_info *leap_st_tensor_at(const leap_st_reader *r, int64_t index) {
  LEAP_ASSERT(index >= 0 && index < r->count, "tensor index %lld of %lld", (long long)index, (long long)r->count);
  return &r->tensors[index];
}

const leap_st_tensor_info *leap_st_find(const leap_st_reader *r, const char *name) {
  leap_st_tensor_info key = {.name = name};
  return bsearch(&key, r->tensors, (size_t)r->count, sizeof key, st_compare_tensor_names);
}

leap_status leap_st_lookup(const leap_st_reader *r, const char *name, const leap_st_tensor_info **out,
                           leap_error *err) {
  *out = leap_st_find(r, name);
  if (!*out) return leap_error_set(err, LEAP_ERR_VALUE, "%s: no tensor named '%s'", r->path, name);
  return LEAP_OK;
}

int64_t leap_st_metadata_count(const leap_st_reader *r) { return r->meta_count; }

void leap_st_metadata_at(const leap_st_reader *r, int64_t index, const char **key, const char **value) {
  LEAP_ASSERT(index >= 0 && index < r->meta_count, "metadata index %lld of %lld", (long long)index,
              (long long)r->meta_count);
  *key = r->meta[index].key;
  *value = r->meta[index].value;
}

const char *leap_st_metadata(const leap_st_reader *r, const char *key) {
  st_meta_entry probe = {.key = (char *)key};
  const st_meta_entry *m = r->meta_count ? bsearch(&probe, r->meta, (size_t)r->meta_count, sizeof probe,
                                                   st_compare_meta_keys)
                                         : NULL;
  return m ? m->value : NULL;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Reads */

/* Elements converted per chunk: the raw bytes of one chunk of the widest dtype fit in 32 KiB of stack. */
#define ST_CHUNK_ELEMS 4096

/* Finds the tensor and checks the caller's element count against it. */
static leap_status st_prepare_read(const leap_st_reader *r, const char *name, int64_t numel,
                                   const leap_st_tensor_info **out, leap_error *err) {
  leap_status status = leap_st_lookup(r, name, out, err);
  if (status) return status;
  if ((*out)->numel != numel) {
    char shape[160];
    leap__st_format_shape(shape, sizeof shape, (*out)->ndim, (*out)->shape);
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: tensor '%s' has shape %s (%lld elements), expected %lld elements",
                          r->path, name, shape, (long long)(*out)->numel, (long long)numel);
  }
  return LEAP_OK;
}

static float st_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    /* Zero and subnormals: mantissa * 2^-24 is exact in fp32. */
    float f = ldexpf((float)mantissa, -24);
    return sign ? -f : f;
  }
  if (exponent == 31)
    bits = sign | 0x7f800000u | (mantissa << 13);
  else
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static void st_convert_f32(float *dst, const unsigned char *src, int64_t n, leap_st_dtype dtype) {
  for (int64_t i = 0; i < n; i++) {
    if (dtype == LEAP_ST_F64) {
      double d;
      memcpy(&d, src + 8 * i, 8);
      dst[i] = (float)d;
    } else {
      uint16_t h;
      memcpy(&h, src + 2 * i, 2);
      if (dtype == LEAP_ST_F16) {
        dst[i] = st_f16_to_f32(h);
      } else {
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&dst[i], &bits, sizeof bits);
      }
    }
  }
}

leap_status leap_st_read_f32(leap_st_reader *r, const char *name, float *dst, int64_t numel, leap_error *err) {
  const leap_st_tensor_info *t;
  leap_status status = st_prepare_read(r, name, numel, &t, err);
  if (status) return status;
  if (t->dtype == LEAP_ST_F32)
    return leap__st_pread(r->fd, dst, t->end - t->begin, r->data_start + t->begin, r->path, err);
  if (t->dtype != LEAP_ST_F64 && t->dtype != LEAP_ST_F16 && t->dtype != LEAP_ST_BF16)
    return leap_error_set(err, LEAP_ERR_DTYPE, "%s: tensor '%s' is %s, which does not convert to F32", r->path, name,
                          leap_st_dtype_name(t->dtype));
  size_t esize = leap_st_dtype_size(t->dtype);
  unsigned char chunk[ST_CHUNK_ELEMS * 8];
  for (int64_t i = 0; i < numel; i += ST_CHUNK_ELEMS) {
    int64_t n = numel - i < ST_CHUNK_ELEMS ? numel - i : ST_CHUNK_ELEMS;
    status = leap__st_pread(r->fd, chunk, (size_t)n * esize, r->data_start + t->begin + (uint64_t)i * esize, r->path,
                            err);
    if (status) return status;
    st_convert_f32(dst + i, chunk, n, t->dtype);
  }
  return LEAP_OK;
}

/* Converts one chunk of integers to int32; returns the index of the first element out of range, or -1. */
static int64_t st_convert_i32(int32_t *dst, const unsigned char *src, int64_t n, leap_st_dtype dtype,
                              long double *bad_value) {
  for (int64_t i = 0; i < n; i++) {
    int64_t v = 0;
    uint64_t u = 0;
    bool is_unsigned = false;
    switch (dtype) {
    case LEAP_ST_I64: memcpy(&v, src + 8 * i, 8); break;
    case LEAP_ST_U64: memcpy(&u, src + 8 * i, 8), is_unsigned = true; break;
    case LEAP_ST_I32: { int32_t x; memcpy(&x, src + 4 * i, 4); v = x; } break;
    case LEAP_ST_U32: { uint32_t x; memcpy(&x, src + 4 * i, 4); v = x; } break;
    case LEAP_ST_I16: { int16_t x; memcpy(&x, src + 2 * i, 2); v = x; } break;
    case LEAP_ST_U16: { uint16_t x; memcpy(&x, src + 2 * i, 2); v = x; } break;
    case LEAP_ST_I8: v = (int8_t)src[i]; break;
    case LEAP_ST_BOOL: v = src[i] != 0; break;
    default: v = src[i]; break;
    }
    if (is_unsigned ? u > (uint64_t)INT32_MAX : (v < INT32_MIN || v > INT32_MAX)) {
      *bad_value = is_unsigned ? (long double)u : (long double)v;
      return i;
    }
    dst[i] = is_unsigned ? (int32_t)u : (int32_t)v;
  }
  return -1;
}

static bool st_is_integer(leap_st_dtype dtype) {
  switch (dtype) {
  case LEAP_ST_BOOL: case LEAP_ST_U8: case LEAP_ST_I8: case LEAP_ST_I16: case LEAP_ST_U16: case LEAP_ST_I32:
  case LEAP_ST_U32: case LEAP_ST_I64: case LEAP_ST_U64: return true;
  default: return false;
  }
}

leap_status leap_st_read_i32(leap_st_reader *r, const char *name, int32_t *dst, int64_t numel, leap_error *err) {
  const leap_st_tensor_info *t;
  leap_status status = st_prepare_read(r, name, numel, &t, err);
  if (status) return status;
  if (!st_is_integer(t->dtype))
    return leap_error_set(err, LEAP_ERR_DTYPE, "%s: tensor '%s' is %s, not an integer dtype", r->path, name,
                          leap_st_dtype_name(t->dtype));
  size_t esize = leap_st_dtype_size(t->dtype);
  unsigned char chunk[ST_CHUNK_ELEMS * 8];
  for (int64_t i = 0; i < numel; i += ST_CHUNK_ELEMS) {
    int64_t n = numel - i < ST_CHUNK_ELEMS ? numel - i : ST_CHUNK_ELEMS;
    status = leap__st_pread(r->fd, chunk, (size_t)n * esize, r->data_start + t->begin + (uint64_t)i * esize, r->path,
                            err);
    if (status) return status;
    long double bad_value = 0;
    int64_t bad = st_convert_i32(dst + i, chunk, n, t->dtype, &bad_value);
    if (bad >= 0)
      return leap_error_set(err, LEAP_ERR_VALUE, "%s: tensor '%s': element %lld = %.0Lf is outside the int32 range",
                            r->path, name, (long long)(i + bad), bad_value);
  }
  return LEAP_OK;
}

leap_status leap_st_read_raw(leap_st_reader *r, const char *name, leap_st_dtype dtype, void *dst, size_t nbytes,
                             leap_error *err) {
  const leap_st_tensor_info *t;
  leap_status status = leap_st_lookup(r, name, &t, err);
  if (status) return status;
  if (t->dtype != dtype)
    return leap_error_set(err, LEAP_ERR_DTYPE, "%s: tensor '%s' is %s, expected %s", r->path, name,
                          leap_st_dtype_name(t->dtype), leap_st_dtype_name(dtype));
  if (t->end - t->begin != nbytes)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: tensor '%s' holds %llu bytes, expected %zu", r->path, name,
                          (unsigned long long)(t->end - t->begin), nbytes);
  return leap__st_pread(r->fd, dst, nbytes, r->data_start + t->begin, r->path, err);
}
