/* Chains: running a sequence of nets, their loss, and whole-field reads and predictions on host arrays. */
#include "train/loop/chain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/core/ops.h"
#include "train/loop/build.h"
#include "train/loop/loop_internal.h"

/* Samples per loader batch when a whole field is read in file order. */
#define READ_FIELD_BATCH 256

int leap_chain_input_index(const leap_chain *chain, const char *field) {
  for (int i = 0; i < chain->n_inputs; i++)
    if (!strcmp(chain->inputs[i], field)) return i;
  return -1;
}

/* A data input in the pass's activation dtype: f32 data enters a bf16 pass through a cast (nothing is recorded,
 * data needs no gradient); integer ids and f32 passes take it as it is. */
static leap_tensor *entering(leap_ctx *ctx, leap_tensor *x) {
  if (!x || x->dtype != LEAP_F32 || ctx->act == LEAP_F32) return x;
  return leap_cast(ctx, x, ctx->act);
}

leap_tensor *leap_chain_forward(const leap_chain *chain, leap_ctx *ctx, leap_tensor *const *xs) {
  leap_tensor *outs[LEAP_CFG_MAX_STAGES] = {0}, *data[LEAP_CHAIN_MAX_INPUTS] = {0};
  for (int i = 0; i < chain->n_inputs && i < LEAP_CHAIN_MAX_INPUTS; i++) data[i] = entering(ctx, xs[i]);
  for (int k = 0; k < chain->n_nets; k++) {
    const leap_net *net = chain->nets[k];
    leap_tensor *in[LEAP_NET_MAX_INPUTS];
    for (int i = 0; i < net->n_inputs; i++) {
      int src = chain->sources[k][i];
      in[i] = src >= 0 ? data[src] : outs[LEAP_CHAIN_FROM_NET(src)];
    }
    if (!(outs[k] = leap_net_forward_inputs(net, ctx, in))) return NULL;
  }
  return chain->n_nets > 0 ? outs[chain->n_nets - 1] : NULL;
}

/* The target reshaped to what the loss compares it with: the prediction's shape for MSE, the logits' leading
 * dims for cross-entropy. A target whose size does not fit is left as it is, and the loss op reports it. */
static leap_tensor *fit_target(leap_ctx *ctx, leap_tensor *pred, leap_tensor *target, leap_loss_kind loss) {
  int ndim = loss == LEAP_LOSS_MSE ? pred->ndim : pred->ndim - 1;
  if (ndim < 1) return target;
  if (leap_shape_numel(ndim, pred->shape) != leap_tensor_numel(target)) return target;
  if (ndim == target->ndim && !memcmp(pred->shape, target->shape, sizeof(int64_t) * (size_t)ndim)) return target;
  return leap_reshape(ctx, target, ndim, pred->shape);
}

leap_tensor *leap_chain_loss(const leap_chain *chain, leap_ctx *ctx, leap_tensor *const *xs, leap_tensor *target) {
  leap_tensor *pred = leap_chain_forward(chain, ctx, xs);
  if (!pred || !target) return NULL;
  target = fit_target(ctx, pred, target, chain->loss);
  if (chain->loss == LEAP_LOSS_CROSS_ENTROPY) return leap_cross_entropy(ctx, pred, target, -1);
  if (pred->dtype != target->dtype && target->dtype == LEAP_F32) pred = leap_cast(ctx, pred, LEAP_F32);
  return leap_mse(ctx, pred, target);
}

void leap_host_array_free(leap_host_array *a) {
  free(a->data);
  memset(a, 0, sizeof *a);
}

static int64_t sample_bytes(const leap_host_array *a) {
  return leap_shape_numel(a->ndim - 1, a->shape + 1) * (int64_t)leap_dtype_size(a->dtype);
}

/* Starts an array of capacity n samples shaped like the batch's field 0. */
static leap_status host_array_start(leap_host_array *out, const leap_batch *b, int64_t n, const char *field,
                                    leap_error *err) {
  out->dtype = b->dtype[0];
  out->ndim = b->ndim[0];
  memcpy(out->shape, b->shape[0], sizeof out->shape);
  out->shape[0] = n;
  size_t bytes = (size_t)(n * sample_bytes(out));
  out->data = malloc(bytes ? bytes : 1);
  if (!out->data)
    return leap_error_set(err, LEAP_ERR_MEMORY, "out of memory reading field '%s' (%zu bytes)", field, bytes);
  return LEAP_OK;
}

