#include "train/core/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/optim/optim.h"
#include "train/core/device_memory.h"

leap_optimizer_config leap_optimizer_config_default(leap_optimizer_kind kind) {
  leap_optimizer_config c = {kind, 0.9f, 0.999f, 1e-8f, 0.9f, false, 0.1f, 1.0f};
  if (kind == LEAP_OPTIM_SGD) c.weight_decay = 0.0f;
  return c;
}

int leap_optimizer_kind_from_name(const char *name) {
  if (!strcmp(name, "adamw")) return LEAP_OPTIM_ADAMW;
  if (!strcmp(name, "sgd")) return LEAP_OPTIM_SGD;
  return -1;
}

static leap_tensor *make_state(leap_params *ps, const leap_tensor *p, leap_error *err) {
  return leap_tensor_create(ps->device, LEAP_F32, p->ndim, p->shape, p->name, false, err);
}

/* The norm's device scratch. Updates run on the legacy default stream, which the runtime's blocking stream orders
 * with, so the optimizer needs no handle to the runtime. */
static leap_status create_device_scratch(leap_optimizer *opt, leap_error *err) {
#ifdef LEAP_WITH_CUDA
  size_t floats = 1;
  for (int i = 0; i < opt->params->count; i++) {
    size_t f = leap_sum_squares_workspace_floats_cuda(leap_tensor_numel(opt->params->items[i].tensor));
    floats = f > floats ? f : floats;
  }
  opt->cuda_stream = NULL;
  opt->cuda_total = leap_device_alloc(LEAP_CUDA, sizeof(double));
  opt->cuda_workspace = leap_device_alloc(LEAP_CUDA, floats * sizeof(float));
  if (!opt->cuda_total || !opt->cuda_workspace)
    return leap_error_set(err, LEAP_ERR_MEMORY, "out of device memory for the optimizer's scratch");
  return LEAP_OK;
#else
  (void)opt;
  return leap_error_set(err, LEAP_ERR_DEVICE, "parameters on a device this build has no backend for");
#endif
}

leap_status leap_optimizer_create(leap_optimizer *opt, leap_params *params, const leap_optimizer_config *config,
                                  leap_error *err) {
  memset(opt, 0, sizeof *opt);
  opt->config = *config;
  opt->params = params;
  opt->n_state = params->count;
  opt->state_a = calloc((size_t)params->count + 1, sizeof(leap_tensor *));
  opt->state_b = calloc((size_t)params->count + 1, sizeof(leap_tensor *));
  if (!opt->state_a || !opt->state_b) return leap_error_set(err, LEAP_ERR_MEMORY, "out of memory for optimizer state");
  for (int i = 0; i < params->count; i++) {
    const leap_param *p = &params->items[i];
    if (p->kind != LEAP_PARAM_TRAINABLE) continue;
    opt->state_a[i] = make_state(params, p->tensor, err);
    if (!opt->state_a[i]) return err->status;
    if (config->kind == LEAP_OPTIM_ADAMW) {
      opt->state_b[i] = make_state(params, p->tensor, err);
      if (!opt->state_b[i]) return err->status;
    }
  }
  return params->device == LEAP_CPU ? LEAP_OK : create_device_scratch(opt, err);
}

void leap_optimizer_destroy(leap_optimizer *opt) {
  for (int i = 0; i < opt->n_state; i++) {
    leap_tensor_destroy(opt->state_a[i]);
    leap_tensor_destroy(opt->state_b[i]);
  }
  free(opt->state_a);
  free(opt->state_b);
  if (opt->cuda_total) leap_device_free(LEAP_CUDA, opt->cuda_total);
  if (opt->cuda_workspace) leap_device_free(LEAP_CUDA, opt->cuda_workspace);
  memset(opt, 0, sizeof *opt);
}

/* A parameter frozen after the optimizer was made keeps its (now unused) state but is skipped. */
static bool trains(const leap_optimizer *opt, int i);

