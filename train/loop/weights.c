/* Weights during training: DIR/model.safetensors (every parameter and buffer by name) and DIR/prep.json (the data
 * preparation a model needs at inference: the fields' dtypes, normalisation and layout, and which field the chain
 * reads and predicts), each written atomically. */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/io/safetensors.h"
#include "train/loop/loop_internal.h"
#include "train/loop/trainer.h"

#define WEIGHTS_FILE "model.safetensors"
#define PREP_FILE "prep.json"
#define PREP_FORMAT_VERSION 1

leap_status leap__path_join(char *out, size_t size, const char *a, const char *b, leap_error *err) {
  int n = snprintf(out, size, "%s/%s", a, b);
  if (n < 0 || (size_t)n >= size) return leap_error_set(err, LEAP_ERR_IO, "%s/%s: path too long", a, b);
  return LEAP_OK;
}

leap_status leap__make_parent_dirs(const char *file, leap_error *err) {
  const char *slash = strrchr(file, '/');
  if (!slash || slash == file) return LEAP_OK;
  char dir[4096];
  if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file) >= (int)sizeof dir)
    return leap_error_set(err, LEAP_ERR_IO, "%s: path too long", file);
  return leap__make_dirs(dir, err);
}

leap_status leap__make_dirs(const char *path, leap_error *err) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return leap_error_set(err, LEAP_ERR_IO, "%s: path too long", path);
  for (char *p = buf + 1;; p++) {
    bool end = *p == '\0';
    if (*p != '/' && !end) continue;
    *p = '\0';
    struct stat st;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return leap_error_set(err, LEAP_ERR_IO, "%s: cannot create directory '%s': %s", path, buf, strerror(errno));
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
      return leap_error_set(err, LEAP_ERR_IO, "%s: '%s' exists and is not a directory", path, buf);
    if (end) break;
    *p = '/';
  }
  return LEAP_OK;
}

static leap_status write_all(int fd, const char *data, size_t len, const char *path, leap_error *err) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return leap_error_set(err, LEAP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    data += n, len -= (size_t)n;
  }
  return LEAP_OK;
}

static void sync_parent(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) fsync(fd), close(fd);
}

leap_status leap__write_file_atomic(const char *path, const void *data, size_t len, leap_error *err) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
    return leap_error_set(err, LEAP_ERR_IO, "%s: path too long", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return leap_error_set(err, LEAP_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                          strerror(errno));
  leap_error local = {0};
  if (fchmod(fd, 0644) != 0) leap_error_set(&local, LEAP_ERR_IO, "%s: chmod failed: %s", path, strerror(errno));
  if (!local.status) write_all(fd, data, len, path, &local);
  if (!local.status && fsync(fd) != 0)
    leap_error_set(&local, LEAP_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
  if (close(fd) != 0) leap_error_set(&local, LEAP_ERR_IO, "%s: close failed: %s", path, strerror(errno));
  if (!local.status && rename(tmp, path) != 0)
    leap_error_set(&local, LEAP_ERR_IO, "%s: cannot rename the temporary file into place: %s", path,
                   strerror(errno));
  if (local.status) {
    unlink(tmp);
    return leap_error_set(err, local.status, "%s", local.message);
  }
  sync_parent(path);
  return LEAP_OK;
}

void leap__loop_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", out);
    else if (*p == '\t') fputs("\\t", out);
    else if (*p == '\r') fputs("\\r", out);
    else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
    else fputc(*p, out);
  }
  fputc('"', out);
}

void leap__loop_json_number(FILE *out, double v) {
  if (!isfinite(v)) fputs("null", out);
  else if ((double)(float)v == v) fprintf(out, "%.9g", v);
  else fprintf(out, "%.17g", v);
}

static void json_floats(FILE *out, const float *v, int n) {
  fputc('[', out);
  for (int i = 0; i < n; i++) {
    if (i) fputs(", ", out);
    leap__loop_json_number(out, v[i]);
  }
  fputc(']', out);
}

