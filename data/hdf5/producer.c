/* The prefetch thread: makes batches, in order, into the queue's free slots.
 *
 * For each batch it runs one round on the pool whose jobs are: decoding the blocks that upcoming batches will need
 * first (read ahead by `lookahead` batches, at most `decode_cap` blocks a round, so that decoding spreads evenly
 * over the epoch), and converting this batch's samples into the slot. A batch's own blocks were decoded by earlier
 * rounds; when they were not (an epoch's first batch, a seek), a round decodes them before the batch is made.
 * After the batch, blocks whose last use in the epoch has passed are freed, except in fields that fit the cache,
 * which keep every block and so skip decoding from their second epoch on. */
#include <stdlib.h>
#include <string.h>

#include "data/hdf5/loader_internal.h"
#include "data/hdf5/order.h"

typedef struct decode_job {
  leap__field *field;
  int64_t block;
  uint8_t *dst;
} decode_job;

typedef struct round_ctx {
  leap_loader *L;
  decode_job *decodes;
  int64_t n_decodes, cap_decodes;
  leap__slot *slot; /* NULL in a decode-only round */
  int64_t n_samples, first_pos, epoch;
  pthread_mutex_t err_mu;
  leap_error err; /* the error of the lowest-numbered failing job, so that reports do not depend on timing */
  int64_t err_job;
} round_ctx;

/* ------------------------------------------------------------------------------------------------------------ */
/* jobs (any worker) */

static void record_error(round_ctx *c, int64_t job, const leap_error *e) {
  pthread_mutex_lock(&c->err_mu);
  if (!c->err.status || job < c->err_job) {
    c->err = *e;
    c->err_job = job;
  }
  pthread_mutex_unlock(&c->err_mu);
}

/* Prepares one stored sample (*row) of field f into dst as the field's delivered dtype and layout. On a value
 * that does not fit, *row is left at the elements that were being converted and *bad indexes the culprit. */
static bool prepare_sample(const leap__field *f, uint8_t *dst, const uint8_t **row, leap__worker *w, int64_t *bad) {
  const leap_field_spec *spec = &f->spec;
  int64_t channels = spec->nchw ? f->dims[1] : 0, hw = spec->nchw ? f->dims[2] * f->dims[3] : 0;
  if (spec->normalize) {
    if (spec->nchw)
      leap__normalize_u8_nchw((float *)dst, *row, channels, hw, &f->norm);
    else
      leap__normalize_u8((float *)dst, *row, f->row_elems, &f->norm);
    return true;
  }
  if (spec->nchw) {
    leap__nchw_to_nhwc(w->scratch, *row, channels, hw, (size_t)f->src.size);
    *row = w->scratch;
  }
  return leap__convert(dst, spec->dtype, *row, f->src, f->row_elems, bad);
}

static void report_value(round_ctx *c, int64_t j, const leap__field *f, const uint8_t *elems, int64_t sample,
                         int64_t bad) {
  leap_error e = {0};
  char value[64];
  leap__format_element(value, sizeof value, elems, f->src, bad);
  leap_error_set(&e, LEAP_ERR_VALUE, "%s: dataset '%s': %s %lld holds %s, which does not fit %s", c->L->path, f->name,
                 c->L->tokens ? "token" : "sample", (long long)(c->L->tokens ? sample + bad : sample), value,
                 leap_dtype_name(f->spec.dtype));
  record_error(c, c->n_decodes + j, &e);
}

/* Sample j of the batch: every field's row of the sample at position first_pos + j (for a token stream, the window
 * there) into the slot. */
static void gather_job(round_ctx *c, int64_t j, leap__worker *w) {
  leap_loader *L = c->L;
  int64_t pos = c->first_pos + j;
  int64_t sample = L->tokens ? leap__window_start(pos, L->n_tokens, L->fields[0].spec.window, L->config.shuffle,
                                                  L->config.seed, c->epoch)
                             : L->plan.order[pos];
  for (int i = 0; i < L->n_fields; i++) {
    const leap__field *f = &L->fields[i];
    uint8_t *dst = (uint8_t *)c->slot->data[i] + (size_t)j * f->out_bytes;
    const uint8_t *row = f->blocks[sample / f->block_rows] + (size_t)(sample % f->block_rows) * f->row_bytes;
    int64_t bad = 0;
    bool ok = L->tokens ? leap__convert(dst, f->spec.dtype, row, f->src, f->spec.window + 1, &bad)
                        : prepare_sample(f, dst, &row, w, &bad);
    if (!ok) {
      report_value(c, j, f, row, sample, bad);
      return;
    }
  }
}

