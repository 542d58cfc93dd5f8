/* A small fork-join pool of POSIX threads for the loader (not OpenMP: the loader runs beside the training loop's
 * OpenMP threads and must not share or resize their team).
 *
 * leap__pool_run hands out jobs 0..n_jobs-1 one at a time (an atomic counter, so that uneven jobs balance) to the
 * pool's threads and to the calling thread, and returns when all are done. Everything a job writes is visible to
 * the caller after it returns (the pool's mutex orders it). */
#ifndef LEAP_DATA_HDF5_POOL_H
#define LEAP_DATA_HDF5_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* job is the job number; worker is 0 for the calling thread and 1..n_threads for the pool's threads, so that a
 * job can use per-worker scratch. */
typedef void (*leap__job_fn)(void *ctx, int64_t job, int worker);

typedef struct leap__pool {
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_t *threads;
  int n_threads;  /* threads started (besides the caller) */
  uint64_t round; /* bumped by each leap__pool_run; a thread works once per round */
  int active;     /* pool threads still working on the current round */
  bool quit;
  leap__job_fn fn;
  void *ctx;
  int64_t n_jobs;
  atomic_int_fast64_t next_job;
} leap__pool;

/* Starts n_threads threads (0 is fine: the caller then does every job). Returns false if a thread cannot be
 * started (those that were are stopped again). */
bool leap__pool_init(leap__pool *pool, int n_threads);
void leap__pool_run(leap__pool *pool, leap__job_fn fn, void *ctx, int64_t n_jobs);
/* Stops and joins the threads. */
void leap__pool_free(leap__pool *pool);

#endif
