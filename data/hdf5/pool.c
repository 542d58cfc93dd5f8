/* The loader's fork-join pool; see pool.h. */
#include "data/hdf5/pool.h"

#include <stdlib.h>

typedef struct pool_thread_arg {
  leap__pool *pool;
  int worker;
} pool_thread_arg;

static void work(leap__pool *pool, leap__job_fn fn, void *ctx, int64_t n_jobs, int worker) {
  for (;;) {
    int64_t job = atomic_fetch_add(&pool->next_job, 1);
    if (job >= n_jobs) return;
    fn(ctx, job, worker);
  }
}

static void *pool_thread(void *p) {
  pool_thread_arg arg = *(pool_thread_arg *)p;
  free(p);
  leap__pool *pool = arg.pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&pool->mu);
  for (;;) {
    while (pool->round == seen && !pool->quit) pthread_cond_wait(&pool->wake, &pool->mu);
    if (pool->quit) break;
    seen = pool->round;
    leap__job_fn fn = pool->fn;
    void *ctx = pool->ctx;
    int64_t n_jobs = pool->n_jobs;
    pthread_mutex_unlock(&pool->mu);
    work(pool, fn, ctx, n_jobs, arg.worker);
    pthread_mutex_lock(&pool->mu);
    if (--pool->active == 0) pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->mu);
  return NULL;
}

bool leap__pool_init(leap__pool *pool, int n_threads) {
  pool->n_threads = 0;
  pool->round = 0;
  pool->active = 0;
  pool->quit = false;
  atomic_init(&pool->next_job, 0);
  pool->threads = calloc((size_t)(n_threads > 0 ? n_threads : 1), sizeof(pthread_t));
  if (!pool->threads) return false;
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
  for (int i = 0; i < n_threads; i++) {
    pool_thread_arg *arg = malloc(sizeof *arg);
    if (!arg) break;
    *arg = (pool_thread_arg){pool, i + 1};
    if (pthread_create(&pool->threads[i], NULL, pool_thread, arg) != 0) {
      free(arg);
      break;
    }
    pool->n_threads++;
  }
  if (pool->n_threads == n_threads) return true;
  leap__pool_free(pool);
  return false;
}

void leap__pool_run(leap__pool *pool, leap__job_fn fn, void *ctx, int64_t n_jobs) {
  pthread_mutex_lock(&pool->mu);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->n_jobs = n_jobs;
  atomic_store(&pool->next_job, 0);
  pool->active = pool->n_threads;
  pool->round++;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mu);
  work(pool, fn, ctx, n_jobs, 0);
  pthread_mutex_lock(&pool->mu);
  while (pool->active > 0) pthread_cond_wait(&pool->done, &pool->mu);
  pthread_mutex_unlock(&pool->mu);
}

void leap__pool_free(leap__pool *pool) {
  if (!pool->threads) return;
  pthread_mutex_lock(&pool->mu);
  pool->quit = true;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mu);
  for (int i = 0; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
  pthread_cond_destroy(&pool->done);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->mu);
  free(pool->threads);
  pool->threads = NULL;
  pool->n_threads = 0;
}
