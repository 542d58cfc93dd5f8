/* The runtime: what a process knows about where it runs (device, threads, rank). One struct, passed explicitly;
 * no mutable globals. The CUDA handles (cuBLAS, cuDNN, streams) and the NCCL communicator join it with the CUDA
 * backend and distribution issues, behind the opaque `cuda` pointer. */
#ifndef LEAP_TRAIN_CORE_RUNTIME_H
#define LEAP_TRAIN_CORE_RUNTIME_H

#include "train/core/error.h"
#include "train/core/tensor.h"

typedef struct leap_runtime {
  leap_device device;
  int threads;
  int rank, world;
  void *cuda; /* backend state, NULL on the CPU */
} leap_runtime;

/* threads <= 0 keeps OpenMP's default. Fails (err set) when the device is not available in this build/machine. */
leap_status leap_runtime_init(leap_runtime *rt, leap_device device, int threads, leap_error *err);
void leap_runtime_free(leap_runtime *rt);
/* Parses "cpu" or "cuda"; -1 for anything else. */
int leap_device_from_name(const char *name);

#endif
