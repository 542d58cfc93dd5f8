/* The runtime: what a process knows about where it runs (device, threads, rank). One struct, passed explicitly;
 * no mutable globals. On a CUDA device it holds the stream and the cuBLAS context (train/core/cuda_state.h); the
 * NCCL communicator joins it with distribution. */
#ifndef LEAP_TRAIN_CORE_RUNTIME_H
#define LEAP_TRAIN_CORE_RUNTIME_H

#include "train/core/error.h"
#include "train/core/tensor.h"

typedef struct leap_runtime {
  leap_device device;
  int threads;
  int rank, world;
  struct leap_cuda_state *cuda; /* NULL on the CPU */
} leap_runtime;

/* threads <= 0 keeps OpenMP's default. Fails (err set) when the device is not available in this build/machine. */
leap_status leap_runtime_init(leap_runtime *rt, leap_device device, int threads, leap_error *err);
void leap_runtime_free(leap_runtime *rt);
/* Waits until the device has finished the work queued so far (a no-op on the CPU): for timing. */
void leap_runtime_sync(const leap_runtime *rt);
/* Parses "cpu" or "cuda"; -1 for anything else. */
int leap_device_from_name(const char *name);

#endif
