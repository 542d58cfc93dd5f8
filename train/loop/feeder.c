/* The device feeder (feeder.h): a pass-through on the CPU; on CUDA, double-buffered copies on a copy stream,
 * ordered against the compute stream by events. */
#include "train/loop/feeder.h"

#include <stdlib.h>
#include <string.h>

#include "train/core/cuda_state.h"
#include "train/core/device_memory.h"

/* Where each part of a field starts in a device buffer: a multiple of this many bytes. */
#define FEEDER_ALIGN 256
/* Device buffers per field: the batch being computed on and the one being copied. */
#define FEEDER_SLOTS 2

_Static_assert(FEEDER_ALIGN % LEAP_ALIGNMENT == 0, "parts are at least as aligned as arena tensors");

struct leap_feeder {
  leap_runtime *rt;
  leap_feeder_config config;
  bool cuda;
  /* the batches: host[slot] is the source's batch whose copy went to dev[slot][...] */
  leap_batch host[FEEDER_SLOTS];
  int cur;      /* the slot handed out by the last call; -1 before the first */
  leap_error pending; /* a source error met while taking the next batch ahead */
  /* per field, fixed by the first batch */
  size_t sample_bytes[LEAP_LOADER_MAX_FIELDS];
  size_t part_stride[LEAP_LOADER_MAX_FIELDS]; /* bytes between parts in a device buffer */
  /* CUDA only */
  void *dev[FEEDER_SLOTS][LEAP_LOADER_MAX_FIELDS];
  int64_t device_allocs;
  leap_cuda_stream copy;
  leap_cuda_event copied[FEEDER_SLOTS], released[FEEDER_SLOTS];
  bool released_recorded[FEEDER_SLOTS];
};

int leap_feeder_held_batches(const leap_runtime *rt) { return rt->device == LEAP_CUDA ? FEEDER_SLOTS : 1; }

leap_status leap_feeder_create(leap_feeder **out, leap_runtime *rt, const leap_feeder_config *config,
                               leap_error *err) {
  *out = NULL;
  const leap_feeder_config *c = config;
  if (!c->next || c->n_fields < 1 || c->n_fields > LEAP_LOADER_MAX_FIELDS || c->max_rows < 1 || c->parts < 1)
    return leap_error_set(err, LEAP_ERR_CONFIG, "feeder: needs a source, 1 to %d fields, max_rows >= 1 and parts >= 1 "
                          "(got %d fields, max_rows %lld, parts %lld)", LEAP_LOADER_MAX_FIELDS, c->n_fields,
                          (long long)c->max_rows, (long long)c->parts);
  leap_feeder *f = calloc(1, sizeof *f);
  if (!f) return leap_error_set(err, LEAP_ERR_MEMORY, "feeder: out of memory");
  f->rt = rt;
  f->config = *c;
  f->cuda = rt->device == LEAP_CUDA;
  f->cur = -1;
  if (f->cuda) {
    f->copy = leap_cuda_copy_stream_create();
    for (int s = 0; s < FEEDER_SLOTS; s++) {
      f->copied[s] = leap_cuda_event_create();
      f->released[s] = leap_cuda_event_create();
    }
  }
  *out = f;
  return LEAP_OK;
}

