#include "train/core/cuda_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LEAP_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/blas/blas_cuda.h"

#define CUDA_OK(call)                                                                                    \
  do {                                                                                                   \
    cudaError_t e_ = (call);                                                                             \
    if (e_ != cudaSuccess) leap__fatal(__FILE__, __LINE__, "%s: %s", #call, cudaGetErrorString(e_));    \
  } while (0)

leap_status leap__cuda_state_create(leap_cuda_state **out, leap_error *err) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    return leap_error_set(err, LEAP_ERR_DEVICE, "no CUDA device (%s)",
                          e != cudaSuccess ? cudaGetErrorString(e) : "none found");
  leap_cuda_state *s = calloc(1, sizeof *s);
  if (!s) return leap_error_set(err, LEAP_ERR_MEMORY, "out of memory");
  CUDA_OK(cudaGetDevice(&s->device));
  struct cudaDeviceProp prop;
  CUDA_OK(cudaGetDeviceProperties(&prop, s->device));
  snprintf(s->name, sizeof s->name, "%s", prop.name);
  s->sm_major = prop.major, s->sm_minor = prop.minor;
  cudaStream_t stream;
  /* A blocking stream: it orders with the legacy default stream that cudaMemset and cudaMemcpy use. */
  CUDA_OK(cudaStreamCreate(&stream));
  s->stream = stream;
  s->blas = leap_cuda_blas_create(s->stream);
  *out = s;
  return LEAP_OK;
}

void leap__cuda_state_destroy(leap_cuda_state *s) {
  if (!s) return;
  leap_cuda_blas_destroy(s->blas);
  CUDA_OK(cudaStreamDestroy(s->stream));
  free(s);
}

void leap__cuda_state_sync(const leap_cuda_state *s) { CUDA_OK(cudaStreamSynchronize(s->stream)); }

#else

leap_status leap__cuda_state_create(leap_cuda_state **out, leap_error *err) {
  *out = NULL;
  return leap_error_set(err, LEAP_ERR_DEVICE, "this build has no CUDA backend (configure with -DLEAP_CUDA=ON)");
}

void leap__cuda_state_destroy(leap_cuda_state *state) { (void)state; }
void leap__cuda_state_sync(const leap_cuda_state *state) { (void)state; }

#endif
