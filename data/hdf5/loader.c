/* The HDF5 loader's public calls: opening (every check a user's file or config can fail, each error naming the
 * file and the dataset), the sizes, the consumer's side of the queue, seek and close. The reading itself is in
 * dataset.c and the prefetch thread in producer.c; docs/data.md describes the whole. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/hdf5/loader_internal.h"
#include "data/hdf5/order.h"

#define DEFAULT_RESIDENT_BYTES ((int64_t)64 << 20)
#define DEFAULT_CACHE_BYTES ((int64_t)4 << 30)
#define DEFAULT_SHUFFLE_BUFFER 2048
#define MAX_THREADS 64
/* More batches held at once than a double-buffered consumer needs would only hide a consumer that forgets to let
 * go of them. */
#define MAX_HELD_BATCHES 8

/* HDF5 prints its error stack on failures by default; the loader reports its own one-line errors instead, so it
 * silences the printing on the calling thread while it works and restores it after. */
typedef struct h5_quiet {
  H5E_auto2_t fn;
  void *data;
  bool saved;
} h5_quiet;

static h5_quiet h5_quiet_begin(void) {
  h5_quiet q = {0};
  q.saved = H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data) >= 0 && H5Eset_auto2(H5E_DEFAULT, NULL, NULL) >= 0;
  return q;
}

static void h5_quiet_end(h5_quiet q) {
  if (q.saved) (void)H5Eset_auto2(H5E_DEFAULT, q.fn, q.data); /* nothing to do if restoring fails */
}

leap_loader_config leap_loader_config_default(void) {
  leap_loader_config c;
  memset(&c, 0, sizeof c);
  c.group = "";
  c.batch = 32;
  c.shuffle = true;
  c.world = 1;
  c.prefetch = 4;
  c.threads = 2;
  c.fraction = 1.0;
  c.shuffle_buffer = DEFAULT_SHUFFLE_BUFFER;
  c.resident_bytes = DEFAULT_RESIDENT_BYTES;
  c.cache_bytes = DEFAULT_CACHE_BYTES;
  c.held_batches = 1;
  for (int i = 0; i < LEAP_LOADER_MAX_FIELDS; i++) {
    c.fields[i].dtype = LEAP_F32;
    for (int k = 0; k < LEAP_LOADER_MAX_CHANNELS; k++) c.fields[i].std[k] = 1.0f;
  }
  return c;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* checks */

static leap_status check_field_spec(const leap_loader_config *c, int i, leap_error *err) {
  const leap_field_spec *s = &c->fields[i];
  if (!s->dataset || !s->dataset[0])
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: field %d names no dataset", c->path, i);
  if (s->dtype != LEAP_F32 && s->dtype != LEAP_I32 && s->dtype != LEAP_U8)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': the loader delivers f32, i32 or u8, not %s", c->path,
                          s->dataset, leap_dtype_name(s->dtype));
  if (s->kind != LEAP_FIELD_SAMPLES && s->kind != LEAP_FIELD_TOKENS)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': unknown field kind %d", c->path, s->dataset,
                          (int)s->kind);
  if (s->kind != c->fields[0].kind)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': token-stream and per-sample fields cannot mix",
                          c->path, s->dataset);
  if (s->kind == LEAP_FIELD_TOKENS && (s->window < 1 || s->window != c->fields[0].window))
    return leap_error_set(err, LEAP_ERR_CONFIG,
                          "%s: dataset '%s': a token window must be >= 1 and the same for every "
                          "field (got %lld)",
                          c->path, s->dataset, (long long)s->window);
  if (s->kind == LEAP_FIELD_TOKENS && (s->normalize || s->nchw))
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': a token stream is not an image", c->path,
                          s->dataset);
  if (s->normalize && s->dtype != LEAP_F32)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': normalised images are delivered as f32", c->path,
                          s->dataset);
  return LEAP_OK;
}

