/* cuDNN's check macro, for the baselines (the kernels/<op>/<op>_cudnn.cu files): a failed cuDNN call is the fatal
 * tier of errors, like a failed CUDA call (train/core/error.h), and aborts with file:line and cuDNN's message. */
#ifndef LEAP_KERNELS_COMMON_CUDNN_COMMON_CUH
#define LEAP_KERNELS_COMMON_CUDNN_COMMON_CUH

#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>

#define LEAP_CUDNN_CHECK(call)                                                                                    \
  do {                                                                                                            \
    cudnnStatus_t leap_s_ = (call);                                                                               \
    if (leap_s_ != CUDNN_STATUS_SUCCESS) {                                                                        \
      fprintf(stderr, "leap: fatal at %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudnnGetErrorString(leap_s_)); \
      abort();                                                                                                    \
    }                                                                                                             \
  } while (0)

#endif
