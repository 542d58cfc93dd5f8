/* Raw memory on a device: the only place leap calls malloc/cudaMalloc for tensor data. The CUDA branch exists
 * only in builds with LEAP_WITH_CUDA; elsewhere asking for CUDA memory is a programmer error caught earlier by
 * the runtime (a cuda runtime cannot be created without a CUDA build). */
#ifndef LEAP_TRAIN_CORE_DEVICE_MEMORY_H
#define LEAP_TRAIN_CORE_DEVICE_MEMORY_H

#include <stddef.h>

#include "train/core/tensor.h"

#define LEAP_ALIGNMENT 64

void *leap_device_alloc(leap_device device, size_t bytes); /* NULL on failure */
void leap_device_free(leap_device device, void *ptr);
void leap_device_memset_zero(leap_device device, void *ptr, size_t bytes);
void leap_device_copy(leap_device dst_device, void *dst, leap_device src_device, const void *src, size_t bytes);
bool leap_device_available(leap_device device);

#endif