static leap_status check_config(const leap_loader_config *c, leap_error *err) {
  if (!c->path || !c->path[0]) return leap_error_set(err, LEAP_ERR_CONFIG, "the loader's config names no file");
  const char *bad = NULL;
  if (c->n_fields < 1 || c->n_fields > LEAP_LOADER_MAX_FIELDS)
    bad = "n_fields must be 1..8";
  else if (c->batch < 1)
    bad = "batch must be >= 1";
  else if (c->world < 1 || c->rank < 0 || c->rank >= c->world)
    bad = "rank must be in [0, world)";
  else if (c->prefetch < 1)
    bad = "prefetch must be >= 1";
  else if (c->threads < 1 || c->threads > MAX_THREADS)
    bad = "threads must be 1..64";
  else if (!(c->fraction > 0.0 && c->fraction <= 1.0))
    bad = "fraction must be in (0, 1]";
  else if (c->shuffle_buffer < 0 || c->resident_bytes < 0 || c->cache_bytes < 0 || c->token_windows_per_epoch < 0)
    bad = "shuffle_buffer, resident_bytes, cache_bytes and token_windows_per_epoch must be >= 0";
  else if (c->held_batches < 0 || c->held_batches > MAX_HELD_BATCHES)
    bad = "held_batches must be 0 (the default, 1) to 8";
  else if (!c->host_alloc != !c->host_free)
    bad = "host_alloc and host_free must be given together";
  if (bad) return leap_error_set(err, LEAP_ERR_CONFIG, "%s: loader config: %s", c->path, bad);
  for (int i = 0; i < c->n_fields; i++) {
    leap_status st = check_field_spec(c, i, err);
    if (st) return st;
  }
  return LEAP_OK;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* opening */

static leap_status copy_names(leap_loader *L, const leap_loader_config *c, leap_error *err) {
  const char *g = c->group ? c->group : "";
  while (*g == '/') g++;
  size_t glen = strlen(g);
  while (glen > 0 && g[glen - 1] == '/') glen--;
  if (strlen(c->path) >= sizeof L->path || glen >= sizeof L->group)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: path or group name too long", c->path);
  strcpy(L->path, c->path);
  memcpy(L->group, g, glen);
  L->group[glen] = '\0';
  L->config.path = L->path;
  L->config.group = L->group;
  for (int i = 0; i < c->n_fields; i++) {
    leap__field *f = &L->fields[i];
    const char *d = c->fields[i].dataset;
    while (*d == '/') d++;
    int len = snprintf(f->name, sizeof f->name, "%s%s%s", L->group, glen ? "/" : "", d);
    if (len < 0 || (size_t)len >= sizeof f->name)
      return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset name '%s' too long", L->path, d);
    f->spec = c->fields[i];
    f->spec.dataset = f->name;
    L->config.fields[i].dataset = f->name;
  }
  return LEAP_OK;
}

static leap_status open_file(leap_loader *L, leap_error *err) {
  L->fd = open(L->path, O_RDONLY | O_CLOEXEC);
  if (L->fd < 0)
    return leap_error_set(err, LEAP_ERR_IO, "%s: cannot open it (for dataset '%s'): %s", L->path, L->fields[0].name,
                          strerror(errno));
  if (H5Fis_hdf5(L->path) <= 0)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: not an HDF5 file (looking for dataset '%s')", L->path,
                          L->fields[0].name);
  L->file = H5Fopen(L->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t fcpl = L->file < 0 ? H5I_INVALID_HID : H5Fget_create_plist(L->file);
  hsize_t userblock = 0;
  herr_t rc = fcpl < 0 ? -1 : H5Pget_userblock(fcpl, &userblock);
  if (fcpl >= 0 && H5Pclose(fcpl) < 0) rc = -1;
  if (rc < 0) return leap_error_set(err, LEAP_ERR_IO, "%s: HDF5 cannot open it", L->path);
  L->base_addr = (uint64_t)userblock;
  if (!L->group[0]) return LEAP_OK;
  H5O_info_t info;
  if (H5Lexists(L->file, L->group, H5P_DEFAULT) <= 0 ||
      H5Oget_info_by_name2(L->file, L->group, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_GROUP)
    return leap_error_set(err, LEAP_ERR_FORMAT, "%s: no group '%s' (looking for dataset '%s')", L->path, L->group,
                          L->fields[0].name);
  return LEAP_OK;
}

/* The delivered sample shape and the normalisation of an opened field. */
static leap_status shape_field(leap_loader *L, leap__field *f, leap_error *err) {
  const leap_field_spec *s = &f->spec;
  if (s->kind == LEAP_FIELD_TOKENS) {
    if (f->ndim != 1)
      return leap_error_set(err, LEAP_ERR_SHAPE, "%s: dataset '%s' has %d dimensions; a token stream is 1-D", L->path,
                            f->name, f->ndim);
    f->out_ndim = 1;
    f->out_shape[0] = s->window + 1;
  } else if (s->nchw) {
    if (f->ndim != 4)
      return leap_error_set(err, LEAP_ERR_SHAPE, "%s: dataset '%s' has %d dimensions; an NCHW image dataset has 4",
                            L->path, f->name, f->ndim);
    f->out_ndim = 3;
    f->out_shape[0] = f->dims[2];
    f->out_shape[1] = f->dims[3];
    f->out_shape[2] = f->dims[1];
  } else {
    f->out_ndim = f->ndim - 1;
    for (int d = 1; d < f->ndim; d++) f->out_shape[d - 1] = f->dims[d];
  }
  f->out_elems = leap_shape_numel(f->out_ndim, f->out_shape);
  f->out_bytes = (size_t)f->out_elems * leap_dtype_size(s->dtype);
  if (!s->normalize) return LEAP_OK;
  if (f->src.kind != LEAP__SRC_UINT || f->src.size != 1)
    return leap_error_set(err, LEAP_ERR_DTYPE, "%s: dataset '%s' is %s; normalisation takes u8 images", L->path,
                          f->name, leap__src_type_name(f->src));
  int channels = f->out_ndim >= 3 ? (int)f->out_shape[f->out_ndim - 1] : 1;
  if (channels > LEAP_LOADER_MAX_CHANNELS)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: dataset '%s' has %d channels; normalisation takes at most %d",
                          L->path, f->name, channels, LEAP_LOADER_MAX_CHANNELS);
  for (int c = 0; c < channels; c++)
    if (!(s->std[c] > 0.0f))
      return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': std[%d] must be > 0", L->path, f->name, c);
  leap__norm_init(&f->norm, channels, s->mean, s->std);
  return LEAP_OK;
}

static leap_status open_fields(leap_loader *L, leap_error *err) {
  for (int i = 0; i < L->n_fields; i++) {
    leap__field *f = &L->fields[i], *f0 = &L->fields[0];
    leap_status st = leap__field_open(L, f, err);
    if (!st) st = shape_field(L, f, err);
    if (st) return st;
    if (f->dims[0] != f0->dims[0])
      return leap_error_set(err, LEAP_ERR_SHAPE,
                            "%s: datasets '%s' and '%s' differ in their first dimension (%lld "
                            "and %lld %s)",
                            L->path, f0->name, f->name, (long long)f0->dims[0], (long long)f->dims[0],
                            L->tokens ? "tokens" : "samples");
  }
  L->n_total = L->fields[0].dims[0];
  if (L->n_total == 0)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: dataset '%s' is empty", L->path, L->fields[0].name);
  return LEAP_OK;
}

/* Samples (or windows) per epoch, the rank's share, and its batches. */
static leap_status size_epoch(leap_loader *L, leap_error *err) {
  const leap_loader_config *c = &L->config;
  int64_t used = (int64_t)(c->fraction * (double)L->n_total);
  used = used < 1 ? 1 : used > L->n_total ? L->n_total : used;
  if (L->tokens) {
    int64_t window = L->fields[0].spec.window;
    if (used < window + 1)
      return leap_error_set(err, LEAP_ERR_SHAPE,
                            "%s: dataset '%s': a window of %lld needs %lld tokens but the stream "
                            "has %lld%s",
                            L->path, L->fields[0].name, (long long)window, (long long)(window + 1), (long long)used,
                            used < L->n_total ? " (after fraction)" : "");
    L->n_tokens = used;
    L->n_used = c->token_windows_per_epoch > 0 ? c->token_windows_per_epoch : used / window;
    if (L->n_used < 1) L->n_used = 1;
  } else {
    L->n_used = used;
  }
  leap__rank_range(L->n_used, c->rank, c->world, &L->rank_lo, &L->rank_hi);
  int64_t share = L->rank_hi - L->rank_lo;
  L->batches = c->drop_last ? share / c->batch : (share + c->batch - 1) / c->batch;
  if (L->batches < 1)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: dataset '%s': rank %d of %d gets %lld %s per epoch, %s", L->path,
                          L->fields[0].name, c->rank, c->world, (long long)share, L->tokens ? "windows" : "samples",
                          share ? "fewer than one batch (drop_last)" : "none");
  return LEAP_OK;
}

