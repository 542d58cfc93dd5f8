/* The CUDA side of the runtime: the device, the stream every kernel of a pass runs on, and the cuBLAS/cuBLASLt
 * context bound to it. Created by leap_runtime_init for device cuda; NULL on the CPU. */
#ifndef LEAP_TRAIN_CORE_CUDA_STATE_H
#define LEAP_TRAIN_CORE_CUDA_STATE_H

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

#endif
