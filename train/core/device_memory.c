#include "train/core/device_memory.h"

#include <stdlib.h>
#include <string.h>

#ifdef LEAP_WITH_CUDA
#include <cuda_runtime.h>
#define CUDA_OK(call)                                                                       \
  do {                                                                                      \
    cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess) leap__fatal(__FILE__, __LINE__, "%s: %s", #call, cudaGetErrorString(e_)); \
  } while (0)
#endif

void *leap_device_alloc(leap_device device, size_t bytes) {
  if (bytes == 0) bytes = LEAP_ALIGNMENT;
  if (device == LEAP_CPU) {
    size_t rounded = (bytes + LEAP_ALIGNMENT - 1) / LEAP_ALIGNMENT * LEAP_ALIGNMENT;
    return aligned_alloc(LEAP_ALIGNMENT, rounded);
  }
#ifdef LEAP_WITH_CUDA
  void *p = NULL;
  return cudaMalloc(&p, bytes) == cudaSuccess ? p : NULL;
#else
  LEAP_ASSERT(false, "CUDA memory requested in a build without CUDA");
#endif
}

void leap_device_free(leap_device device, void *ptr) {
  if (!ptr) return;
  if (device == LEAP_CPU) {
    free(ptr);
    return;
  }
#ifdef LEAP_WITH_CUDA
  CUDA_OK(cudaFree(ptr));
#endif
}

void leap_device_memset_zero(leap_device device, void *ptr, size_t bytes) {
  if (device == LEAP_CPU) {
    memset(ptr, 0, bytes);
    return;
  }
#ifdef LEAP_WITH_CUDA
  CUDA_OK(cudaMemset(ptr, 0, bytes));
#endif
}

void leap_device_copy(leap_device dst_device, void *dst, leap_device src_device, const void *src, size_t bytes) {
  if (dst_device == LEAP_CPU && src_device == LEAP_CPU) {
    memmove(dst, src, bytes);
    return;
  }
#ifdef LEAP_WITH_CUDA
  CUDA_OK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
#else
  LEAP_ASSERT(false, "CUDA copy requested in a build without CUDA");
#endif
}

bool leap_device_available(leap_device device) {
  if (device == LEAP_CPU) return true;
#ifdef LEAP_WITH_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}
