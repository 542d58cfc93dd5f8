/* W6 of the benchmark table: the HDF5 loader delivering shuffled batches of 64 normalised f32 images (64x64x3 u8 in
 * the file, chunks of 64 images, gzip level 4) with their f32 targets, from W6's file of 20,000 images
 * (data/hdf5/w6_data.h; made under $LEAP_BENCH_DIR or /tmp the first time). One run() is one leap_loader_next: the
 * time the training loop would wait for its next batch, with the loader's threads (rt->threads of them: the
 * prefetch thread and its workers) doing the reading, inflating and normalising behind it.
 *
 * LEAP_W6_EPOCH picks the epoch timed:
 *   later (default)  setup reads one whole epoch first (untimed), so the decoded images are in the loader's cache
 *                    and run() times later epochs;
 *   first            every batch comes from a first epoch: when the loader rolls into its second epoch, run() closes
 *                    and reopens it (that one call times a reopen and is an outlier that the median ignores).
 * With LEAP_W6_VERBOSE=1, teardown also prints each epoch's wall-clock rate (its samples over the time from its
 * first batch's request, or the open, to its last batch) on stderr: the figure without the median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/core/runtime.h"

void *leap__bench_w6_setup(leap_runtime *rt);
void leap__bench_w6_run(void *state);
void leap__bench_w6_teardown(void *state);

#ifndef LEAP_WITH_HDF5

void *leap__bench_w6_setup(leap_runtime *rt) {
  (void)rt;
  fprintf(stderr, "leap: bench: W6 needs the HDF5 loader (this build has LEAP_HDF5 off)\n");
  return NULL;
}
void leap__bench_w6_run(void *state) { (void)state; }
void leap__bench_w6_teardown(void *state) { (void)state; }

#else

#include "data/hdf5/loader.h"
#include "data/hdf5/w6_data.h"

#define W6_BATCH 64
#define W6_SEED 1 /* tools/bench_w6_h5py.py reads the same batches */
#define W6_MAX_EPOCHS 64

typedef struct w6_state {
  char path[4096];
  leap_loader_config config;
  leap_loader *loader;
  bool first_only, verbose;
  double epoch_start, epoch_seconds[W6_MAX_EPOCHS];
  int64_t epoch_samples[W6_MAX_EPOCHS];
  int n_epochs; /* epochs finished */
} w6_state;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool w6_open(w6_state *s) {
  leap_error err = {0};
  s->epoch_start = now_seconds();
  if (!leap_loader_open(&s->loader, &s->config, &err)) return true;
  fprintf(stderr, "leap: bench: W6: %s\n", err.message);
  return false;
}

/* One batch; counts epochs. False on an error (printed). */
static bool w6_next(w6_state *s, leap_batch *batch) {
  leap_error err = {0};
  if (leap_loader_next(s->loader, batch, &err)) {
    fprintf(stderr, "leap: bench: W6: %s\n", err.message);
    return false;
  }
  if (s->n_epochs < W6_MAX_EPOCHS) s->epoch_samples[s->n_epochs] += batch->n;
  if (batch->index_in_epoch == leap_loader_batches_per_epoch(s->loader) - 1 && s->n_epochs < W6_MAX_EPOCHS) {
    double t = now_seconds();
    s->epoch_seconds[s->n_epochs++] = t - s->epoch_start;
    s->epoch_start = t;
  }
  return true;
}

void *leap__bench_w6_setup(leap_runtime *rt) {
  w6_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  if (!s || leap__w6_ensure_file(s->path, sizeof s->path, &err)) {
    fprintf(stderr, "leap: bench: W6: %s\n", err.message);
    free(s);
    return NULL;
  }
  const char *mode = getenv("LEAP_W6_EPOCH"), *verbose = getenv("LEAP_W6_VERBOSE");
  s->first_only = mode && !strcmp(mode, "first");
  s->verbose = verbose && !strcmp(verbose, "1");
  leap_loader_config *c = &s->config;
  *c = leap_loader_config_default();
  c->path = s->path;
  c->n_fields = 2;
  c->fields[0] = (leap_field_spec){.dataset = "images",
                                   .dtype = LEAP_F32,
                                   .normalize = true,
                                   .mean = {0.5f, 0.5f, 0.5f},
                                   .std = {0.25f, 0.25f, 0.25f}};
  c->fields[1] = (leap_field_spec){.dataset = "targets", .dtype = LEAP_F32};
  c->batch = W6_BATCH;
  c->seed = W6_SEED;
  c->threads = rt->threads > 0 ? rt->threads : 1;
  bool ok = w6_open(s);
  leap_batch batch;
  for (int64_t b = 0; ok && !s->first_only && b < leap_loader_batches_per_epoch(s->loader); b++)
    ok = w6_next(s, &batch);
  if (ok) return s;
  leap__bench_w6_teardown(s);
  return NULL;
}

void leap__bench_w6_run(void *state) {
  w6_state *s = state;
  leap_batch batch;
  if (!w6_next(s, &batch)) abort();
  if (s->first_only && batch.epoch > 0) {
    leap_loader_close(s->loader);
    s->epoch_samples[s->n_epochs < W6_MAX_EPOCHS ? s->n_epochs : 0] = 0;
    if (!w6_open(s) || !w6_next(s, &batch)) abort();
  }
}

void leap__bench_w6_teardown(void *state) {
  w6_state *s = state;
  if (!s) return;
  leap_loader_close(s->loader);
  for (int e = 0; s->verbose && e < s->n_epochs; e++)
    fprintf(stderr, "W6 %s epoch %d: %lld samples in %.3f s: %.0f samples/s (wall clock)\n",
            s->first_only ? "first"
            : e == 0      ? "first (warm-up)"
                          : "later",
            e, (long long)s->epoch_samples[e], s->epoch_seconds[e], (double)s->epoch_samples[e] / s->epoch_seconds[e]);
  free(s);
}

#endif
