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
  const leap_host_array *input;
  const leap_host_array *next_input[LEAP_CFG_MAX_STAGES]; /* chain k+1's true input: the hand-off's format */
  leap_ctx ctx;
  void *host;
  size_t host_bytes;
} bench;

/* Stage k's output y handed to stage k+1 through the host; NULL with err set on failure. */
static leap_tensor *hand_off(bench *b, int k, const leap_tensor *y, leap_error *err) {
  const leap_host_array *tmpl = b->next_input[k];
  leap_host_array h = {y->dtype, y->ndim, {0}, b->host};
  memcpy(h.shape, y->shape, sizeof h.shape);
  int64_t rows = y->shape[0];
  if (y->dtype == tmpl->dtype) {
    h.ndim = tmpl->ndim;
    memcpy(h.shape, tmpl->shape, sizeof h.shape);
    h.shape[0] = rows;
    return leap_host_array_rows(&b->ctx, &h, 0, rows);
  }
  leap_host_array decoded;
  if (leap_task_decode(&decoded, &h, tmpl, b->chains[k]->target, err)) return NULL;
  leap_tensor *x = leap_host_array_rows(&b->ctx, &decoded, 0, rows);
  leap_host_array_free(&decoded);
  return x;
}

/* One pass of samples [begin, end) through every chain, ending with the predictions on the host. */
static leap_status run_once(bench *b, int64_t begin, int64_t end, leap_error *err) {
  leap_ctx_begin_step(&b->ctx);
  leap_tensor *x = leap_host_array_rows(&b->ctx, b->input, begin, end);
  for (int k = 0; k < b->n_chains; k++) {
    leap_tensor *y = leap_chain_forward(b->chains[k], &b->ctx, x);
    if (!leap_ctx_ok(&b->ctx))
      return leap_error_set(err, b->ctx.err.status, "%s: %s", b->chains[k]->name, b->ctx.err.message);
    size_t bytes = leap_tensor_bytes(y);
    if (bytes > b->host_bytes) {
      void *grown = realloc(b->host, bytes);
      if (!grown) return leap_error_set(err, LEAP_ERR_MEMORY, "compare: no memory for a hand-off");
      b->host = grown;
      b->host_bytes = bytes;
    }
    leap_tensor_to_host(b->host, y);
    if (k + 1 < b->n_chains && !(x = hand_off(b, k, y, err))) return err->status;
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
  int64_t n_test = b->input->shape[0];
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
  int64_t n = batch < b->input->shape[0] ? batch : b->input->shape[0];
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

leap_status leap__compare_latency(leap_runtime *rt, const leap_chain *const *chains, int n_chains,
                                  leap_compare_fields *test, int n_samples, int64_t batch, double *latency_ms,
                                  double *throughput, leap_error *err) {
  bench b;
  memset(&b, 0, sizeof b);
  b.chains = chains;
  b.n_chains = n_chains;
  if (leap__compare_fields_get(test, chains[0]->input, &b.input, err)) return err->status;
  for (int k = 0; k + 1 < n_chains; k++)
    if (leap__compare_fields_get(test, chains[k + 1]->input, &b.next_input[k], err)) return err->status;
  if (b.input->shape[0] < 1) return leap_error_set(err, LEAP_ERR_VALUE, "compare: no test samples to time");
  leap_ctx_init(&b.ctx, rt, 0);
  b.ctx.grad_enabled = false;
  b.ctx.training = false;
  leap_status st = time_batch1(&b, n_samples > 0 ? n_samples : 1, latency_ms, err);
  if (st == LEAP_OK) st = time_throughput(&b, batch, throughput, err);
  leap_ctx_free(&b.ctx);
  free(b.host);
  return st;
}