static void prep_field(FILE *out, const leap_field_config *f) {
  leap__loop_json_string(out, f->name);
  fprintf(out, ": {\"dtype\": \"%s\", \"normalize\": %s", leap_dtype_name(f->dtype), f->normalize ? "true" : "false");
  if (f->normalize) {
    fprintf(out, ", \"channels\": %d, \"mean\": ", f->n_channels);
    json_floats(out, f->mean, f->n_channels);
    fputs(", \"std\": ", out);
    json_floats(out, f->std, f->n_channels);
    fputs(", \"scale\": 255", out);
  }
  if (f->vocab > 0) fprintf(out, ", \"vocab\": %d", f->vocab);
  /* Images are delivered NHWC whatever their layout in the file. */
  if (f->normalize || f->nchw)
    fprintf(out, ", \"stored_layout\": \"%s\", \"layout\": \"nhwc\"", f->nchw ? "nchw" : "nhwc");
  fputc('}', out);
}

static void prep_chain(FILE *out, const leap_chain *chain) {
  fputs(",\n  \"chain\": {\"name\": ", out);
  leap__loop_json_string(out, chain->name);
  fputs(", \"inputs\": [", out);
  for (int i = 0; i < chain->n_inputs; i++) {
    if (i) fputs(", ", out);
    leap__loop_json_string(out, chain->inputs[i]);
  }
  fputs("], \"target\": ", out);
  leap__loop_json_string(out, chain->target);
  fprintf(out, ", \"loss\": \"%s\", \"nets\": [", chain->loss == LEAP_LOSS_CROSS_ENTROPY ? "cross_entropy" : "mse");
  for (int k = 0; k < chain->n_nets; k++) {
    const leap_net *n = chain->nets[k];
    fprintf(out, "%s{\"arch\": \"%s\", \"inputs\": [", k ? ", " : "", leap_net_arch_name(n->spec.arch));
    for (int i = 0; i < n->n_inputs; i++) {
      int src = chain->sources[k][i];
      fputs(i ? ", {\"from\": " : "{\"from\": ", out);
      if (src >= 0) leap__loop_json_string(out, chain->inputs[src]);
      else fprintf(out, "{\"net\": %d}", LEAP_CHAIN_FROM_NET(src));
      fprintf(out, ", \"dtype\": \"%s\", \"shape\": [", leap_dtype_name(n->inputs[i].dtype));
      for (int d = 0; d < n->inputs[i].ndim; d++) fprintf(out, "%s%lld", d ? ", " : "", (long long)n->inputs[i].shape[d]);
      fputs("]}", out);
    }
    fprintf(out, "], \"out_dim\": %lld}", (long long)n->out_dim);
  }
  fputs("]}", out);
}

static void prep_json(FILE *out, const leap_run_config *cfg, const leap_chain *chain) {
  fprintf(out, "{\"format\": \"leap-prep\", \"version\": %d", PREP_FORMAT_VERSION);
  if (cfg) {
    fputs(",\n  \"task\": ", out);
    leap__loop_json_string(out, cfg->task);
    fputs(", \"config\": ", out);
    leap__loop_json_string(out, cfg->source);
    fputs(", \"data_file\": ", out);
    leap__loop_json_string(out, cfg->data.file);
  }
  if (chain) prep_chain(out, chain);
  if (cfg) {
    fputs(",\n  \"fields\": {", out);
    for (int i = 0; i < cfg->data.n_fields; i++) {
      fputs(i ? ",\n    " : "\n    ", out);
      prep_field(out, &cfg->data.fields[i]);
    }
    fputs("}", out);
    leap__write_vocabularies(out, cfg->data.file);
  }
  fputs("}\n", out);
}

static leap_status save_prep(const char *path, const leap_run_config *cfg, const leap_chain *chain, leap_error *err) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  prep_json(out, cfg, chain);
  fclose(out);
  leap_status st = leap__write_file_atomic(path, text, len, err);
  free(text);
  return st;
}

/* Host copies of device-resident parameters (NULL for host ones, whose data is used as it is). */
static leap_status host_views(const leap_params *ps, const void **views, float **copies, leap_error *err) {
  for (int i = 0; i < ps->count; i++) {
    leap_tensor *t = ps->items[i].tensor;
    views[i] = t->data;
    if (t->device == LEAP_CPU) continue;
    if (!(copies[i] = malloc(leap_tensor_bytes(t))))
      return leap_error_set(err, LEAP_ERR_MEMORY, "out of memory copying '%s' to the host", t->name);
    leap_tensor_to_host(copies[i], t);
    views[i] = copies[i];
  }
  return LEAP_OK;
}