void leap_feeder_destroy(leap_feeder *f) {
  if (!f) return;
  if (f->cuda) {
    /* Copies in flight read the source's buffers and write ours; kernels in flight may read ours. */
    leap_cuda_event_record(f->released[0], f->rt->cuda->stream);
    leap_cuda_event_wait_host(f->released[0]);
    for (int s = 0; s < FEEDER_SLOTS; s++) leap_cuda_event_wait_host(f->copied[s]);
    for (int s = 0; s < FEEDER_SLOTS; s++) {
      for (int i = 0; i < f->config.n_fields; i++) leap_device_free(LEAP_CUDA, f->dev[s][i]);
      leap_cuda_event_destroy(f->copied[s]);
      leap_cuda_event_destroy(f->released[s]);
    }
    leap_cuda_copy_stream_destroy(f->copy);
  }
  free(f);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* parts and views */

static int64_t parts_of(const leap_feeder *f, int64_t n) { return f->config.parts < n ? f->config.parts : n; }

static void part_range(const leap_feeder *f, int64_t n, int64_t part, int64_t *lo, int64_t *hi) {
  int64_t p = parts_of(f, n);
  *lo = n * part / p;
  *hi = n * (part + 1) / p;
}

int64_t leap_feeder_parts(const leap_feeder *f) {
  LEAP_ASSERT(f->cur >= 0, "feeder: no batch yet");
  return parts_of(f, f->host[f->cur].n);
}

void leap_feeder_part_rows(const leap_feeder *f, int64_t part, int64_t *lo, int64_t *hi) {
  LEAP_ASSERT(part >= 0 && part < leap_feeder_parts(f), "feeder: part %lld of %lld", (long long)part,
              (long long)leap_feeder_parts(f));
  part_range(f, f->host[f->cur].n, part, lo, hi);
}

leap_tensor *leap_feeder_rows(leap_feeder *f, leap_ctx *ctx, int field, int64_t part) {
  LEAP_ASSERT(field >= 0 && field < f->config.n_fields, "feeder: field %d of %d", field, f->config.n_fields);
  LEAP_ASSERT(ctx->device == f->rt->device, "feeder: a %s context for a %s feeder", leap_device_name(ctx->device),
              leap_device_name(f->rt->device));
  const leap_batch *b = &f->host[f->cur];
  int64_t lo, hi;
  leap_feeder_part_rows(f, part, &lo, &hi);
  int64_t shape[LEAP_MAX_DIMS];
  memcpy(shape, b->shape[field], sizeof shape);
  shape[0] = hi - lo;
  char *data = f->cuda ? (char *)f->dev[f->cur][field] + (size_t)part * f->part_stride[field]
                       : (char *)b->field[field] + (size_t)lo * f->sample_bytes[field];
  leap_tensor *t = leap_arena_alloc(&ctx->meta, sizeof *t);
  leap_tensor_view_init(t, ctx->device, b->dtype[field], b->ndim[field], shape, data);
  return t;
}

leap_cuda_stream leap_feeder_copy_stream(const leap_feeder *f) { return f->cuda ? f->copy : NULL; }

int64_t leap_feeder_device_allocs(const leap_feeder *f) { return f->device_allocs; }

/* ------------------------------------------------------------------------------------------------------------ */
/* taking batches and copying them */

static size_t sample_bytes_of(const leap_batch *b, int field) {
  return (size_t)leap_shape_numel(b->ndim[field] - 1, b->shape[field] + 1) * leap_dtype_size(b->dtype[field]);
}

/* Takes the source's next batch into host[slot]; its rows and sample sizes must fit what the feeder was made for. */
static leap_status take(leap_feeder *f, int slot, leap_error *err) {
  leap_batch *b = &f->host[slot];
  if (f->config.next(f->config.source, b, err)) return err->status;
  LEAP_ASSERT(b->n >= 1 && b->n <= f->config.max_rows, "feeder: a batch of %lld rows (at most %lld)",
              (long long)b->n, (long long)f->config.max_rows);
  for (int i = 0; i < f->config.n_fields; i++) {
    size_t bytes = sample_bytes_of(b, i);
    LEAP_ASSERT(f->sample_bytes[i] == 0 || f->sample_bytes[i] == bytes,
                "feeder: field %d's samples changed size (%zu bytes, then %zu)", i, f->sample_bytes[i], bytes);
    f->sample_bytes[i] = bytes;
  }
  return LEAP_OK;
}

/* The device buffers, sized for max_rows at the first batch (when the sample sizes become known). */
static leap_status alloc_device(leap_feeder *f, leap_error *err) {
  int64_t part_rows = (f->config.max_rows + f->config.parts - 1) / f->config.parts;
  for (int i = 0; i < f->config.n_fields; i++) {
    size_t stride = (size_t)part_rows * f->sample_bytes[i];
    f->part_stride[i] = (stride + FEEDER_ALIGN - 1) / FEEDER_ALIGN * FEEDER_ALIGN;
    size_t bytes = f->part_stride[i] * (size_t)f->config.parts;
    for (int s = 0; s < FEEDER_SLOTS; s++) {
      if (!(f->dev[s][i] = leap_device_alloc(LEAP_CUDA, bytes)))
        return leap_error_set(err, LEAP_ERR_MEMORY, "feeder: out of device memory for a batch (%zu bytes)", bytes);
      f->device_allocs++;
    }
  }
  return LEAP_OK;
}

/* Queues host[slot]'s copy into dev[slot] on the copy stream, after the step that last read dev[slot]. */
static void copy_slot(leap_feeder *f, int slot) {
  const leap_batch *b = &f->host[slot];
  if (f->released_recorded[slot]) leap_cuda_stream_wait_event(f->copy, f->released[slot]);
  for (int i = 0; i < f->config.n_fields; i++)
    for (int64_t p = 0; p < parts_of(f, b->n); p++) {
      int64_t lo, hi;
      part_range(f, b->n, p, &lo, &hi);
      leap_cuda_copy_to_device_async((char *)f->dev[slot][i] + (size_t)p * f->part_stride[i],
                                     (const char *)b->field[i] + (size_t)lo * f->sample_bytes[i],
                                     (size_t)(hi - lo) * f->sample_bytes[i], f->copy);
    }
  leap_cuda_event_record(f->copied[slot], f->copy);
}

/* Takes the batch after the current one into the other slot and starts its copy; a source error is kept for the
 * next call. */
static void prefetch(leap_feeder *f) {
  int next = 1 - f->cur;
  if (take(f, next, &f->pending)) return;
  copy_slot(f, next);
}

static leap_status next_cuda(leap_feeder *f, leap_error *err) {
  leap_cuda_stream compute = f->rt->cuda->stream;
  if (f->cur < 0) {
    if (take(f, 0, err) || alloc_device(f, err)) return err->status;
    f->cur = 0;
    copy_slot(f, 0);
  } else {
    int prev = f->cur;
    leap_cuda_event_record(f->released[prev], compute);
    f->released_recorded[prev] = true;
    /* Batch prev's host buffer may be recycled by the source from the next take on. */
    leap_cuda_event_wait_host(f->copied[prev]);
    f->cur = 1 - prev;
  }
  prefetch(f);
  leap_cuda_stream_wait_event(compute, f->copied[f->cur]);
  return LEAP_OK;
}

leap_status leap_feeder_next(leap_feeder *f, const leap_batch **batch, leap_error *err) {
  *batch = NULL;
  if (f->pending.status) return leap_error_set(err, f->pending.status, "%s", f->pending.message);
  if (f->cuda) {
    if (next_cuda(f, err)) return err->status;
  } else {
    if (take(f, 0, err)) return err->status;
    f->cur = 0;
  }
  *batch = &f->host[f->cur];
  return LEAP_OK;
}