/* Decides which fields are resident, reads them, and sets up the blocks of the streamed ones. */
static leap_status plan_storage(leap_loader *L, leap_error *err) {
  const leap_loader_config *c = &L->config;
  /* The order's blocks follow the chunks of the field with the largest samples (whatever is resident), so that the
   * order depends only on the file and the config. Unchunked, a block is one sample: a plain permutation. */
  leap__field *primary = &L->fields[0];
  for (int i = 0; i < L->n_fields; i++) {
    leap__field *f = &L->fields[i];
    f->resident = L->tokens || (double)L->n_used * (double)f->row_bytes <= (double)c->resident_bytes;
    if (f->row_bytes > primary->row_bytes) primary = f;
  }
  int64_t block = L->tokens ? L->n_used : primary->chunk_rows > 0 ? primary->chunk_rows : 1;
  L->block_rows = block > L->n_used ? L->n_used : block;
  L->n_blocks = (L->n_used + L->block_rows - 1) / L->block_rows;
  int64_t buffer = c->shuffle_buffer > 0 ? c->shuffle_buffer : DEFAULT_SHUFFLE_BUFFER;
  L->group_blocks = c->shuffle ? buffer / L->block_rows : 1;
  if (L->group_blocks < 1) L->group_blocks = 1;
  L->lookahead = (L->group_blocks * L->block_rows + c->batch - 1) / c->batch + 1;
  /* Decoding ahead at the average rate the epoch needs keeps every batch's cost the same (no bursts that a queue
   * would have to hide); a batch whose blocks are still missing has them decoded before it is made. */
  int64_t per_batch = (L->n_blocks + (int64_t)c->world * L->batches - 1) / ((int64_t)c->world * L->batches);
  L->decode_cap = per_batch > 0 ? per_batch : 1;
  int64_t cache_left = c->cache_bytes;
  for (int i = 0; i < L->n_fields; i++) {
    leap__field *f = &L->fields[i];
    leap_status st =
        f->resident ? leap__field_read_resident(L, f, err) : leap__field_plan_streaming(L, f, L->block_rows, err);
    if (st) return st;
    double total = (double)f->n_blocks * (double)f->block_bytes;
    if (!f->resident && total <= (double)cache_left) {
      f->keep = true;
      cache_left -= (int64_t)total;
      st = leap__field_alloc_arena(L, f, err);
      if (st) return st;
    }
  }
  return LEAP_OK;
}

