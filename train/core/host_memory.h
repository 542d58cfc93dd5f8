/* Host memory that a device reads asynchronously: page-locked ("pinned") on a CUDA runtime, so that
 * cudaMemcpyAsync from it is a DMA that overlaps the compute stream, rather than a copy CUDA stages through its own
 * pinned buffer while the host waits; plain memory otherwise.
 *
 * The signatures match leap_loader_config's host_alloc / host_free with the runtime as the context, so that the
 * data library receives pinned batch buffers without knowing about CUDA (docs/data.md, "Pinned prefetch").
 * Page-locking is slow and takes memory from the pageable pool, so these are for buffers made once and reused. */
#ifndef LEAP_TRAIN_CORE_HOST_MEMORY_H
#define LEAP_TRAIN_CORE_HOST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

/* bytes of host memory aligned to at least LEAP_ALIGNMENT: pinned when runtime (a leap_runtime *) is on CUDA,
 * plain for a CPU runtime or NULL. NULL when the memory cannot be had. */
void *leap_host_alloc_pinned(size_t bytes, void *runtime);
/* Frees what leap_host_alloc_pinned returned for the same runtime (NULL is ignored). */
void leap_host_free_pinned(void *ptr, void *runtime);
/* Whether CUDA knows ptr as page-locked host memory (false in a build without CUDA): for tests and checks. */
bool leap_host_is_pinned(const void *ptr);

#endif