static void round_job(void *p, int64_t job, int worker) {
  round_ctx *c = p;
  leap__worker *w = &c->L->workers[worker];
  if (job >= c->n_decodes) {
    gather_job(c, job - c->n_decodes, w);
    return;
  }
  const decode_job *d = &c->decodes[job];
  leap_error e = {0};
  if (leap__field_decode_chunk(c->L, d->field, d->block, d->dst, w, &e)) record_error(c, job, &e);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* the epoch plan (producer) */

static void plan_epoch(leap_loader *L, int64_t epoch, int64_t start_batch) {
  leap__plan *P = &L->plan;
  P->epoch = epoch;
  P->n_decode = P->next_decode = P->n_release = P->next_release = 0;
  if (L->tokens) return;
  leap__epoch_order(P->order, L->n_used, L->block_rows, L->group_blocks, L->config.shuffle, L->config.seed, epoch,
                    P->block_scratch);
  for (int64_t b = 0; b < L->n_blocks; b++) P->first_use[b] = P->last_use[b] = -1;
  int64_t batch = L->config.batch, first = L->rank_lo + start_batch * batch;
  int64_t end = L->rank_lo + L->batches * batch < L->rank_hi ? L->rank_lo + L->batches * batch : L->rank_hi;
  /* Forwards, a block's first appearance is its first use, so blocks join decode_order sorted by first use. */
  for (int64_t p = first; p < end; p++) {
    int64_t b = P->order[p] / L->block_rows, bi = (p - L->rank_lo) / batch;
    if (P->first_use[b] < 0) {
      P->first_use[b] = bi;
      P->decode_order[P->n_decode++] = b;
    }
    P->last_use[b] = bi;
  }
  /* Backwards, a block's first appearance is its last use: by_last_use fills from its end, sorted by last use.
   * block_scratch (free once the order is made) marks the blocks seen. */
  for (int64_t b = 0; b < L->n_blocks; b++) P->block_scratch[b] = 0;
  P->n_release = P->n_decode;
  for (int64_t p = end - 1, k = P->n_release; p >= first; p--) {
    int64_t b = P->order[p] / L->block_rows;
    if (!P->block_scratch[b]) {
      P->block_scratch[b] = 1;
      P->by_last_use[--k] = b;
    }
  }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* decoding and releasing blocks (producer) */

static uint8_t *take_buffer(leap__field *f, int64_t b) {
  if (f->arena) return f->arena + (size_t)b * f->block_bytes;
  if (f->n_spare > 0) return f->spare[--f->n_spare];
  return malloc(f->block_bytes);
}

/* Makes block b of f absent again (its buffer back to the spares, or left in the arena). */
static void drop_block(leap__field *f, int64_t b) {
  if (!f->arena) f->spare[f->n_spare++] = f->blocks[b];
  f->blocks[b] = NULL;
}

static bool push_decode(round_ctx *c, leap__field *f, int64_t b, uint8_t *dst) {
  if (c->n_decodes == c->cap_decodes) {
    int64_t cap = c->cap_decodes ? 2 * c->cap_decodes : 64;
    decode_job *p = realloc(c->decodes, (size_t)cap * sizeof *p);
    if (!p) return false;
    c->decodes = p;
    c->cap_decodes = cap;
  }
  c->decodes[c->n_decodes++] = (decode_job){f, b, dst};
  return true;
}

/* Gives block b of every streamed field that lacks it a buffer, and either reads it now (through HDF5) or adds a
 * job that decodes its raw chunk in the next round. */
static leap_status schedule_block(leap_loader *L, round_ctx *c, int64_t b, leap_error *err) {
  for (int i = 0; i < L->n_fields; i++) {
    leap__field *f = &L->fields[i];
    if (f->resident || f->blocks[b]) continue;
    uint8_t *buf = take_buffer(f, b);
    if (!buf)
      return leap_error_set(err, LEAP_ERR_MEMORY, "%s: no memory for a chunk of dataset '%s'", L->path, f->name);
    f->blocks[b] = buf;
    leap_status st = f->raw ? leap__field_lookup_chunk(L, f, b, err) : LEAP_OK;
    if (st) return st;
    if (!f->raw || f->chunks[b].missing)
      st = leap__field_read_block_h5(L, f, b, buf, err);
    else if (!push_decode(c, f, b, buf))
      st = leap_error_set(err, LEAP_ERR_MEMORY, "%s: out of memory", L->path);
    if (st) {
      drop_block(f, b);
      return st;
    }
  }
  return LEAP_OK;
}

/* Schedules blocks in first-use order while their first use is at most until_batch, at most max_blocks of them. */
static leap_status schedule_until(leap_loader *L, round_ctx *c, int64_t until_batch, int64_t max_blocks,
                                  leap_error *err) {
  leap__plan *P = &L->plan;
  for (int64_t k = 0; k < max_blocks && P->next_decode < P->n_decode; k++) {
    int64_t b = P->decode_order[P->next_decode];
    if (P->first_use[b] > until_batch) break;
    leap_status st = schedule_block(L, c, b, err);
    if (st) return st;
    P->next_decode++;
  }
  return LEAP_OK;
}

static void release_block(leap_loader *L, int64_t b) {
  for (int i = 0; i < L->n_fields; i++)
    if (!L->fields[i].keep && L->fields[i].blocks[b]) drop_block(&L->fields[i], b);
}

/* Frees the blocks of fields that do not keep theirs (at the producer's exit: a restart plans afresh). */
static void release_all(leap_loader *L) {
  for (int i = 0; i < L->n_fields; i++) {
    leap__field *f = &L->fields[i];
    for (int64_t b = 0; !f->keep && b < f->n_blocks; b++)
      if (f->blocks[b]) drop_block(f, b);
  }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* making a batch (producer) */

static leap_status run_round(leap_loader *L, round_ctx *c, leap__slot *slot, int64_t n_samples, leap_error *err) {
  c->slot = slot;
  c->n_samples = slot ? n_samples : 0;
  leap_error_clear(&c->err);
  if (c->n_decodes + c->n_samples > 0) leap__pool_run(&L->pool, round_job, c, c->n_decodes + c->n_samples);
  /* After a failure no block of the round counts as decoded, so that a seek or a later loader retries them rather
   * than deliver what a failed decode left. */
  for (int64_t k = 0; c->err.status && k < c->n_decodes; k++) drop_block(c->decodes[k].field, c->decodes[k].block);
  c->n_decodes = 0;
  if (c->err.status) return leap_error_set(err, c->err.status, "%s", c->err.message);
  return LEAP_OK;
}

static leap_status make_batch(leap_loader *L, round_ctx *c, int64_t index, leap__slot *slot, leap_error *err) {
  int64_t batch = L->config.batch, first = L->rank_lo + index * batch;
  int64_t n = L->rank_hi - first < batch ? L->rank_hi - first : batch;
  leap__plan *P = &L->plan;
  /* This batch's own blocks, if earlier rounds have not decoded them. */
  leap_status st = schedule_until(L, c, index, INT64_MAX, err);
  if (!st && c->n_decodes > 0) st = run_round(L, c, NULL, 0, err);
  if (!st) st = schedule_until(L, c, index + L->lookahead, L->decode_cap, err);
  c->first_pos = first;
  c->epoch = P->epoch;
  if (!st) st = run_round(L, c, slot, n, err);
  while (!st && P->next_release < P->n_release && P->last_use[P->by_last_use[P->next_release]] <= index)
    release_block(L, P->by_last_use[P->next_release++]);
  slot->n = n;
  return st;
}

/* Waits for the slot at the tail to be free; -1 when asked to stop. */
static int wait_free_slot(leap_loader *L) {
  pthread_mutex_lock(&L->mu);
  while (!L->stop && L->slots[L->tail].state != LEAP__SLOT_FREE) pthread_cond_wait(&L->slot_free, &L->mu);
  int slot = L->stop ? -1 : L->tail;
  pthread_mutex_unlock(&L->mu);
  return slot;
}

static void publish(leap_loader *L, int slot) {
  pthread_mutex_lock(&L->mu);
  L->slots[slot].state = LEAP__SLOT_READY;
  L->tail = (L->tail + 1) % L->n_slots;
  pthread_cond_signal(&L->slot_ready);
  pthread_mutex_unlock(&L->mu);
}

static void *producer_main(void *arg) {
  leap_loader *L = arg;
  round_ctx c = {.L = L};
  pthread_mutex_init(&c.err_mu, NULL);
  /* HDF5 keeps error stacks per thread in a thread-safe build: this silences its printing on this thread only;
   * failures become leap_errors in the batch instead. */
  bool quiet = H5Eset_auto2(H5E_DEFAULT, NULL, NULL) >= 0;
  int64_t epoch = L->start_epoch, index = L->start_batch;
  for (int slot; (slot = wait_free_slot(L)) >= 0;) {
    leap__slot *s = &L->slots[slot];
    leap_error_clear(&s->error);
    if (!quiet) leap_error_set(&s->error, LEAP_ERR_IO, "%s: cannot configure HDF5's error reporting", L->path);
    if (L->plan.epoch != epoch) plan_epoch(L, epoch, index);
    if (!s->error.status) make_batch(L, &c, index, s, &s->error);
    s->epoch = epoch;
    s->index = index;
    publish(L, slot);
    if (s->error.status) break;
    if (++index == L->batches) {
      index = 0;
      epoch++;
    }
  }
  release_all(L);
  free(c.decodes);
  pthread_mutex_destroy(&c.err_mu);
  return NULL;
}

leap_status leap__producer_start(leap_loader *L, leap_error *err) {
  L->stop = false;
  L->plan.epoch = -1;
  if (pthread_create(&L->producer, NULL, producer_main, L) != 0)
    return leap_error_set(err, LEAP_ERR_MEMORY, "%s: cannot start the prefetch thread", L->path);
  L->producer_running = true;
  return LEAP_OK;
}

void leap__producer_stop(leap_loader *L) {
  if (!L->producer_running) return;
  pthread_mutex_lock(&L->mu);
  L->stop = true;
  pthread_cond_broadcast(&L->slot_free);
  pthread_mutex_unlock(&L->mu);
  pthread_join(L->producer, NULL);
  L->producer_running = false;
}
