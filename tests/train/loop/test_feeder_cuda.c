/* The feeder on a GPU (train/loop/feeder.h), with a synthetic source in pinned memory holding two batches
 * (feeder_source.h), batches of varying sizes split into 3 parts, over 16 steps (4 batches an "epoch"):
 *   - every part of every field arrives on the device identical to the source's batch, 256-byte aligned; each step
 *     reads its views back at its very end, so a copy of a later batch that overwrote the buffer too early (before
 *     the step that reads it finished) shows up as wrong values;
 *   - the copy of batch i+1 overlaps step i: each step is ~10 large fp32 products (tens of milliseconds) on the
 *     compute stream; an event recorded on the feeder's copy stream right after leap_feeder_next must complete
 *     before the step's last event (a copy queued on the compute stream would complete after it);
 *   - leap_feeder_next returns while the compute stream is still busy with the previous step: it takes under a
 *     quarter of a step on the host, the source's filling of the next batch included (a synchronous or pageable
 *     copy would wait for that step);
 *   - the source's buffers are page-locked;
 *   - no device memory is allocated after the first batch: the feeder's count of device buffers stays 2 per field,
 *     the device's free memory does not change, and the context's arenas do not grow.
 * Skipped without a CUDA device. */
#include <stdio.h>
#include <time.h>

#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_CUDA
int main(void) {
  puts("skipped: built without CUDA");
  return LEAP_TEST_SKIP_CODE;
}
#else
#include <cuda_runtime.h>

#include "kernels/blas/blas_cuda.h"
#include "tests/train/loop/feeder_source.h"
#include "train/core/cuda_state.h"
#include "train/core/device_memory.h"
#include "train/core/host_memory.h"
#include "train/loop/feeder.h"

#define STEPS 16
#define PARTS 3
#define MAX_ROWS 96
#define F0_H 64
#define F0_W 64 /* 16 KiB samples: 1.5 MiB batches, cheap for the source to fill and quick to copy */
#define GEMM 4096
#define GEMMS_PER_STEP 10
#define WARM_STEPS 3

#define CK(call)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));      \
      exit(1);                                                                                    \
    }                                                                                             \
  } while (0)

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* One step's record: what it read back and when its events fired. */
typedef struct step_rec {
  int64_t k, n;
  unsigned char *readback; /* pinned: every part of every field, in order */
  cudaEvent_t start, end, copy;
  double host_ms; /* leap_feeder_next on the host */
} step_rec;

typedef struct fixture {
  leap_runtime rt;
  src s;
  leap_feeder *f;
  leap_ctx ctx;
  void *a, *b, *c; /* the products' operands */
  step_rec rec[2];
  size_t free_at_warm;
  int64_t meta_at_warm, data_at_warm;
} fixture;

/* The step's work: products on the compute stream, then every view copied back (the last reads of the step). */
static void run_step(fixture *x, step_rec *r, const leap_batch *b) {
  leap_cuda_stream stream = x->rt.cuda->stream;
  CK(cudaEventRecord(r->start, stream));
  for (int g = 0; g < GEMMS_PER_STEP; g++)
    leap_gemm_cuda(x->rt.cuda->blas, false, false, 1, GEMM, GEMM, GEMM, 1.0f, x->a, GEMM, 0, x->b, GEMM, 0, 0.0f,
                   x->c, GEMM, 0, LEAP_F32, LEAP_F32);
  size_t at = 0;
  int64_t misaligned = 0;
  for (int64_t p = 0; p < leap_feeder_parts(x->f); p++)
    for (int i = 0; i < SRC_FIELDS; i++) {
      leap_tensor *t = leap_feeder_rows(x->f, &x->ctx, i, p);
      misaligned += (uintptr_t)t->data % 256 != 0 || t->device != LEAP_CUDA;
      size_t bytes = leap_tensor_bytes(t);
      CK(cudaMemcpyAsync(r->readback + at, t->data, bytes, cudaMemcpyDeviceToHost, stream));
      at += bytes;
    }
  LEAP_TEST_ASSERT(misaligned == 0, "batch %lld: %lld views not 256-byte aligned device memory", (long long)r->k,
                   (long long)misaligned);
  CK(cudaEventRecord(r->end, stream));
  CK(cudaEventRecord(r->copy, leap_feeder_copy_stream(x->f)));
  r->n = b->n;
}

/* A finished step: its values, and from the warm steps on its timing. */
static void check_step(fixture *x, step_rec *r) {
  CK(cudaEventSynchronize(r->end));
  CK(cudaEventSynchronize(r->copy));
  int64_t wrong = 0;
  size_t at = 0;
  int64_t parts = PARTS < r->n ? PARTS : r->n;
  for (int64_t p = 0; p < parts; p++) {
    int64_t lo = r->n * p / parts, hi = r->n * (p + 1) / parts;
    for (int i = 0; i < SRC_FIELDS; i++) {
      wrong += src_wrong(&x->s, r->k, i, lo, hi, r->readback + at);
      at += (size_t)(hi - lo) * src_sample_bytes(&x->s, i);
    }
  }
  LEAP_TEST_ASSERT(wrong == 0, "batch %lld: %lld device values differ from the source's", (long long)r->k,
                   (long long)wrong);
  if (r->k < WARM_STEPS) return;
  float step_ms = 0, copy_ms = 0;
  CK(cudaEventElapsedTime(&step_ms, r->start, r->end));
  CK(cudaEventElapsedTime(&copy_ms, r->start, r->copy));
  LEAP_TEST_ASSERT(copy_ms < step_ms, "step %lld: the copy of the next batch completed %.3f ms after the step began, "
                   "the step took %.3f ms: it did not overlap", (long long)r->k, copy_ms, step_ms);
  LEAP_TEST_ASSERT(r->host_ms < 0.25 * step_ms, "step %lld: leap_feeder_next took %.3f ms on the host during a "
                   "%.3f ms step: it waited for the device", (long long)r->k, r->host_ms, step_ms);
  if (r->k == WARM_STEPS) printf("step of %.2f ms, next batch copied after %.2f ms, feeder on the host %.3f ms\n",
                                 step_ms, copy_ms, r->host_ms);
}

