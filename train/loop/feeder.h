/* The device feeder: gives the training loop each batch on the step's device, copied while the previous step
 * computes, and its micro-batches as tensors that view the device batch (no further copy).
 *
 * A batch source hands out host batches (the HDF5 loader through a one-line adapter, or a test's own); each stays
 * valid until the source has been called leap_feeder_held_batches() more times. On a CUDA runtime the feeder owns a
 * second, non-blocking stream for copies ("copy stream"), two device buffers per field and four events; the
 * source's buffers should be pinned (train/core/host_memory.h), or the copies are synchronous. On the CPU it is a
 * pass-through: the views point into the source's own buffers, and nothing is copied or allocated.
 *
 * Batch i on CUDA (leap_feeder_next at the start of step i; slots alternate, s(i) = i % 2):
 *   1. released[s(i-1)] is recorded on the compute stream: step i-1's reads of its device buffer end there.
 *   2. The host waits for copied[s(i-1)], the copy of batch i-1. It finished before step i-1 could start, so this
 *      costs nothing; it makes sure the source may recycle batch i-1's host buffer, which step 3 allows.
 *   3. Batch i+1 is taken from the source.
 *   4. On the copy stream: wait for released[s(i+1)] (step i-1 is done with that buffer), copy batch i+1, record
 *      copied[s(i+1)]. The copy runs while step i computes.
 *   5. The compute stream waits for copied[s(i)]; batch i is handed out.
 * Neither the host nor the compute stream waits for a copy in progress, and the steady state allocates nothing (the
 * device buffers are made at the first batch).
 *
 * Parts. A batch of n rows is split into P = min(parts, n) micro-batches, part p holding rows [n p / P,
 * n (p + 1) / P), as the trainer's gradient accumulation splits it. Each part of each field is copied to its own
 * place in the device buffer, 256-byte aligned, so that every view is as aligned as device memory fresh from
 * cudaMalloc (cuBLASLt and vectorised kernels pick faster paths for aligned operands).
 *
 * Errors. A source error while taking batch i+1 ahead is kept and returned by the next call, so that it surfaces at
 * the batch it belongs to, as on the CPU. */
#ifndef LEAP_TRAIN_LOOP_FEEDER_H
#define LEAP_TRAIN_LOOP_FEEDER_H

#include "data/hdf5/loader.h"
#include "kernels/common/cuda_common.h"
#include "train/core/context.h"

/* The source's next batch (leap_loader_next's contract); source is the config's `source`. */
typedef leap_status (*leap_feeder_next_fn)(void *source, leap_batch *batch, leap_error *err);

typedef struct leap_feeder_config {
  leap_feeder_next_fn next;
  void *source;
  int n_fields;     /* fields per batch, 1..LEAP_LOADER_MAX_FIELDS */
  int64_t max_rows; /* rows of the largest batch the source hands out (the loader's batch) */
  int64_t parts;    /* micro-batches per batch, >= 1 */
} leap_feeder_config;

typedef struct leap_feeder leap_feeder;

/* How many batches the source must keep valid at once for a feeder on this runtime: 2 on CUDA (the batch being
 * computed on and the one being copied), 1 on the CPU. The loader's held_batches. */
int leap_feeder_held_batches(const leap_runtime *rt);

/* A feeder on rt's device; the runtime and the source must outlive it. Errors: a bad config (LEAP_ERR_CONFIG),
 * no memory. */
leap_status leap_feeder_create(leap_feeder **out, leap_runtime *rt, const leap_feeder_config *config, leap_error *err);
/* Waits for its copies and frees its buffers and stream. Destroy it before the source lets go of its buffers (before
 * leap_loader_close), since a copy may still read them. NULL is ignored. */
void leap_feeder_destroy(leap_feeder *feeder);

/* The next batch: *batch is the source's host batch (sizes, epoch, host data), valid until the next call. On CUDA
 * the compute stream (rt->cuda->stream) waits for its copy; work queued there from now on may read its views. */
leap_status leap_feeder_next(leap_feeder *feeder, const leap_batch **batch, leap_error *err);

/* The current batch's parts: how many, and part p's rows [*lo, *hi). */
int64_t leap_feeder_parts(const leap_feeder *feeder);
void leap_feeder_part_rows(const leap_feeder *feeder, int64_t part, int64_t *lo, int64_t *hi);
/* Field `field` of part `part` of the current batch as a tensor of ctx, shaped (hi - lo, sample dims...) with the
 * field's dtype: a view of the device batch on CUDA, of the source's batch on the CPU. Valid until ctx's next
 * begin_step and the feeder's next call, whichever comes first; ctx must run on the feeder's device. */
leap_tensor *leap_feeder_rows(leap_feeder *feeder, leap_ctx *ctx, int field, int64_t part);

/* For tests and timing: the copy stream (NULL on the CPU), and how many device buffers the feeder has allocated
 * so far (2 per field after the first batch on CUDA, never more; 0 on the CPU). */
leap_cuda_stream leap_feeder_copy_stream(const leap_feeder *feeder);
int64_t leap_feeder_device_allocs(const leap_feeder *feeder);

#endif
