/* The loader's batch-buffer allocator and held batches (docs/data.md, "Pinned prefetch"): with a counting
 * allocator every buffer handed to the caller comes from it ((prefetch + held_batches) x fields of them, made at
 * open and all freed at close, none in between), and every batch's bytes are identical to the default path's, over
 * several epochs, with one and two batches held, streamed and resident fields. With two held, the previous batch's
 * bytes stay intact after the next call. A seek lets go of the held batches; a zeroed held_batches means one; the
 * config's checks name the new fields; a failing allocator is an out-of-memory error that leaks nothing. */
#include <stdio.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_HDF5
int main(void) {
  puts("skipped: built without HDF5");
  return LEAP_TEST_SKIP_CODE;
}
#else

#include "tests/data/loader_fixtures.h"

#define EPOCHS 3
#define MAX_LIVE 64

/* A counting allocator: what it handed out and what came back. */
typedef struct counter {
  int64_t allocs, frees, live_bytes;
  void *live[MAX_LIVE];
  size_t live_size[MAX_LIVE];
} counter;

static void *count_alloc(size_t bytes, void *ctx) {
  counter *c = ctx;
  void *p = malloc(bytes);
  for (int i = 0; p && i < MAX_LIVE; i++)
    if (!c->live[i]) {
      c->live[i] = p, c->live_size[i] = bytes;
      break;
    }
  c->allocs++;
  c->live_bytes += (int64_t)bytes;
  return p;
}

static void count_free(void *p, void *ctx) {
  counter *c = ctx;
  for (int i = 0; i < MAX_LIVE; i++)
    if (c->live[i] == p) {
      c->live_bytes -= (int64_t)c->live_size[i];
      c->live[i] = NULL;
    }
  c->frees++;
  free(p);
}

static bool from_counter(const counter *c, const void *p) {
  for (int i = 0; i < MAX_LIVE; i++)
    if (c->live[i] && (const char *)p >= (const char *)c->live[i] &&
        (const char *)p < (const char *)c->live[i] + c->live_size[i])
      return true;
  return false;
}

static leap_loader_config ids_config(bool streamed, int prefetch) {
  static const char *datasets[3] = {"id", "img", "x"};
  leap_loader_config c = fix_config(FIX_IDS, "", 3, datasets);
  c.fields[0].dtype = LEAP_I32;
  c.fields[1].normalize = true;
  c.batch = 37;
  c.seed = 5;
  c.prefetch = prefetch;
  c.threads = 2;
  c.shuffle_buffer = 64;
  c.resident_bytes = streamed ? 0 : c.resident_bytes;
  return c;
}

static size_t batch_bytes(const leap_batch *b, int field) {
  return (size_t)leap_shape_numel(b->ndim[field], b->shape[field]) * leap_dtype_size(b->dtype[field]);
}

/* Reads EPOCHS epochs with the default allocator into one flat byte record (fields one after the other, batch by
 * batch); *len gets its size. */
static unsigned char *read_reference(const leap_loader_config *c, size_t *len) {
  leap_loader *L = NULL;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_loader_open(&L, c, &err) == LEAP_OK, "open: %s", err.message)) return NULL;
  int64_t batches = leap_loader_batches_per_epoch(L) * EPOCHS;
  size_t cap = (size_t)batches * (size_t)c->batch * 4096, used = 0;
  unsigned char *all = malloc(cap);
  for (int64_t k = 0; k < batches && all; k++) {
    leap_batch b;
    if (!LEAP_TEST_ASSERT(leap_loader_next(L, &b, &err) == LEAP_OK, "next: %s", err.message)) break;
    for (int i = 0; i < c->n_fields; i++) {
      size_t n = batch_bytes(&b, i);
      if (!LEAP_TEST_ASSERT(used + n <= cap, "reference record too small")) break;
      memcpy(all + used, b.field[i], n);
      used += n;
    }
  }
  leap_loader_close(L);
  *len = used;
  return all;
}

/* The same epochs through a counting allocator and `held` batches held: bytes equal to the reference; with two held,
 * the previous batch still holds its bytes after the next call. */
