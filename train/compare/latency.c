/* Inference speed as a user of the trained model sees it: one sample at a time (median latency over many
 * samples) and a full batch (throughput). A pipeline runs each stage, hands its predictions over through the host
 * (decoding logits into tokens where the next stage reads tokens) and feeds the next stage, exactly as
 * leap__compare_eval_pipeline chains them; the final predictions are copied to the host too. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/compare/compare_internal.h"

#define WARMUP_SAMPLES 3
#define MIN_THROUGHPUT_REPS 3
#define MAX_THROUGHPUT_REPS 20
#define THROUGHPUT_SECONDS 1.0

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench {
  const leap_chain *const *chains;
  int n_chains;
  /* Chain k's input i: the test array inputs[k][i], except the one named chains[k-1]->target (slot[k], -1 for
   * none), which is chain k-1's output handed over. */
  const leap_host_array *inputs[LEAP_CFG_MAX_STAGES][LEAP_CHAIN_MAX_INPUTS];
  int slot[LEAP_CFG_MAX_STAGES];
  const leap_host_array *handoff_format[LEAP_CFG_MAX_STAGES]; /* chain k's target field: the hand-off's format */
  int64_t n_test;
  leap_ctx ctx;
  void *host;
  size_t host_bytes;
} bench;

/* Stage k's output y handed to stage k+1 through the host; NULL with err set on failure. */
static leap_tensor *hand_off(bench *b, int k, const leap_tensor *y, leap_error *err) {
  const leap_host_array *tmpl = b->handoff_format[k];
  leap_host_array h = {y->dtype, y->ndim, {0}, b->host};
  memcpy(h.shape, y->shape, sizeof h.shape);
  int64_t rows = y->shape[0];
  if (y->dtype == tmpl->dtype) {
    h.ndim = tmpl->ndim;
    memcpy(h.shape, tmpl->shape, sizeof h.shape);
    h.shape[0] = rows;
    return leap_host_array_rows(&b->ctx, &h, 0, rows);
  }
  /* Decoding reads the format's dtype and per-sample shape; its rows are this batch's. */
  leap_host_array format = *tmpl, decoded;
  format.shape[0] = rows;
  if (leap_task_decode(&decoded, &h, &format, b->chains[k]->target, err)) return NULL;
  leap_tensor *x = leap_host_array_rows(&b->ctx, &decoded, 0, rows);
  leap_host_array_free(&decoded);
  return x;
}

/* Keeps y's values on the host (b->host), growing it as needed. */
static leap_status to_host(bench *b, const leap_tensor *y, leap_error *err) {
  size_t bytes = leap_tensor_bytes(y);
  if (bytes > b->host_bytes) {
    void *grown = realloc(b->host, bytes);
    if (!grown) return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for a hand-off");
    b->host = grown;
    b->host_bytes = bytes;
  }
  leap_tensor_to_host(b->host, y);
  return LEAP_OK;
}

/* One pass of samples [begin, end) through every chain, ending with the predictions on the host. */
static leap_status run_once(bench *b, int64_t begin, int64_t end, leap_error *err) {
  leap_ctx_begin_step(&b->ctx);
  leap_tensor *handed = NULL;
  for (int k = 0; k < b->n_chains; k++) {
    const leap_chain *c = b->chains[k];
    leap_tensor *xs[LEAP_CHAIN_MAX_INPUTS];
    for (int i = 0; i < c->n_inputs; i++)
      xs[i] = i == b->slot[k] ? handed : leap_host_array_rows(&b->ctx, b->inputs[k][i], begin, end);
    leap_tensor *y = leap_chain_forward(c, &b->ctx, xs);
    if (!leap_ctx_ok(&b->ctx)) return leap_error_set(err, b->ctx.err.status, "%s: %s", c->name, b->ctx.err.message);
    if (to_host(b, y, err)) return err->status;
    if (k + 1 < b->n_chains && !(handed = hand_off(b, k, y, err))) return err->status;
  }
  return LEAP_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static leap_status time_batch1(bench *b, int n_samples, double *latency_ms, leap_error *err) {
  int64_t n_test = b->n_test;
  double *times = malloc((size_t)n_samples * sizeof *times);
  if (!times) return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for timings");
  leap_status st = LEAP_OK;
  for (int i = 0; i < WARMUP_SAMPLES && st == LEAP_OK; i++) st = run_once(b, i % n_test, i % n_test + 1, err);
  for (int i = 0; i < n_samples && st == LEAP_OK; i++) {
    double t0 = now_seconds();
    st = run_once(b, i % n_test, i % n_test + 1, err);
    times[i] = now_seconds() - t0;
  }
  if (st == LEAP_OK) *latency_ms = 1e3 * median(times, n_samples);
  free(times);
  return st;
}

static leap_status time_throughput(bench *b, int64_t batch, double *throughput, leap_error *err) {
  int64_t n = batch < b->n_test ? batch : b->n_test;
  double times[MAX_THROUGHPUT_REPS], total = 0;
  int reps = 0;
  leap_status st = run_once(b, 0, n, err);
  while (st == LEAP_OK && reps < MAX_THROUGHPUT_REPS && (reps < MIN_THROUGHPUT_REPS || total < THROUGHPUT_SECONDS)) {
    double t0 = now_seconds();
    st = run_once(b, 0, n, err);
    times[reps] = now_seconds() - t0;
    total += times[reps++];
  }
  if (st == LEAP_OK) *throughput = (double)n / median(times, reps);
  return st;
}

/* The test arrays each chain reads and where the hand-offs go. */
static leap_status bench_inputs(bench *b, leap_compare_fields *test, leap_error *err) {
  for (int k = 0; k < b->n_chains; k++) {
    const leap_chain *c = b->chains[k];
    const char *handed = k > 0 ? b->chains[k - 1]->target : NULL;
    b->slot[k] = -1;
    for (int i = 0; i < c->n_inputs; i++) {
      if (handed && !strcmp(c->inputs[i], handed)) {
        b->slot[k] = i;
        continue;
      }
      if (leap__compare_fields_get(test, c->inputs[i], &b->inputs[k][i], err)) return err->status;
      b->n_test = b->inputs[k][i]->shape[0];
    }
    if (k > 0 && b->slot[k] < 0)
      return leap_error_set(err, LEAP_ERR_CONFIG, "compare: %s does not read %s's output '%s'", c->name,
                            b->chains[k - 1]->name, handed);
    if (k + 1 < b->n_chains && leap__compare_fields_get(test, c->target, &b->handoff_format[k], err))
      return err->status;
  }
  if (b->n_test < 1) return leap_error_set(err, LEAP_ERR_VALUE, "compare: no test samples to time");
  return LEAP_OK;
}

leap_status leap__compare_latency(leap_runtime *rt, const leap_chain *const *chains, int n_chains,
                                  leap_compare_fields *test, int n_samples, int64_t batch, double *latency_ms,
                                  double *throughput, leap_error *err) {
  bench b;
  memset(&b, 0, sizeof b);
  b.chains = chains;
  b.n_chains = n_chains;
  if (bench_inputs(&b, test, err)) return err->status;
  leap_ctx_init(&b.ctx, rt, 0);
  leap_ctx_set_precision(&b.ctx, chains[0]->act);
  b.ctx.grad_enabled = false;
  b.ctx.training = false;
  leap_status st = time_batch1(&b, n_samples > 0 ? n_samples : 1, latency_ms, err);
  if (st == LEAP_OK) st = time_throughput(&b, batch, throughput, err);
  leap_ctx_free(&b.ctx);
  free(b.host);
  return st;
}
