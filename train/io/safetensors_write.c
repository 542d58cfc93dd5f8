/* The safetensors writer: the header is built as a libfyaml document and emitted as one-line JSON, and the file is
 * written to a temporary name, synced and renamed, so that `path` only ever holds a complete file. */
/* mkostemp is a GNU extension. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/io/safetensors.h"
#include "train/io/safetensors_internal.h"

/* Builds nodes while remembering whether any allocation failed, so that the builder needs one check at the end. */
typedef struct st_builder {
  struct fy_document *doc;
  bool failed;
} st_builder;

/* A JSON string node. The !!str tag makes the emitter quote text that would otherwise read as a number, a boolean
 * or null (a metadata value "12" must stay a string). */
static struct fy_node *st_string(st_builder *b, const char *text) {
  struct fy_node *node = fy_node_create_scalar_copy(b->doc, text, strlen(text));
  if (!node || fy_node_set_tag(node, "!!str", 5) != 0) b->failed = true;
  return node;
}

static struct fy_node *st_uint(st_builder *b, uint64_t value) {
  struct fy_node *node = fy_node_create_scalarf(b->doc, "%llu", (unsigned long long)value);
  if (!node) b->failed = true;
  return node;
}

static void st_append(st_builder *b, struct fy_node *map, const char *key, struct fy_node *value) {
  if (b->failed || !value || fy_node_mapping_append(map, st_string(b, key), value) != 0) b->failed = true;
}

static void st_push(st_builder *b, struct fy_node *seq, struct fy_node *value) {
  if (b->failed || !value || fy_node_sequence_append(seq, value) != 0) b->failed = true;
}

static struct fy_node *st_tensor_node(st_builder *b, const leap_st_entry *t, uint64_t begin, uint64_t end) {
  struct fy_node *node = fy_node_create_mapping(b->doc), *shape = fy_node_create_sequence(b->doc),
                 *offsets = fy_node_create_sequence(b->doc);
  if (!node || !shape || !offsets) {
    b->failed = true;
    return NULL;
  }
  for (int d = 0; d < t->ndim; d++) st_push(b, shape, st_uint(b, (uint64_t)t->shape[d]));
  st_push(b, offsets, st_uint(b, begin));
  st_push(b, offsets, st_uint(b, end));
  st_append(b, node, "dtype", st_string(b, leap_st_dtype_name(t->dtype)));
  st_append(b, node, "shape", shape);
  st_append(b, node, "data_offsets", offsets);
  return node;
}

/* The header text (malloc'd), padded with spaces to a multiple of 8 bytes; NULL when out of memory. */
static char *st_build_header(const leap_st_entry *tensors, int64_t count, const leap_st_meta *meta,
                             int64_t meta_count, size_t *len) {
  st_builder b = {.doc = fy_document_create(NULL), .failed = false};
  if (!b.doc) return NULL;
  struct fy_node *root = fy_node_create_mapping(b.doc);
  if (!root || fy_document_set_root(b.doc, root) != 0) b.failed = true;
  if (meta_count > 0 && !b.failed) {
    struct fy_node *m = fy_node_create_mapping(b.doc);
    for (int64_t i = 0; i < meta_count && m; i++) st_append(&b, m, meta[i].key, st_string(&b, meta[i].value));
    st_append(&b, root, "__metadata__", m);
  }
  uint64_t pos = 0;
  for (int64_t i = 0; i < count && !b.failed; i++) {
    int64_t numel = 0;
    leap__st_numel(tensors[i].ndim, tensors[i].shape, &numel);
    uint64_t end = pos + (uint64_t)numel * leap_st_dtype_size(tensors[i].dtype);
    st_append(&b, root, tensors[i].name, st_tensor_node(&b, &tensors[i], pos, end));
    pos = end;
  }
  char *text = b.failed ? NULL : fy_emit_document_to_string(b.doc, FYECF_MODE_JSON_ONELINE | FYECF_NO_ENDING_NEWLINE);
  fy_document_destroy(b.doc);
  if (!text) return NULL;
  size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
  char *out = realloc(text, padded + 1);
  if (!out) {
    free(text);
    return NULL;
  }
  memset(out + n, ' ', padded - n);
  out[padded] = '\0';
  *len = padded;
  return out;
}

static int st_compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names (or keys) must be unique: sorts a copy of the pointers and looks for neighbours that are equal. */
static const char *st_find_duplicate(const char **names, int64_t n) {
  qsort(names, (size_t)n, sizeof *names, st_compare_strings);
  for (int64_t i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0) return names[i];
  return NULL;
}

static leap_status st_validate_entry(const char *path, const leap_st_entry *t, leap_error *err) {
  int64_t numel;
  if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: tensor name '%s' is not allowed", path, t->name ? t->name : "");
  if ((unsigned)t->dtype >= LEAP_ST_DTYPE_COUNT)
    return leap_error_set(err, LEAP_ERR_DTYPE, "%s: tensor '%s': unknown dtype %d", path, t->name, (int)t->dtype);
  if (t->ndim < 0 || t->ndim > LEAP_SAFETENSORS_MAX_DIMS || !leap__st_numel(t->ndim, t->shape, &numel) ||
      (uint64_t)numel > UINT64_MAX / 8)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: tensor '%s': invalid shape", path, t->name);
  if (numel > 0 && !t->data) return leap_error_set(err, LEAP_ERR_VALUE, "%s: tensor '%s': no data", path, t->name);
  return LEAP_OK;
}