static void check_counted(const char *what, leap_loader_config c, int held, const unsigned char *want, size_t len) {
  counter cnt = {0};
  c.host_alloc = count_alloc;
  c.host_free = count_free;
  c.host_ctx = &cnt;
  c.held_batches = held;
  leap_loader *L = NULL;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "%s: open: %s", what, err.message)) return;
  int64_t expected = (int64_t)(c.prefetch + held) * c.n_fields;
  LEAP_TEST_ASSERT(cnt.allocs == expected && cnt.frees == 0, "%s: %lld buffers allocated at open (want %lld)", what,
                   (long long)cnt.allocs, (long long)expected);
  int64_t batches = leap_loader_batches_per_epoch(L) * EPOCHS;
  size_t used = 0, prev_at = 0;
  leap_batch prev = {0};
  int64_t wrong = 0, foreign = 0, stale = 0;
  for (int64_t k = 0; k < batches; k++) {
    leap_batch b;
    if (!LEAP_TEST_ASSERT(leap_loader_next(L, &b, &err) == LEAP_OK, "%s: next: %s", what, err.message)) break;
    size_t at = prev_at;
    for (int i = 0; held == 2 && k > 0 && i < c.n_fields; i++) {
      size_t n = batch_bytes(&prev, i);
      stale += memcmp(prev.field[i], want + at, n) != 0;
      at += n;
    }
    prev = b, prev_at = used;
    for (int i = 0; i < c.n_fields; i++) {
      size_t n = batch_bytes(&b, i);
      foreign += !from_counter(&cnt, b.field[i]);
      wrong += used + n > len || memcmp(b.field[i], want + used, n) != 0;
      used += n;
    }
  }
  LEAP_TEST_ASSERT(used == len, "%s: %zu bytes read, the default path read %zu", what, used, len);
  LEAP_TEST_ASSERT(wrong == 0, "%s: %lld batch fields differ from the default allocator's", what, (long long)wrong);
  LEAP_TEST_ASSERT(foreign == 0, "%s: %lld batch fields not from the allocator", what, (long long)foreign);
  LEAP_TEST_ASSERT(stale == 0, "%s: %lld held batches changed after the next call", what, (long long)stale);
  LEAP_TEST_ASSERT(cnt.allocs == expected, "%s: %lld allocations after reading (want %lld)", what,
                   (long long)cnt.allocs, (long long)expected);
  leap_loader_close(L);
  LEAP_TEST_ASSERT(cnt.frees == cnt.allocs && cnt.live_bytes == 0, "%s: %lld of %lld buffers freed at close", what,
                   (long long)cnt.frees, (long long)cnt.allocs);
}

static void test_allocator_and_held(void) {
  for (int streamed = 0; streamed < 2; streamed++)
    for (int prefetch = 1; prefetch <= 3; prefetch += 2) {
      leap_loader_config c = ids_config(streamed, prefetch);
      size_t len = 0;
      unsigned char *want = read_reference(&c, &len);
      if (!want) continue;
      for (int held = 1; held <= 2; held++) {
        char what[96];
        snprintf(what, sizeof what, "%s, prefetch %d, %d held", streamed ? "streamed" : "resident", prefetch, held);
        check_counted(what, c, held, want, len);
      }
      free(want);
    }
}

/* A seek lets go of every held batch; reading on after it takes no new buffers. */
static void test_seek_with_held(void) {
  counter cnt = {0};
  leap_loader_config c = ids_config(true, 2);
  c.host_alloc = count_alloc, c.host_free = count_free, c.host_ctx = &cnt, c.held_batches = 2;
  leap_loader *L = NULL;
  leap_error err = {0};
  if (!LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "open: %s", err.message)) return;
  leap_batch b;
  for (int k = 0; k < 3; k++) LEAP_TEST_ASSERT(leap_loader_next(L, &b, &err) == LEAP_OK, "next: %s", err.message);
  LEAP_TEST_ASSERT(leap_loader_seek(L, 1, 2, &err) == LEAP_OK, "seek: %s", err.message);
  for (int k = 0; k < 5; k++) {
    LEAP_TEST_ASSERT(leap_loader_next(L, &b, &err) == LEAP_OK, "next after seek: %s", err.message);
    LEAP_TEST_ASSERT(b.epoch == 1 + (2 + k) / leap_loader_batches_per_epoch(L), "epoch %lld after the seek",
                     (long long)b.epoch);
  }
  LEAP_TEST_ASSERT(cnt.allocs == (2 + 2) * 3, "%lld allocations", (long long)cnt.allocs);
  leap_loader_close(L);
  LEAP_TEST_ASSERT(cnt.frees == cnt.allocs, "%lld of %lld freed", (long long)cnt.frees, (long long)cnt.allocs);
}

/* A failing allocator is an out-of-memory error naming the file, and everything allocated is freed again. */
static void *fail_third(size_t bytes, void *ctx) {
  counter *c = ctx;
  if (c->allocs >= 2) return NULL;
  return count_alloc(bytes, ctx);
}

static void test_config_errors(void) {
  leap_error err = {0};
  leap_loader *L = NULL;
  leap_loader_config c = ids_config(false, 1);
  c.held_batches = -1;
  LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_ERR_CONFIG && strstr(err.message, "held_batches"),
                   "held_batches -1: %s", err.message);
  c.held_batches = 9;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_ERR_CONFIG && strstr(err.message, "held_batches"),
                   "held_batches 9: %s", err.message);
  c.held_batches = 0;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_OK, "held_batches 0 (one): %s", err.message);
  leap_loader_close(L);
  L = NULL;
  c.held_batches = 1;
  c.host_alloc = count_alloc;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_ERR_CONFIG && strstr(err.message, "host_free"),
                   "host_alloc alone: %s", err.message);
  counter cnt = {0};
  c.host_alloc = fail_third, c.host_free = count_free, c.host_ctx = &cnt;
  leap_error_clear(&err);
  LEAP_TEST_ASSERT(leap_loader_open(&L, &c, &err) == LEAP_ERR_MEMORY && strstr(err.message, FIX_IDS) && !L,
                   "failing allocator: %s", err.message);
  LEAP_TEST_ASSERT(cnt.frees == cnt.allocs && cnt.allocs == 2, "failing allocator: %lld of %lld freed",
                   (long long)cnt.frees, (long long)cnt.allocs);
}

int main(void) {
  test_allocator_and_held();
  test_seek_with_held();
  test_config_errors();
  return leap_test_finish();
}
#endif