static leap_status save_tensors(const char *path, const leap_params *ps, const leap_chain *chain, leap_error *err) {
  int n = ps->count;
  leap_st_entry *entries = calloc((size_t)n + 1, sizeof *entries);
  const void **views = calloc((size_t)n + 1, sizeof *views);
  float **copies = calloc((size_t)n + 1, sizeof *copies);
  leap_status st = LEAP_OK;
  if (!entries || !views || !copies) st = leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", path);
  if (!st) st = host_views(ps, views, copies, err);
  for (int i = 0; i < n && !st; i++) {
    const leap_tensor *t = ps->items[i].tensor;
    entries[i].name = t->name;
    entries[i].dtype = LEAP_ST_F32;
    entries[i].ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) entries[i].shape[d] = t->shape[d];
    entries[i].data = views[i];
  }
  leap_st_meta meta[2] = {{"format", "leap"}, {"leap_chain", chain ? chain->name : ""}};
  if (!st) st = leap_st_write(path, entries, n, meta, chain ? 2 : 1, err);
  for (int i = 0; copies && i < n; i++) free(copies[i]);
  free(copies), free(views), free(entries);
  return st;
}

leap_status leap_save_weights(const char *dir, const leap_params *ps, const leap_run_config *cfg,
                              const leap_chain *chain, leap_error *err) {
  char path[4096];
  if (leap__make_dirs(dir, err) || leap__path_join(path, sizeof path, dir, WEIGHTS_FILE, err) ||
      save_tensors(path, ps, chain, err) || leap__path_join(path, sizeof path, dir, PREP_FILE, err))
    return err->status;
  return save_prep(path, cfg, chain, err);
}

static leap_status check_shape(const leap_st_reader *r, const leap_st_tensor_info *info, const leap_tensor *t,
                               leap_error *err) {
  bool same = info->ndim == t->ndim;
  for (int d = 0; same && d < t->ndim; d++) same = info->shape[d] == t->shape[d];
  if (same) return LEAP_OK;
  char want[160], got[160];
  int w = snprintf(want, sizeof want, "("), g = snprintf(got, sizeof got, "(");
  for (int d = 0; d < t->ndim && w < (int)sizeof want; d++)
    w += snprintf(want + w, sizeof want - (size_t)w, "%s%lld", d ? "," : "", (long long)t->shape[d]);
  for (int d = 0; d < info->ndim && g < (int)sizeof got; d++)
    g += snprintf(got + g, sizeof got - (size_t)g, "%s%lld", d ? "," : "", (long long)info->shape[d]);
  return leap_error_set(err, LEAP_ERR_SHAPE, "%s: tensor '%s' has shape %s) but the model's is %s)", leap_st_path(r),
                        t->name, got, want);
}

static leap_status load_one(leap_st_reader *r, leap_tensor *t, leap_error *err) {
  int64_t n = leap_tensor_numel(t);
  if (t->device == LEAP_CPU) return leap_st_read_f32(r, t->name, leap_f32(t), n, err);
  float *host = malloc((size_t)n * sizeof *host);
  if (!host) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory reading '%s'", leap_st_path(r), t->name);
  leap_status st = leap_st_read_f32(r, t->name, host, n, err);
  if (!st) leap_tensor_from_host(t, host);
  free(host);
  return st;
}

leap_status leap_load_weights(const char *dir, leap_params *ps, leap_error *err) {
  char path[4096];
  leap_st_reader *r = NULL;
  if (leap__path_join(path, sizeof path, dir, WEIGHTS_FILE, err) || leap_st_open(&r, path, err)) return err->status;
  /* Every name and shape is checked before any parameter changes, so a mismatched file leaves the model as it
   * was. Tensors of the file that the model lacks are ignored: a stage loads from a composed chain's weights. */
  leap_status st = LEAP_OK;
  for (int i = 0; i < ps->count && !st; i++) {
    const leap_st_tensor_info *info;
    const leap_tensor *t = ps->items[i].tensor;
    if (!(st = leap_st_lookup(r, t->name, &info, err))) st = check_shape(r, info, t, err);
  }
  for (int i = 0; i < ps->count && !st; i++) st = load_one(r, ps->items[i].tensor, err);
  leap_st_close(r);
  return st;
}