/* The global norm on the device: per-parameter sums of squares into one device double, in parameter order (a fixed
 * order, so deterministic), read back once. */
static double device_grad_norm(const leap_optimizer *opt) {
#ifdef LEAP_WITH_CUDA
  double *total = opt->cuda_total;
  leap_device_memset_zero(LEAP_CUDA, total, sizeof(double));
  for (int i = 0; i < opt->n_state; i++) {
    if (!trains(opt, i)) continue;
    const leap_tensor *g = opt->params->items[i].tensor->grad;
    leap_sum_squares_cuda(total, opt->cuda_workspace, (const float *)g->data, leap_tensor_numel(g), opt->cuda_stream);
  }
  double host = 0.0;
  leap_device_copy(LEAP_CPU, &host, LEAP_CUDA, total, sizeof host);
  return sqrt(host);
#else
  (void)opt;
  return NAN;
#endif
}

static bool trains(const leap_optimizer *opt, int i) {
  const leap_param *p = &opt->params->items[i];
  return p->kind == LEAP_PARAM_TRAINABLE && p->tensor->grad && opt->state_a[i];
}

double leap_optimizer_grad_norm(const leap_optimizer *opt) {
  if (opt->params->device != LEAP_CPU) return device_grad_norm(opt);
  double total = 0.0;
  for (int i = 0; i < opt->n_state; i++) {
    if (!trains(opt, i)) continue;
    const leap_tensor *g = opt->params->items[i].tensor->grad;
    total += leap_sum_squares_cpu((const float *)g->data, leap_tensor_numel(g));
  }
  return sqrt(total);
}

/* One parameter's update on the CPU or, with scale_dev set, on the device (the clip factor stays on the device). */
static void update_param(leap_optimizer *opt, int i, float lr, float scale, const float *scale_dev) {
  const leap_optimizer_config *c = &opt->config;
  leap_param *p = &opt->params->items[i];
  float *w = (float *)p->tensor->data, *a = (float *)opt->state_a[i]->data;
  float *b = opt->state_b[i] ? (float *)opt->state_b[i]->data : NULL;
  const float *g = (const float *)p->tensor->grad->data;
  int64_t n = leap_tensor_numel(p->tensor);
  float wd = p->weight_decay ? c->weight_decay : 0.0f;
  bool adamw = c->kind == LEAP_OPTIM_ADAMW, first = opt->step == 1;
  if (p->tensor->device == LEAP_CPU) {
    if (adamw) leap_adamw_update_cpu(w, a, b, g, n, lr, c->beta1, c->beta2, c->eps, wd, opt->step, scale);
    else leap_sgd_update_cpu(w, a, g, n, lr, c->momentum, wd, c->nesterov, first, scale);
    return;
  }
#ifdef LEAP_WITH_CUDA
  void *lowp = p->tensor->lowp ? p->tensor->lowp->data : NULL;
  leap_cuda_stream stream = opt->cuda_stream;
  if (adamw)
    leap_adamw_update_cuda(w, a, b, g, lowp, n, lr, c->beta1, c->beta2, c->eps, wd, opt->step, scale, scale_dev, stream);
  else
    leap_sgd_update_cuda(w, a, g, lowp, n, lr, c->momentum, wd, c->nesterov, first, scale, scale_dev, stream);
#else
  (void)scale_dev;
#endif
}

double leap_optimizer_step(leap_optimizer *opt, float lr) {
  const leap_optimizer_config *c = &opt->config;
  double norm = leap_optimizer_grad_norm(opt);
  float scale = c->clip_norm > 0.0f ? leap_clip_scale(norm * norm, c->clip_norm) : 1.0f;
  opt->step++;
  for (int i = 0; i < opt->n_state; i++)
    if (trains(opt, i)) update_param(opt, i, lr, scale, NULL);
  return norm;
}
