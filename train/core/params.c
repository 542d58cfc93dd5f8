#include "train/core/params.h"

#include <stdlib.h>
#include <string.h>

void leap_params_init(leap_params *ps, leap_device device) {
  memset(ps, 0, sizeof *ps);
  ps->device = device;
}

void leap_params_free(leap_params *ps) {
  for (int i = 0; i < ps->count; i++) leap_tensor_destroy(ps->items[i].tensor);
  free(ps->items);
  memset(ps, 0, sizeof *ps);
}

leap_param *leap_params_find(leap_params *ps, const char *name) {
  for (int i = 0; i < ps->count; i++)
    if (!strcmp(ps->items[i].tensor->name, name)) return &ps->items[i];
  return NULL;
}

leap_tensor *leap_params_add(leap_params *ps, const char *name, int ndim, const int64_t *shape, leap_param_kind kind,
                             bool weight_decay, leap_error *err) {
  if (leap_params_find(ps, name)) {
    leap_error_set(err, LEAP_ERR_VALUE, "parameter '%s' is defined twice", name);
    return NULL;
  }
  if (ps->count == ps->capacity) {
    int capacity = ps->capacity ? ps->capacity * 2 : 32;
    leap_param *items = realloc(ps->items, sizeof *items * (size_t)capacity);
    if (!items) {
      leap_error_set(err, LEAP_ERR_MEMORY, "out of memory adding parameter '%s'", name);
      return NULL;
    }
    ps->items = items;
    ps->capacity = capacity;
  }
  leap_tensor *t = leap_tensor_create(ps->device, LEAP_F32, ndim, shape, name, kind == LEAP_PARAM_TRAINABLE, err);
  if (!t) return NULL;
  ps->items[ps->count++] = (leap_param){t, kind, weight_decay};
  return t;
}

int leap_params_freeze(leap_params *ps, const char *prefix) {
  int n = 0;
  size_t len = strlen(prefix);
  for (int i = 0; i < ps->count; i++) {
    leap_param *p = &ps->items[i];
    if (p->kind != LEAP_PARAM_TRAINABLE || strncmp(p->tensor->name, prefix, len) != 0) continue;
    p->kind = LEAP_PARAM_FROZEN;
    p->tensor->requires_grad = false;
    leap_tensor_destroy(p->tensor->grad);
    p->tensor->grad = NULL;
    n++;
  }
  return n;
}

void leap_params_zero_grad(leap_params *ps) {
  for (int i = 0; i < ps->count; i++)
    if (ps->items[i].tensor->grad) leap_tensor_zero(ps->items[i].tensor->grad);
}

int64_t leap_params_numel(const leap_params *ps) {
  int64_t n = 0;
  for (int i = 0; i < ps->count; i++)
    if (ps->items[i].kind != LEAP_PARAM_BUFFER) n += leap_tensor_numel(ps->items[i].tensor);
  return n;
}
