#include "train/core/runtime.h"

#include <string.h>

#include "kernels/common/kernel_common.h"
#include "train/core/cuda_state.h"
#include "train/core/device_memory.h"

leap_status leap_runtime_init(leap_runtime *rt, leap_device device, int threads, leap_error *err) {
  memset(rt, 0, sizeof *rt);
  rt->device = device;
  rt->world = 1;
  if (!leap_device_available(device))
    return leap_error_set(err, LEAP_ERR_DEVICE, "device '%s' is not available (%s)", leap_device_name(device),
#ifdef LEAP_WITH_CUDA
                          "no CUDA device found"
#else
                          "this build has no CUDA backend"
#endif
    );
  if (threads > 0) leap_kernels_set_threads(threads);
  rt->threads = leap_kernels_threads();
  if (device == LEAP_CUDA) return leap__cuda_state_create(&rt->cuda, err);
  return LEAP_OK;
}

void leap_runtime_free(leap_runtime *rt) {
  leap__cuda_state_destroy(rt->cuda);
  memset(rt, 0, sizeof *rt);
}

int leap_device_from_name(const char *name) {
  if (!strcmp(name, "cpu")) return LEAP_CPU;
  if (!strcmp(name, "cuda")) return LEAP_CUDA;
  return -1;
}

void leap_runtime_sync(const leap_runtime *rt) {
  if (rt->cuda) leap__cuda_state_sync(rt->cuda);
}
