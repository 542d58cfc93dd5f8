/* Tensors: a shape of up to 5 dims, a dtype, a device and a data pointer, with an optional gradient.
 *
 * A tensor does not own its memory policy: activations live in the step's arena (train/core/arena.h) and vanish
 * when it is reset; parameters, their gradients and optimizer state are long-lived (leap_tensor_create). Data is
 * always contiguous, row-major. Images and feature maps are NHWC. */
#ifndef LEAP_TRAIN_CORE_TENSOR_H
#define LEAP_TRAIN_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/common/dtype.h"
#include "train/core/error.h"

#define LEAP_MAX_DIMS 5

typedef enum leap_device { LEAP_CPU = 0, LEAP_CUDA } leap_device;

typedef struct leap_tensor {
  void *data;
  struct leap_tensor *grad; /* same shape; f32 for parameters; NULL until a gradient exists or when not needed */
  struct leap_tensor *lowp; /* a parameter's bf16 copy for bf16 matrix products on CUDA; NULL otherwise */
  int64_t shape[LEAP_MAX_DIMS];
  int ndim;
  leap_dtype dtype;
  leap_device device;
  bool requires_grad; /* a parameter that trains, or an activation computed from one */
  bool long_lived;    /* owned by leap_tensor_create, not by an arena */
  const char *name;   /* for error messages; NULL for unnamed activations */
} leap_tensor;

size_t leap_dtype_size(leap_dtype dtype);
const char *leap_dtype_name(leap_dtype dtype);
const char *leap_device_name(leap_device device);
int64_t leap_shape_numel(int ndim, const int64_t *shape);
int64_t leap_tensor_numel(const leap_tensor *t);
size_t leap_tensor_bytes(const leap_tensor *t);
bool leap_tensor_same_shape(const leap_tensor *a, const leap_tensor *b);
/* Product of the dims before `axis` (the "rows" when the trailing dims are the feature dims). */
int64_t leap_tensor_rows(const leap_tensor *t, int trailing_dims);
/* Writes e.g. "'h.0.attn' f32 (8,128,256)" (the name only when set) into buf and returns buf. */
const char *leap_tensor_describe(const leap_tensor *t, char *buf, size_t size);

/* Long-lived tensors, allocated on their device (zero-filled). NULL (and err set) when the shape is invalid or the
 * allocation fails. with_grad allocates a zeroed f32 gradient of the same shape on the same device. */
leap_tensor *leap_tensor_create(leap_device device, leap_dtype dtype, int ndim, const int64_t *shape, const char *name,
                                bool with_grad, leap_error *err);
void leap_tensor_destroy(leap_tensor *t);

/* Makes *view a tensor over memory it does not own (rows of a batch already on the device): the given shape,
 * dtype, device and data, no gradient, not long-lived. The caller places the struct where it lives as long as
 * its use (a context's meta arena, reset with the step); the data is neither freed by leap_tensor_destroy nor part
 * of any arena, so it stays with its owner. */
void leap_tensor_view_init(leap_tensor *view, leap_device device, leap_dtype dtype, int ndim, const int64_t *shape,
                           void *data);

/* Copies between tensors of the same shape and dtype, on any devices. */
void leap_tensor_copy(leap_tensor *dst, const leap_tensor *src);
/* Host views for tests and I/O: copy all elements to/from a host buffer of the tensor's dtype. */
void leap_tensor_to_host(void *dst, const leap_tensor *src);
void leap_tensor_from_host(leap_tensor *dst, const void *src);
void leap_tensor_zero(leap_tensor *t);
/* Rewrites t->lowp (bf16) from t (f32) after t changed outside the optimizer (loading weights). */
void leap__tensor_refresh_lowp(leap_tensor *t);

static inline float *leap_f32(const leap_tensor *t) { return (float *)t->data; }
static inline int32_t *leap_i32(const leap_tensor *t) { return (int32_t *)t->data; }

#endif
