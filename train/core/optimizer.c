#include "train/core/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/optim/optim.h"

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
  return LEAP_OK;
}

void leap_optimizer_destroy(leap_optimizer *opt) {
  for (int i = 0; i < opt->n_state; i++) {
    leap_tensor_destroy(opt->state_a[i]);
    leap_tensor_destroy(opt->state_b[i]);
  }
  free(opt->state_a);
  free(opt->state_b);
  memset(opt, 0, sizeof *opt);
}

/* A parameter frozen after the optimizer was made keeps its (now unused) state but is skipped. */
static bool trains(const leap_optimizer *opt, int i) {
  const leap_param *p = &opt->params->items[i];
  return p->kind == LEAP_PARAM_TRAINABLE && p->tensor->grad && opt->state_a[i];
}

double leap_optimizer_grad_norm(const leap_optimizer *opt) {
  double total = 0.0;
  for (int i = 0; i < opt->n_state; i++) {
    if (!trains(opt, i)) continue;
    const leap_tensor *g = opt->params->items[i].tensor->grad;
    total += leap_sum_squares_cpu((const float *)g->data, leap_tensor_numel(g));
  }
  return sqrt(total);
}

double leap_optimizer_step(leap_optimizer *opt, float lr) {
  const leap_optimizer_config *c = &opt->config;
  double norm = leap_optimizer_grad_norm(opt);
  float scale = c->clip_norm > 0.0f ? leap_clip_scale(norm * norm, c->clip_norm) : 1.0f;
  opt->step++;
  for (int i = 0; i < opt->n_state; i++) {
    if (!trains(opt, i)) continue;
    leap_param *p = &opt->params->items[i];
    float *w = (float *)p->tensor->data;
    const float *g = (const float *)p->tensor->grad->data;
    int64_t n = leap_tensor_numel(p->tensor);
    float wd = p->weight_decay ? c->weight_decay : 0.0f;
    if (c->kind == LEAP_OPTIM_ADAMW)
      leap_adamw_update_cpu(w, (float *)opt->state_a[i]->data, (float *)opt->state_b[i]->data, g, n, lr, c->beta1,
                            c->beta2, c->eps, wd, opt->step, scale);
    else
      leap_sgd_update_cpu(w, (float *)opt->state_a[i]->data, g, n, lr, c->momentum, wd, c->nesterov,
                          opt->step == 1, scale);
  }
  return norm;
}