static leap_status alloc_plan(leap_loader *L, leap_error *err) {
  leap__plan *P = &L->plan;
  P->epoch = -1;
  if (L->tokens) return LEAP_OK;
  size_t nb = (size_t)L->n_blocks;
  P->order = malloc((size_t)L->n_used * sizeof *P->order);
  P->block_scratch = malloc(nb * sizeof(int64_t));
  P->first_use = malloc(nb * sizeof(int64_t));
  P->last_use = malloc(nb * sizeof(int64_t));
  P->decode_order = malloc(nb * sizeof(int64_t));
  P->by_last_use = malloc(nb * sizeof(int64_t));
  if (!P->order || !P->block_scratch || !P->first_use || !P->last_use || !P->decode_order || !P->by_last_use)
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory for the epoch order", L->path);
  return LEAP_OK;
}

static void free_plan(leap__plan *P) {
  free(P->order);
  free(P->block_scratch);
  free(P->first_use);
  free(P->last_use);
  free(P->decode_order);
  free(P->by_last_use);
}

/* A buffer handed to the caller: from the config's allocator when it has one. */
static void *alloc_batch_buffer(const leap_loader_config *c, size_t bytes) {
  return c->host_alloc ? c->host_alloc(bytes, c->host_ctx) : malloc(bytes);
}

