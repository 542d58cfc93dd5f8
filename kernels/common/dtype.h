/* Element types, shared by the kernels (which take an activation dtype on CUDA) and the engine's tensors. */
#ifndef LEAP_KERNELS_COMMON_DTYPE_H
#define LEAP_KERNELS_COMMON_DTYPE_H

typedef enum leap_dtype { LEAP_F32 = 0, LEAP_BF16, LEAP_I32, LEAP_U8 } leap_dtype;

#endif
