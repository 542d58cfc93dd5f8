#include "train/core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/core/device_memory.h"
#ifdef LEAP_WITH_CUDA
#include "kernels/elementwise/elementwise.h"
#endif

size_t leap_dtype_size(leap_dtype dtype) {
  switch (dtype) {
    case LEAP_F32: return 4;
    case LEAP_BF16: return 2;
    case LEAP_I32: return 4;
    case LEAP_U8: return 1;
  }
  return 0;
}

const char *leap_dtype_name(leap_dtype dtype) {
  static const char *names[] = {"f32", "bf16", "i32", "u8"};
  return (unsigned)dtype < 4 ? names[dtype] : "?";
}

const char *leap_device_name(leap_device device) { return device == LEAP_CPU ? "cpu" : "cuda"; }

int64_t leap_shape_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

int64_t leap_tensor_numel(const leap_tensor *t) { return leap_shape_numel(t->ndim, t->shape); }

size_t leap_tensor_bytes(const leap_tensor *t) { return (size_t)leap_tensor_numel(t) * leap_dtype_size(t->dtype); }

bool leap_tensor_same_shape(const leap_tensor *a, const leap_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

int64_t leap_tensor_rows(const leap_tensor *t, int trailing_dims) {
  return leap_shape_numel(t->ndim - trailing_dims, t->shape);
}

const char *leap_tensor_describe(const leap_tensor *t, char *buf, size_t size) {
  if (!t) {
    snprintf(buf, size, "(null tensor)");
    return buf;
  }
  size_t used = 0;
  if (t->name) used += (size_t)snprintf(buf, size, "'%s' ", t->name);
  if (used < size) used += (size_t)snprintf(buf + used, size - used, "%s%s (", leap_dtype_name(t->dtype),
                                            t->device == LEAP_CUDA ? " cuda" : "");
  for (int i = 0; i < t->ndim && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)t->shape[i]);
  if (used < size) snprintf(buf + used, size - used, ")");
  return buf;
}

static bool shape_valid(int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > LEAP_MAX_DIMS) return false;
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return false;
  return true;
}

leap_tensor *leap_tensor_create(leap_device device, leap_dtype dtype, int ndim, const int64_t *shape, const char *name,
                                bool with_grad, leap_error *err) {
  if (!shape_valid(ndim, shape)) {
    leap_error_set(err, LEAP_ERR_SHAPE, "tensor '%s': invalid shape (%d dims)", name ? name : "?", ndim);
    return NULL;
  }
  leap_tensor *t = calloc(1, sizeof *t);
  if (!t) goto oom;
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
  t->dtype = dtype;
  t->device = device;
  t->long_lived = true;
  t->name = name ? strdup(name) : NULL;
  t->data = leap_device_alloc(device, leap_tensor_bytes(t));
  if (!t->data) goto oom;
  leap_device_memset_zero(device, t->data, leap_tensor_bytes(t));
  if (with_grad) {
    t->grad = leap_tensor_create(device, LEAP_F32, ndim, shape, NULL, false, err);
    if (!t->grad) goto oom;
    t->requires_grad = true;
  }
  return t;
oom:
  leap_error_set(err, LEAP_ERR_MEMORY, "tensor '%s': out of %s memory", name ? name : "?", leap_device_name(device));
  leap_tensor_destroy(t);
  return NULL;
}

void leap_tensor_destroy(leap_tensor *t) {
  if (!t) return;
  LEAP_ASSERT(t->long_lived, "leap_tensor_destroy on an arena tensor");
  leap_tensor_destroy(t->grad);
  leap_tensor_destroy(t->lowp);
  leap_device_free(t->device, t->data);
  free((char *)t->name);
  free(t);
}

void leap_tensor_view_init(leap_tensor *view, leap_device device, leap_dtype dtype, int ndim, const int64_t *shape,
                           void *data) {
  LEAP_ASSERT(shape_valid(ndim, shape), "tensor view with an invalid shape (%d dims)", ndim);
  memset(view, 0, sizeof *view);
  view->ndim = ndim;
  memcpy(view->shape, shape, sizeof(int64_t) * (size_t)ndim);
  view->dtype = dtype;
  view->device = device;
  view->data = data;
}

void leap_tensor_copy(leap_tensor *dst, const leap_tensor *src) {
  LEAP_ASSERT(dst->dtype == src->dtype && leap_tensor_numel(dst) == leap_tensor_numel(src), "copy mismatch");
  leap_device_copy(dst->device, dst->data, src->device, src->data, leap_tensor_bytes(src));
}

void leap_tensor_to_host(void *dst, const leap_tensor *src) {
  leap_device_copy(LEAP_CPU, dst, src->device, src->data, leap_tensor_bytes(src));
}

void leap_tensor_from_host(leap_tensor *dst, const void *src) {
  leap_device_copy(dst->device, dst->data, LEAP_CPU, src, leap_tensor_bytes(dst));
}

void leap_tensor_zero(leap_tensor *t) { leap_device_memset_zero(t->device, t->data, leap_tensor_bytes(t)); }

void leap__tensor_refresh_lowp(leap_tensor *t) {
  if (!t->lowp) return;
#ifdef LEAP_WITH_CUDA
  leap_cast_cuda(t->lowp->data, LEAP_BF16, t->data, LEAP_F32, leap_tensor_numel(t), NULL);
#endif
}