static bool setup(fixture *x) {
  leap_error err = {0};
  memset(x, 0, sizeof *x);
  if (!LEAP_TEST_ASSERT(leap_runtime_init(&x->rt, LEAP_CUDA, 1, &err) == LEAP_OK, "%s", err.message)) return false;
  LEAP_TEST_ASSERT(leap_feeder_held_batches(&x->rt) == 2, "a CUDA feeder needs two batches held");
  if (!LEAP_TEST_ASSERT(src_init(&x->s, leap_feeder_held_batches(&x->rt), MAX_ROWS, F0_H, F0_W,
                                 leap_host_alloc_pinned, leap_host_free_pinned, &x->rt), "pinned source buffers"))
    return false;
  leap_feeder_config fc = {.next = src_next, .source = &x->s, .n_fields = SRC_FIELDS, .max_rows = MAX_ROWS,
                           .parts = PARTS};
  if (!LEAP_TEST_ASSERT(leap_feeder_create(&x->f, &x->rt, &fc, &err) == LEAP_OK, "create: %s", err.message))
    return false;
  leap_ctx_init(&x->ctx, &x->rt, 0);
  size_t bytes = (size_t)GEMM * GEMM * sizeof(float), readback = 0;
  for (int i = 0; i < SRC_FIELDS; i++) readback += (size_t)MAX_ROWS * src_sample_bytes(&x->s, i);
  CK(cudaMalloc(&x->a, bytes));
  CK(cudaMalloc(&x->b, bytes));
  CK(cudaMalloc(&x->c, bytes));
  CK(cudaMemset(x->a, 0, bytes));
  CK(cudaMemset(x->b, 0, bytes));
  for (int j = 0; j < 2; j++) {
    x->rec[j].readback = leap_host_alloc_pinned(readback, &x->rt);
    CK(cudaEventCreate(&x->rec[j].start));
    CK(cudaEventCreate(&x->rec[j].end));
    CK(cudaEventCreate(&x->rec[j].copy));
  }
  return x->rec[0].readback && x->rec[1].readback;
}

static void teardown(fixture *x) {
  CK(cudaDeviceSynchronize());
  for (int j = 0; j < 2; j++) {
    leap_host_free_pinned(x->rec[j].readback, &x->rt);
    CK(cudaEventDestroy(x->rec[j].start));
    CK(cudaEventDestroy(x->rec[j].end));
    CK(cudaEventDestroy(x->rec[j].copy));
  }
  CK(cudaFree(x->a));
  CK(cudaFree(x->b));
  CK(cudaFree(x->c));
  leap_ctx_free(&x->ctx);
  leap_feeder_destroy(x->f);
  src_destroy(&x->s);
  leap_runtime_free(&x->rt);
}

/* Steps are checked one behind, so that the compute stream is still busy with step i-1 when step i's batch is
 * requested. */
static void run(fixture *x) {
  leap_error err = {0};
  for (int64_t k = 0; k < STEPS; k++) {
    step_rec *r = &x->rec[k % 2];
    leap_ctx_begin_step(&x->ctx);
    const leap_batch *b = NULL;
    double t0 = now_ms();
    if (!LEAP_TEST_ASSERT(leap_feeder_next(x->f, &b, &err) == LEAP_OK, "next %lld: %s", (long long)k, err.message))
      return;
    r->host_ms = now_ms() - t0;
    r->k = k;
    LEAP_TEST_ASSERT(b->n == src_rows(&x->s, k), "batch %lld has %lld rows", (long long)k, (long long)b->n);
    for (int i = 0; i < SRC_FIELDS; i++)
      LEAP_TEST_ASSERT(leap_host_is_pinned(b->field[i]), "batch %lld field %d is pageable memory", (long long)k, i);
    run_step(x, r, b);
    if (k > 0) check_step(x, &x->rec[(k - 1) % 2]);
    if (k == WARM_STEPS) {
      size_t total;
      CK(cudaMemGetInfo(&x->free_at_warm, &total));
      x->meta_at_warm = x->ctx.meta.system_allocs, x->data_at_warm = x->ctx.data.system_allocs;
    }
  }
  check_step(x, &x->rec[(STEPS - 1) % 2]);
  size_t free_now, total;
  CK(cudaMemGetInfo(&free_now, &total));
  LEAP_TEST_ASSERT(free_now == x->free_at_warm, "device memory changed in the steady state: %zu -> %zu free bytes",
                   x->free_at_warm, free_now);
  LEAP_TEST_ASSERT(leap_feeder_device_allocs(x->f) == 2 * SRC_FIELDS, "%lld device buffers allocated (want %d)",
                   (long long)leap_feeder_device_allocs(x->f), 2 * SRC_FIELDS);
  LEAP_TEST_ASSERT(x->ctx.meta.system_allocs == x->meta_at_warm && x->ctx.data.system_allocs == x->data_at_warm,
                   "the context's arenas grew in the steady state");
}

int main(void) {
  if (!leap_device_available(LEAP_CUDA)) {
    puts("skipped: no CUDA device");
    return LEAP_TEST_SKIP_CODE;
  }
  fixture x;
  if (setup(&x)) {
    run(&x);
    teardown(&x);
  }
  return leap_test_finish();
}
#endif