static leap_status st_validate(const char *path, const leap_st_entry *tensors, int64_t count, const leap_st_meta *meta,
                               int64_t meta_count, leap_error *err) {
  for (int64_t i = 0; i < count; i++)
    if (st_validate_entry(path, &tensors[i], err)) return err->status;
  for (int64_t i = 0; i < meta_count; i++)
    if (!meta[i].key || !meta[i].value)
      return leap_error_set(err, LEAP_ERR_VALUE, "%s: metadata entry %lld has no key or value", path, (long long)i);
  int64_t most = count > meta_count ? count : meta_count;
  const char **names = malloc(((size_t)most + 1) * sizeof *names);
  if (!names) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  for (int64_t i = 0; i < count; i++) names[i] = tensors[i].name;
  const char *dup = st_find_duplicate(names, count);
  if (dup) leap_error_set(err, LEAP_ERR_VALUE, "%s: tensor '%s' is given twice", path, dup);
  for (int64_t i = 0; i < meta_count; i++) names[i] = meta[i].key;
  dup = err->status == LEAP_OK ? st_find_duplicate(names, meta_count) : NULL;
  if (dup) leap_error_set(err, LEAP_ERR_VALUE, "%s: metadata key '%s' is given twice", path, dup);
  free(names);
  return err->status;
}

static leap_status st_write_all(int fd, const void *buf, size_t n, const char *path, leap_error *err) {
  const char *p = buf;
  while (n > 0) {
    ssize_t put = write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return leap_error_set(err, LEAP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    p += put, n -= (size_t)put;
  }
  return LEAP_OK;
}

/* Writes the length field, the header and every tensor's bytes to fd, then flushes them to disk. */
static leap_status st_write_contents(int fd, const char *path, const char *header, size_t header_len,
                                     const leap_st_entry *tensors, int64_t count, leap_error *err) {
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
  if (st_write_all(fd, len_bytes, 8, path, err) || st_write_all(fd, header, header_len, path, err))
    return err->status;
  for (int64_t i = 0; i < count; i++) {
    int64_t numel = 0;
    leap__st_numel(tensors[i].ndim, tensors[i].shape, &numel);
    if (st_write_all(fd, tensors[i].data, (size_t)numel * leap_st_dtype_size(tensors[i].dtype), path, err))
      return err->status;
  }
  if (fsync(fd) != 0) return leap_error_set(err, LEAP_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
  return LEAP_OK;
}

/* Syncs the directory holding path, so that the rename itself survives a crash. */
static leap_status st_sync_directory(const char *path, leap_error *err) {
  char *dir = strdup(path);
  if (!dir) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  char *slash = strrchr(dir, '/');
  const char *name = slash ? (slash == dir ? "/" : dir) : ".";
  if (slash && slash != dir) *slash = '\0';
  int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0)
    leap_error_set(err, LEAP_ERR_IO, "%s: cannot sync directory '%s': %s", path, name, strerror(errno));
  if (fd >= 0) close(fd);
  free(dir);
  return err->status;
}

leap_status leap_st_write(const char *path, const leap_st_entry *tensors, int64_t count, const leap_st_meta *meta,
                          int64_t meta_count, leap_error *err) {
  leap_error local;
  leap_error_clear(&local);
  if (st_validate(path, tensors, count, meta, meta_count, &local))
    return leap_error_set(err, local.status, "%s", local.message);
  size_t header_len = 0;
  char *header = st_build_header(tensors, count, meta, meta_count, &header_len);
  size_t tmp_size = strlen(path) + sizeof ".tmp.XXXXXX";
  char *tmp = malloc(tmp_size);
  if (!header || !tmp) {
    free(header), free(tmp);
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory building the header", path);
  }
  snprintf(tmp, tmp_size, "%s.tmp.XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    leap_error_set(&local, LEAP_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
  } else {
    /* mkostemp creates the file private to its owner; a weights file is ordinarily world-readable. */
    if (fchmod(fd, 0644) != 0)
      leap_error_set(&local, LEAP_ERR_IO, "%s: chmod of the temporary file failed: %s", path, strerror(errno));
    st_write_contents(fd, path, header, header_len, tensors, count, &local);
    if (close(fd) != 0) leap_error_set(&local, LEAP_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (local.status == LEAP_OK && rename(tmp, path) != 0)
      leap_error_set(&local, LEAP_ERR_IO, "%s: cannot rename the temporary file into place: %s", path,
                     strerror(errno));
    if (local.status != LEAP_OK)
      unlink(tmp);
    else
      st_sync_directory(path, &local);
  }
  free(header);
  free(tmp);
  return local.status == LEAP_OK ? LEAP_OK : leap_error_set(err, local.status, "%s", local.message);
}
