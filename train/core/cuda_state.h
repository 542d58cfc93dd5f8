/* The CUDA side of the runtime: the device, the stream every kernel of a pass runs on, and the cuBLAS/cuBLASLt
 * context bound to it. Created by leap_runtime_init for device cuda; NULL on the CPU. */
#ifndef LEAP_TRAIN_CORE_CUDA_STATE_H
#define LEAP_TRAIN_CORE_CUDA_STATE_H

#include <stddef.h>

#include "kernels/common/cuda_common.h"
#include "train/core/error.h"

typedef struct leap_cuda_state {
  int device;
  char name[256];
  int sm_major, sm_minor;
  leap_cuda_stream stream;
  leap_cuda_blas *blas;
} leap_cuda_state;

leap_status leap__cuda_state_create(leap_cuda_state **out, leap_error *err);
void leap__cuda_state_destroy(leap_cuda_state *state);
/* Waits for the stream's work (reading a loss, timing). */
void leap__cuda_state_sync(const leap_cuda_state *state);

/* Streams and events for work that overlaps the compute stream (the feeder's batch copies, train/loop/feeder.h).
 * Every call checks its CUDA status and aborts on failure; in a build without CUDA they are programmer errors. */
typedef struct CUevent_st *leap_cuda_event; /* the same type as cudaEvent_t */

/* A non-blocking stream: it never serialises with the legacy default stream that cudaMemcpy and cudaMemset use,
 * so a copy queued on it runs beside the compute stream's kernels and the host's synchronous copies. */
leap_cuda_stream leap_cuda_copy_stream_create(void);
void leap_cuda_copy_stream_destroy(leap_cuda_stream stream);
/* An event without timing (the cheapest to record and wait on). */
leap_cuda_event leap_cuda_event_create(void);
void leap_cuda_event_destroy(leap_cuda_event event);
/* Marks the point reached by the work queued on stream so far. */
void leap_cuda_event_record(leap_cuda_event event, leap_cuda_stream stream);
/* The host waits until the work before the event's last record has finished. */
void leap_cuda_event_wait_host(leap_cuda_event event);
/* Work queued on stream from now on waits for the event's last record (the host does not wait). */
void leap_cuda_stream_wait_event(leap_cuda_stream stream, leap_cuda_event event);
/* Queues a host-to-device copy on stream. From pinned memory (train/core/host_memory.h) the host does not wait and
 * src must stay unchanged until the copy has run; from pageable memory CUDA copies synchronously. */
void leap_cuda_copy_to_device_async(void *dst, const void *src, size_t bytes, leap_cuda_stream stream);

#endif
