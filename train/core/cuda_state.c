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

leap_cuda_stream leap_cuda_copy_stream_create(void) {
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return stream;
}

void leap_cuda_copy_stream_destroy(leap_cuda_stream stream) {
  if (stream) CUDA_OK(cudaStreamDestroy(stream));
}

leap_cuda_event leap_cuda_event_create(void) {
  cudaEvent_t event;
  CUDA_OK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

void leap_cuda_event_destroy(leap_cuda_event event) {
  if (event) CUDA_OK(cudaEventDestroy(event));
}

void leap_cuda_event_record(leap_cuda_event event, leap_cuda_stream stream) {
  CUDA_OK(cudaEventRecord(event, stream));
}

void leap_cuda_event_wait_host(leap_cuda_event event) { CUDA_OK(cudaEventSynchronize(event)); }

void leap_cuda_stream_wait_event(leap_cuda_stream stream, leap_cuda_event event) {
  CUDA_OK(cudaStreamWaitEvent(stream, event, 0));
}

void leap_cuda_copy_to_device_async(void *dst, const void *src, size_t bytes, leap_cuda_stream stream) {
  CUDA_OK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}

#else

leap_status leap__cuda_state_create(leap_cuda_state **out, leap_error *err) {
  *out = NULL;
  return leap_error_set(err, LEAP_ERR_DEVICE, "this build has no CUDA backend (configure with -DLEAP_CUDA=ON)");
}

void leap__cuda_state_destroy(leap_cuda_state *state) { (void)state; }
void leap__cuda_state_sync(const leap_cuda_state *state) { (void)state; }

/* Without CUDA nothing creates a CUDA runtime, so reaching any of these is a programmer error. */
#define NO_CUDA() leap__fatal(__FILE__, __LINE__, "%s: this build has no CUDA backend", __func__)

leap_cuda_stream leap_cuda_copy_stream_create(void) { NO_CUDA(); }
void leap_cuda_copy_stream_destroy(leap_cuda_stream stream) { (void)stream; }
leap_cuda_event leap_cuda_event_create(void) { NO_CUDA(); }
void leap_cuda_event_destroy(leap_cuda_event event) { (void)event; }
void leap_cuda_event_record(leap_cuda_event event, leap_cuda_stream stream) { (void)event, (void)stream, NO_CUDA(); }
void leap_cuda_event_wait_host(leap_cuda_event event) { (void)event, NO_CUDA(); }
void leap_cuda_stream_wait_event(leap_cuda_stream stream, leap_cuda_event event) {
  (void)stream, (void)event, NO_CUDA();
}
void leap_cuda_copy_to_device_async(void *dst, const void *src, size_t bytes, leap_cuda_stream stream) {
  (void)dst, (void)src, (void)bytes, (void)stream, NO_CUDA();
}

#endif
