#include "train/core/host_memory.h"

#include <stdlib.h>

#include "train/core/device_memory.h"
#include "train/core/runtime.h"

#ifdef LEAP_WITH_CUDA
#include <cuda_runtime.h>

static bool wants_pinned(const void *runtime) {
  return runtime && ((const leap_runtime *)runtime)->device == LEAP_CUDA;
}
#endif

void *leap_host_alloc_pinned(size_t bytes, void *runtime) {
  if (bytes == 0) bytes = LEAP_ALIGNMENT;
#ifdef LEAP_WITH_CUDA
  if (wants_pinned(runtime)) {
    /* Page-aligned. Failing is a user-visible condition (the page-locked limit, or memory), not a programmer
     * error: the caller reports it as out of memory. */
    void *p = NULL;
    return cudaHostAlloc(&p, bytes, cudaHostAllocDefault) == cudaSuccess ? p : NULL;
  }
#endif
  size_t rounded = (bytes + LEAP_ALIGNMENT - 1) / LEAP_ALIGNMENT * LEAP_ALIGNMENT;
  return aligned_alloc(LEAP_ALIGNMENT, rounded);
}

void leap_host_free_pinned(void *ptr, void *runtime) {
  if (!ptr) return;
#ifdef LEAP_WITH_CUDA
  if (wants_pinned(runtime)) {
    cudaError_t e = cudaFreeHost(ptr);
    if (e != cudaSuccess) leap__fatal(__FILE__, __LINE__, "cudaFreeHost: %s", cudaGetErrorString(e));
    return;
  }
#endif
  free(ptr);
}

bool leap_host_is_pinned(const void *ptr) {
#ifdef LEAP_WITH_CUDA
  struct cudaPointerAttributes attr;
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    (void)cudaGetLastError(); /* an unknown pointer is an answer here, not an error to keep */
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
#else
  (void)ptr;
  return false;
#endif
}