static leap_status read_batches(leap_loader *loader, const char *field, int64_t want, leap_host_array *out,
                                leap_error *err) {
  int64_t have = 0;
  while (have < want) {
    leap_batch b;
    if (leap_loader_next(loader, &b, err)) return err->status;
    if (!out->data && host_array_start(out, &b, want, field, err)) return err->status;
    int64_t take = b.n < want - have ? b.n : want - have;
    int64_t row = sample_bytes(out);
    memcpy((char *)out->data + have * row, b.field[0], (size_t)(take * row));
    have += take;
  }
  return LEAP_OK;
}

leap_status leap_read_field_n(const leap_run_config *cfg, const char *group, const char *field, int64_t max_n,
                              leap_host_array *out, leap_error *err) {
  memset(out, 0, sizeof *out);
  leap_loader_config lc = leap_loader_config_default();
  lc.path = cfg->data.file;
  lc.group = group;
  lc.n_fields = 1;
  lc.fields[0] = leap_field_spec_for(cfg, field);
  lc.batch = READ_FIELD_BATCH;
  lc.shuffle = false;
  lc.drop_last = false;
  lc.rank = 0, lc.world = 1;
  lc.fraction = 1.0;
  if (cfg->data.prefetch > 0) lc.prefetch = cfg->data.prefetch;
  if (cfg->data.loader_threads > 0) lc.threads = cfg->data.loader_threads;
  leap_loader *loader = NULL;
  if (leap_loader_open(&loader, &lc, err)) return err->status;
  int64_t total = leap_loader_total_samples(loader);
  int64_t want = max_n > 0 && max_n < total ? max_n : total;
  leap_status st = LEAP_OK;
  if (want == 0)
    st = leap_error_set(err, LEAP_ERR_VALUE, "%s: group '%s' has no samples of '%s'", cfg->data.file, group, field);
  else
    st = read_batches(loader, field, want, out, err);
  leap_loader_close(loader);
  if (st) leap_host_array_free(out);
  return st;
}

leap_status leap_read_field(const leap_run_config *cfg, const char *group, const char *field, leap_host_array *out,
                            leap_error *err) {
  return leap_read_field_n(cfg, group, field, 0, out, err);
}

leap_tensor *leap_host_array_rows(leap_ctx *ctx, const leap_host_array *a, int64_t begin, int64_t end) {
  int64_t shape[LEAP_MAX_DIMS];
  memcpy(shape, a->shape, sizeof shape);
  shape[0] = end - begin;
  leap_tensor *t = leap_ctx_tensor(ctx, a->dtype, a->ndim, shape, false);
  leap_tensor_from_host(t, (const char *)a->data + begin * sample_bytes(a));
  return t;
}

static leap_status ctx_error(leap_ctx *ctx, const leap_chain *chain, leap_error *err) {
  if (ctx->err.status == LEAP_OK) return LEAP_OK;
  return leap_error_set(err, ctx->err.status, "%s: %s", chain->name, ctx->err.message);
}

/* Copies a batch of predictions to rows [begin, ...) of out, allocating out (f32, (N, per-sample dims)) first. */
static leap_status store_rows(leap_host_array *out, const leap_tensor *y, int64_t begin, int64_t n_total,
                              leap_error *err) {
  if (!out->data) {
    out->dtype = LEAP_F32;
    out->ndim = y->ndim;
    memcpy(out->shape, y->shape, sizeof out->shape);
    out->shape[0] = n_total;
    size_t bytes = (size_t)(n_total * sample_bytes(out));
    if (!(out->data = malloc(bytes ? bytes : 1)))
      return leap_error_set(err, LEAP_ERR_MEMORY, "out of memory for predictions (%zu bytes)", bytes);
  }
  leap_tensor_to_host((char *)out->data + begin * sample_bytes(out), y);
  return LEAP_OK;
}

