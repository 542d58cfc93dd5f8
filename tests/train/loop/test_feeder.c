/* The feeder on the CPU (train/loop/feeder.h) is a pass-through: each batch is the source's own, split into
 * min(parts, n) parts that tile [0, n) as the trainer splits micro-batches; each part's view points into the
 * source's buffer (no copy) with the field's dtype and the part's shape, and holds the source's values; the
 * context's arenas and the device allocate nothing from step to step; a source error is returned at once; a bad
 * config is refused. Over 3, 1, 4 and 40 parts, and batches of varying sizes (feeder_source.h). */
#include <stdio.h>
#include <string.h>

#include "tests/train/loop/feeder_source.h"
#include "train/loop/feeder.h"

#define STEPS 40

static leap_runtime g_rt;

static leap_feeder *make_feeder(src *s, int64_t parts) {
  leap_feeder_config fc = {.next = src_next, .source = s, .n_fields = SRC_FIELDS, .max_rows = s->max_rows,
                           .parts = parts};
  leap_feeder *f = NULL;
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_feeder_create(&f, &g_rt, &fc, &err) == LEAP_OK, "create: %s", err.message);
  return f;
}

/* One batch: the parts tile [0, n), and each view is the source's rows in place. */
static int64_t check_batch(leap_feeder *f, leap_ctx *ctx, const src *s, const leap_batch *b, int64_t k,
                           int64_t parts) {
  int64_t want_parts = parts < b->n ? parts : b->n, bad = 0, next_lo = 0;
  if (!LEAP_TEST_ASSERT(leap_feeder_parts(f) == want_parts, "batch %lld: %lld parts (want %lld)", (long long)k,
                        (long long)leap_feeder_parts(f), (long long)want_parts))
    return 1;
  for (int64_t p = 0; p < want_parts; p++) {
    int64_t lo, hi;
    leap_feeder_part_rows(f, p, &lo, &hi);
    bad += lo != next_lo || hi <= lo || lo != b->n * p / want_parts;
    next_lo = hi;
    for (int i = 0; i < SRC_FIELDS; i++) {
      leap_tensor *t = leap_feeder_rows(f, ctx, i, p);
      const char *want_data = (const char *)b->field[i] + (size_t)lo * src_sample_bytes(s, i);
      bad += t->data != want_data || t->dtype != b->dtype[i] || t->ndim != b->ndim[i] || t->shape[0] != hi - lo;
      for (int d = 1; d < t->ndim; d++) bad += t->shape[d] != b->shape[i][d];
      bad += t->device != LEAP_CPU || t->requires_grad || t->grad || t->long_lived;
      bad += src_wrong(s, k, i, lo, hi, t->data);
    }
  }
  bad += next_lo != b->n;
  return bad;
}

static void test_pass_through(int64_t parts) {
  src s;
  if (!LEAP_TEST_ASSERT(src_init(&s, 1, 23, 3, 5, src_malloc, src_free, NULL), "source")) return;
  leap_feeder *f = make_feeder(&s, parts);
  if (!f) {
    src_destroy(&s);
    return;
  }
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 0);
  int64_t bad = 0, meta_allocs = 0, data_allocs = 0;
  leap_error err = {0};
  for (int64_t k = 0; k < STEPS; k++) {
    leap_ctx_begin_step(&ctx);
    const leap_batch *b = NULL;
    if (!LEAP_TEST_ASSERT(leap_feeder_next(f, &b, &err) == LEAP_OK, "next %lld: %s", (long long)k, err.message)) break;
    bad += b->n != src_rows(&s, k) || b->epoch != k / SRC_BATCHES_PER_EPOCH;
    bad += b->field[0] != s.buf[k % 2][0];
    bad += check_batch(f, &ctx, &s, b, k, parts);
    if (k == 2) meta_allocs = ctx.meta.system_allocs, data_allocs = ctx.data.system_allocs;
  }
  LEAP_TEST_ASSERT(bad == 0, "%lld parts: %lld mismatches between the views and the source", (long long)parts,
                   (long long)bad);
  LEAP_TEST_ASSERT(ctx.meta.system_allocs == meta_allocs && ctx.data.system_allocs == data_allocs,
                   "%lld parts: the arenas grew in the steady state (%lld -> %lld, %lld -> %lld)", (long long)parts,
                   (long long)meta_allocs, (long long)ctx.meta.system_allocs, (long long)data_allocs,
                   (long long)ctx.data.system_allocs);
  LEAP_TEST_ASSERT(leap_feeder_device_allocs(f) == 0 && leap_feeder_copy_stream(f) == NULL,
                   "a CPU feeder allocated device buffers or a stream");
  leap_ctx_free(&ctx);
  leap_feeder_destroy(f);
  src_destroy(&s);
}

static void test_source_error(void) {
  src s;
  if (!LEAP_TEST_ASSERT(src_init(&s, 1, 9, 2, 2, src_malloc, src_free, NULL), "source")) return;
  s.fail_at = 3;
  leap_feeder *f = make_feeder(&s, 2);
  leap_error err = {0};
  const leap_batch *b = NULL;
  for (int k = 0; f && k < 3; k++)
    LEAP_TEST_ASSERT(leap_feeder_next(f, &b, &err) == LEAP_OK, "next %d: %s", k, err.message);
  for (int k = 0; f && k < 2; k++) {
    memset(&err, 0, sizeof err);
    LEAP_TEST_ASSERT(leap_feeder_next(f, &b, &err) == LEAP_ERR_IO && strstr(err.message, "batch 3") && !b,
                     "the source's error at batch 3: got '%s'", err.message);
  }
  leap_feeder_destroy(f);
  src_destroy(&s);
}

static void test_config_errors(void) {
  src s;
  src_init(&s, 1, 9, 2, 2, src_malloc, src_free, NULL);
  leap_feeder_config good = {.next = src_next, .source = &s, .n_fields = SRC_FIELDS, .max_rows = 9, .parts = 2};
  leap_feeder_config bad[4] = {good, good, good, good};
  bad[0].next = NULL, bad[1].n_fields = 0, bad[2].max_rows = 0, bad[3].parts = 0;
  for (int i = 0; i < 4; i++) {
    leap_feeder *f = (leap_feeder *)&s;
    leap_error err = {0};
    LEAP_TEST_ASSERT(leap_feeder_create(&f, &g_rt, &bad[i], &err) == LEAP_ERR_CONFIG && !f &&
                         strstr(err.message, "feeder"), "bad config %d: '%s'", i, err.message);
  }
  LEAP_TEST_ASSERT(leap_feeder_held_batches(&g_rt) == 1, "a CPU feeder holds one batch");
  src_destroy(&s);
}

int main(void) {
  leap_error err = {0};
  if (leap_runtime_init(&g_rt, LEAP_CPU, 1, &err)) return fprintf(stderr, "%s\n", err.message), 1;
  static const int64_t parts[] = {3, 1, 4, 40};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) test_pass_through(parts[i]);
  test_source_error();
  test_config_errors();
  leap_runtime_free(&g_rt);
  return leap_test_finish();
}
