/* What C code needs to name CUDA things without including CUDA headers: the stream type (identical to
 * cudaStream_t) and the opaque matrix-product context. See docs/cuda.md for the kernel conventions. */
#ifndef LEAP_KERNELS_COMMON_CUDA_COMMON_H
#define LEAP_KERNELS_COMMON_CUDA_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/common/dtype.h"

#ifdef __cplusplus
#define LEAP_EXTERN_C_BEGIN extern "C" {
#define LEAP_EXTERN_C_END }
#else
#define LEAP_EXTERN_C_BEGIN
#define LEAP_EXTERN_C_END
#endif

typedef struct CUstream_st *leap_cuda_stream;
typedef struct leap_cuda_blas leap_cuda_blas;

#endif