/* The chain's inputs are n_inputs arrays of the same sample count; *n gets it. */
static leap_status check_inputs(const leap_chain *chain, const leap_host_array *inputs, int64_t *n, leap_error *err) {
  if (chain->n_inputs < 1 || chain->n_inputs > LEAP_CHAIN_MAX_INPUTS)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: %d inputs", chain->name, chain->n_inputs);
  *n = inputs[0].shape[0];
  for (int i = 1; i < chain->n_inputs; i++)
    if (inputs[i].shape[0] != *n)
      return leap_error_set(err, LEAP_ERR_SHAPE, "%s: input '%s' has %lld samples, '%s' %lld", chain->name,
                            chain->inputs[i], (long long)inputs[i].shape[0], chain->inputs[0], (long long)*n);
  return LEAP_OK;
}

/* Rows [begin, end) of each chain input as context tensors. */
static void input_rows(leap_ctx *ctx, const leap_chain *chain, const leap_host_array *inputs, int64_t begin,
                       int64_t end, leap_tensor **xs) {
  for (int i = 0; i < chain->n_inputs; i++) xs[i] = leap_host_array_rows(ctx, &inputs[i], begin, end);
}

leap_status leap_chain_predict(leap_runtime *rt, const leap_chain *chain, const leap_host_array *inputs,
                               int64_t batch, leap_host_array *out, leap_error *err) {
  memset(out, 0, sizeof *out);
  int64_t n = 0;
  if (check_inputs(chain, inputs, &n, err)) return err->status;
  if (batch < 1) return leap_error_set(err, LEAP_ERR_VALUE, "%s: prediction batch %lld < 1", chain->name,
                                       (long long)batch);
  leap_ctx ctx;
  leap_ctx_init(&ctx, rt, 0);
  ctx.grad_enabled = false;
  ctx.training = false;
  leap_status st = leap_ctx_set_precision(&ctx, chain->act) ? ctx_error(&ctx, chain, err) : LEAP_OK;
  for (int64_t b = 0; b < n && st == LEAP_OK; b += batch) {
    int64_t e = b + batch < n ? b + batch : n;
    leap_ctx_begin_step(&ctx);
    leap_tensor *xs[LEAP_CHAIN_MAX_INPUTS];
    input_rows(&ctx, chain, inputs, b, e, xs);
    leap_tensor *y = leap_chain_forward(chain, &ctx, xs);
    if (y && y->dtype == LEAP_BF16) y = leap_cast(&ctx, y, LEAP_F32);
    st = ctx_error(&ctx, chain, err);
    if (st == LEAP_OK) st = store_rows(out, y, b, n, err);
  }
  leap_ctx_free(&ctx);
  if (st) leap_host_array_free(out);
  return st;
}

leap_status leap_chain_eval_loss(leap_ctx *ctx, const leap_chain *chain, const leap_host_array *inputs,
                                 const leap_host_array *targets, int64_t batch, double *loss, leap_error *err) {
  int64_t n = 0;
  if (check_inputs(chain, inputs, &n, err)) return err->status;
  if (targets->shape[0] != n)
    return leap_error_set(err, LEAP_ERR_SHAPE, "%s: %lld inputs but %lld targets", chain->name, (long long)n,
                          (long long)targets->shape[0]);
  if (batch < 1 || n < 1)
    return leap_error_set(err, LEAP_ERR_VALUE, "%s: nothing to evaluate (%lld samples, batch %lld)", chain->name,
                          (long long)n, (long long)batch);
  bool grad = ctx->grad_enabled, training = ctx->training;
  ctx->grad_enabled = false;
  ctx->training = false;
  double sum = 0.0;
  leap_status st = LEAP_OK;
  for (int64_t b = 0; b < n && st == LEAP_OK; b += batch) {
    int64_t e = b + batch < n ? b + batch : n;
    leap_ctx_begin_step(ctx);
    leap_tensor *xs[LEAP_CHAIN_MAX_INPUTS];
    input_rows(ctx, chain, inputs, b, e, xs);
    leap_tensor *l = leap_chain_loss(chain, ctx, xs, leap_host_array_rows(ctx, targets, b, e));
    st = ctx_error(ctx, chain, err);
    if (st == LEAP_OK) {
      float v;
      leap_tensor_to_host(&v, l);
      sum += (double)v * (double)(e - b);
    }
  }
  ctx->grad_enabled = grad;
  ctx->training = training;
  *loss = sum / (double)n;
  return st;
}