static void free_batch_buffer(const leap_loader_config *c, void *p) {
  if (!p) return;
  if (c->host_free)
    c->host_free(p, c->host_ctx);
  else
    free(p);
}

/* The workers' decompressors and scratch, the pool, the queue's slots; then the producer starts. The queue holds
 * prefetch ready batches beside the held_batches the caller uses. */
static leap_status start_threads(leap_loader *L, leap_error *err) {
  const leap_loader_config *c = &L->config;
  L->workers = calloc((size_t)c->threads, sizeof *L->workers);
  size_t scratch = 0;
  for (int i = 0; i < L->n_fields; i++)
    if (L->fields[i].spec.nchw && L->fields[i].row_bytes > scratch) scratch = L->fields[i].row_bytes;
  for (int t = 0; L->workers && t < c->threads; t++) {
    leap__worker *w = &L->workers[t];
    w->inflater = libdeflate_alloc_decompressor();
    w->scratch = scratch ? malloc(scratch) : NULL;
    w->scratch_bytes = w->scratch ? scratch : 0;
    if (!w->inflater || (scratch && !w->scratch))
      return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", L->path);
  }
  if (!L->workers) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", L->path);
  if (!leap__pool_init(&L->pool, c->threads - 1))
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: cannot start %d loader threads", L->path, c->threads - 1);
  L->pool_started = true;
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->slot_ready, NULL);
  pthread_cond_init(&L->slot_free, NULL);
  L->sync_started = true;
  L->n_slots = c->prefetch + c->held_batches;
  L->slots = calloc((size_t)L->n_slots, sizeof *L->slots);
  for (int s = 0; L->slots && s < L->n_slots; s++)
    for (int i = 0; i < L->n_fields; i++)
      if (!(L->slots[s].data[i] = alloc_batch_buffer(c, (size_t)c->batch * L->fields[i].out_bytes)))
        return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory for the prefetch queue", L->path);
  if (!L->slots) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory for the prefetch queue", L->path);
  return leap__producer_start(L, err);
}

leap_status leap_loader_open(leap_loader **out, const leap_loader_config *config, leap_error *err) {
  *out = NULL;
  leap_status st = check_config(config, err);
  if (st) return st;
  leap_loader *L = calloc(1, sizeof *L);
  if (!L) return leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", config->path);
  L->config = *config;
  if (L->config.held_batches == 0) L->config.held_batches = 1;
  L->n_fields = config->n_fields;
  L->tokens = config->fields[0].kind == LEAP_FIELD_TOKENS;
  L->file = H5I_INVALID_HID;
  L->fd = -1;
  for (int i = 0; i < LEAP_LOADER_MAX_FIELDS; i++) L->fields[i].dset = L->fields[i].memtype = H5I_INVALID_HID;
  h5_quiet quiet = h5_quiet_begin();
  st = copy_names(L, config, err);
  if (!st) st = open_file(L, err);
  if (!st) st = open_fields(L, err);
  if (!st) st = size_epoch(L, err);
  if (!st) st = plan_storage(L, err);
  if (!st) st = alloc_plan(L, err);
  h5_quiet_end(quiet);
  if (!st) st = start_threads(L, err);
  if (st) {
    leap_loader_close(L);
    return st;
  }
  *out = L;
  return LEAP_OK;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* sizes, batches, seek, close */

int64_t leap_loader_samples_per_epoch(const leap_loader *L) { return L->rank_hi - L->rank_lo; }
int64_t leap_loader_batches_per_epoch(const leap_loader *L) { return L->batches; }
int64_t leap_loader_total_samples(const leap_loader *L) { return L->n_total; }

leap_status leap_loader_next(leap_loader *L, leap_batch *batch, leap_error *err) {
  pthread_mutex_lock(&L->mu);
  if (L->n_held == L->config.held_batches) {
    /* The oldest batch the caller holds goes back to the producer. */
    int oldest = (L->head - L->n_held + L->n_slots) % L->n_slots;
    L->slots[oldest].state = LEAP__SLOT_FREE;
    L->n_held--;
    pthread_cond_signal(&L->slot_free);
  }
  while (L->slots[L->head].state != LEAP__SLOT_READY) pthread_cond_wait(&L->slot_ready, &L->mu);
  leap__slot *s = &L->slots[L->head];
  if (s->error.status) {
    /* The producer stopped at this error; it stays at the head, so that every later call reports it too. */
    leap_status st = leap_error_set(err, s->error.status, "%s", s->error.message);
    pthread_mutex_unlock(&L->mu);
    return st;
  }
  s->state = LEAP__SLOT_HELD;
  L->n_held++;
  L->head = (L->head + 1) % L->n_slots;
  pthread_mutex_unlock(&L->mu);
  memset(batch, 0, sizeof *batch);
  batch->n = s->n;
  batch->epoch = s->epoch;
  batch->index_in_epoch = s->index;
  for (int i = 0; i < L->n_fields; i++) {
    const leap__field *f = &L->fields[i];
    batch->field[i] = s->data[i];
    batch->dtype[i] = f->spec.dtype;
    batch->ndim[i] = f->out_ndim + 1;
    batch->shape[i][0] = s->n;
    for (int d = 0; d < f->out_ndim; d++) batch->shape[i][d + 1] = f->out_shape[d];
  }
  return LEAP_OK;
}

leap_status leap_loader_seek(leap_loader *L, int64_t epoch, int64_t batch_index, leap_error *err) {
  if (epoch < 0 || batch_index < 0 || batch_index >= L->batches)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: cannot seek to epoch %lld, batch %lld (an epoch has %lld batches)",
                          L->path, (long long)epoch, (long long)batch_index, (long long)L->batches);
  leap__producer_stop(L);
  for (int s = 0; s < L->n_slots; s++) L->slots[s].state = LEAP__SLOT_FREE;
  L->head = L->tail = 0;
  L->n_held = 0;
  L->start_epoch = epoch;
  L->start_batch = batch_index;
  return leap__producer_start(L, err);
}

void leap_loader_close(leap_loader *L) {
  if (!L) return;
  leap__producer_stop(L);
  if (L->pool_started) leap__pool_free(&L->pool);
  for (int t = 0; L->workers && t < L->config.threads; t++) {
    if (L->workers[t].inflater) libdeflate_free_decompressor(L->workers[t].inflater);
    free(L->workers[t].packed);
    free(L->workers[t].scratch);
  }
  free(L->workers);
  for (int s = 0; L->slots && s < L->n_slots; s++)
    for (int i = 0; i < L->n_fields; i++) free_batch_buffer(&L->config, L->slots[s].data[i]);
  free(L->slots);
  free_plan(&L->plan);
  /* Closing read-only HDF5 objects cannot lose data; a failure here has nothing left to report to. */
  h5_quiet quiet = h5_quiet_begin();
  for (int i = 0; i < LEAP_LOADER_MAX_FIELDS; i++) leap__field_close(&L->fields[i]);
  if (L->file >= 0) (void)H5Fclose(L->file);
  h5_quiet_end(quiet);
  if (L->fd >= 0) close(L->fd);
  if (L->sync_started) {
    pthread_cond_destroy(&L->slot_free);
    pthread_cond_destroy(&L->slot_ready);
    pthread_mutex_destroy(&L->mu);
  }
  free(L);
}
