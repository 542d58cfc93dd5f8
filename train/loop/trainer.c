/* The training loop. One step: the next shuffled batch from the loader, split into micro-batches whose losses are
 * scaled by their share of the batch (so the accumulated gradient is the whole batch's mean, whatever the split),
 * a guard that drops the step when the loss or the gradient is not finite, then clipping and the optimizer at the
 * scheduled learning rate. Evaluation runs every eval_every steps and at the end on val samples held in memory.
 * The passes run in train.precision (bf16 mixed precision on CUDA by default).
 *
 * The step allocates nothing once warm: batches come from the loader's own buffers (pinned on CUDA) through the
 * feeder (feeder.h), which copies batch i+1 to the device on its own stream while step i computes and hands out
 * each micro-batch as a view of the device batch; activations come from the context's arenas (reset each
 * micro-batch), the tape is reused, and gradients and optimizer state are made once. */
#include "train/loop/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/core/host_memory.h"
#include "train/loop/build.h"
#include "train/loop/feeder.h"
#include "train/loop/loop_internal.h"
#include "train/loop/progress.h"

/* A run stops when this many consecutive steps had a non-finite loss: the model has diverged for good. */
#define MAX_CONSECUTIVE_NONFINITE 10
/* The loss curve's exponential smoothing factor (debiased, as TensorBoard's smoothing). */
#define CURVE_SMOOTHING 0.9

typedef struct trainer {
  const leap_run_config *cfg;
  const leap_chain *chain;
  const leap_train_options *o;
  leap_train_result *res;
  leap_runtime *rt;
  leap_loader *loader;
  leap_feeder *feeder;
  int n_in; /* the chain's input fields are loader fields 0..n_in-1; the target is n_in */
  leap_optimizer opt;
  bool opt_ready;
  leap_schedule sched;
  leap_ctx ctx;
  bool ctx_ready;
  leap_host_array val_x[LEAP_CHAIN_MAX_INPUTS], val_y;
  bool has_val, saved_best;
  int64_t micro, eval_batch;
  FILE *metrics;
  leap_progress progress;
  double start, eval_seconds;
  /* Since the last metrics line: finite losses, samples, and the time it was written (evaluation excluded). */
  double log_loss_sum, log_time, log_eval_seconds;
  int64_t log_loss_n, log_samples;
  double ema, ema_decay;
  int64_t curve_stride, consecutive_nonfinite, stale_evals;
} trainer;

static leap_status open_train_loader(trainer *t, bool drop_last, leap_error *err) {
  const leap_run_config *cfg = t->cfg;
  leap_loader_config lc = leap_loader_config_default();
  lc.path = cfg->data.file;
  lc.group = cfg->data.train_group;
  lc.n_fields = t->n_in + 1;
  for (int i = 0; i < t->n_in; i++) lc.fields[i] = leap_field_spec_for(cfg, t->chain->inputs[i]);
  lc.fields[t->n_in] = leap_field_spec_for(cfg, t->chain->target);
  lc.batch = cfg->train.batch;
  lc.shuffle = true;
  lc.seed = cfg->train.seed;
  lc.drop_last = drop_last;
  lc.rank = 0, lc.world = 1;
  lc.fraction = t->o->fraction > 0 ? t->o->fraction : 1.0;
  if (cfg->data.prefetch > 0) lc.prefetch = cfg->data.prefetch;
  if (cfg->data.loader_threads > 0) lc.threads = cfg->data.loader_threads;
  /* The feeder copies from the loader's buffers asynchronously: pinned on CUDA, and two of them held at once. */
  lc.held_batches = leap_feeder_held_batches(t->rt);
  lc.host_alloc = leap_host_alloc_pinned;
  lc.host_free = leap_host_free_pinned;
  lc.host_ctx = t->rt;
  return leap_loader_open(&t->loader, &lc, err);
}

static leap_status loader_source(void *loader, leap_batch *batch, leap_error *err) {
  return leap_loader_next(loader, batch, err);
}

static leap_status setup_feeder(trainer *t, leap_error *err) {
  leap_feeder_config fc = {.next = loader_source, .source = t->loader, .n_fields = t->n_in + 1,
                           .max_rows = t->cfg->train.batch, .parts = t->cfg->train.micro_batches};
  return leap_feeder_create(&t->feeder, t->rt, &fc, err);
}

/* The training loader drops each epoch's incomplete last batch, so that every step has the same size; a training
 * set smaller than one batch (which the loader refuses to open with drop_last) is used whole instead. */
static leap_status setup_loader(trainer *t, leap_error *err) {
  t->n_in = t->chain->n_inputs;
  if (t->n_in < 1 || t->n_in + 1 > LEAP_LOADER_MAX_FIELDS)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: %d input fields (1 to %d)", t->chain->name, t->n_in,
                          LEAP_LOADER_MAX_FIELDS - 1);
  leap_error first = {0};
  if (open_train_loader(t, true, &first) == LEAP_OK && leap_loader_batches_per_epoch(t->loader) > 0) return LEAP_OK;
  if (t->loader) leap_loader_close(t->loader);
  t->loader = NULL;
  if (open_train_loader(t, false, err)) return err->status;
  if (leap_loader_batches_per_epoch(t->loader) > 0) return LEAP_OK;
  return leap_error_set(err, LEAP_ERR_VALUE, "%s: group '%s' gives no training samples (fraction %g)",
                        t->cfg->data.file, t->cfg->data.train_group, t->o->fraction);
}

static leap_status setup_val(trainer *t, leap_error *err) {
  const leap_run_config *cfg = t->cfg;
  if (!cfg->data.val_group[0]) return LEAP_OK;
  for (int i = 0; i < t->n_in; i++)
    if (leap_read_field_n(cfg, cfg->data.val_group, t->chain->inputs[i], cfg->train.eval_samples, &t->val_x[i], err))
      return err->status;
  if (leap_read_field_n(cfg, cfg->data.val_group, t->chain->target, cfg->train.eval_samples, &t->val_y, err))
    return err->status;
  t->has_val = true;
  return LEAP_OK;
}

static leap_status check_options(const trainer *t, leap_error *err) {
  const leap_train_config *tc = &t->cfg->train;
  if (t->o->steps < 1)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: train.steps must be at least 1 (got %lld)", t->cfg->source,
                          (long long)t->o->steps);
  if (tc->batch < 1 || tc->micro_batches < 1 || tc->micro_batches > tc->batch)
    return leap_error_set(err, LEAP_ERR_CONFIG, "%s: train.batch (%lld) and train.micro_batches (%lld) must satisfy "
                          "1 <= micro_batches <= batch", t->cfg->source, (long long)tc->batch,
                          (long long)tc->micro_batches);
  if (t->o->fraction < 0 || t->o->fraction > 1)
    return leap_error_set(err, LEAP_ERR_VALUE, "training fraction %g is outside (0, 1]", t->o->fraction);
  return LEAP_OK;
}

static leap_status open_metrics(trainer *t, leap_error *err) {
  if (!t->o->run_dir) return LEAP_OK;
  char path[4096];
  if (leap__make_dirs(t->o->run_dir, err) || leap__path_join(path, sizeof path, t->o->run_dir, "metrics.jsonl", err))
    return err->status;
  if (!(t->metrics = fopen(path, "w")))
    return leap_error_set(err, LEAP_ERR_IO, "%s: cannot open for writing", path);
  return LEAP_OK;
}

static leap_status setup(trainer *t, leap_runtime *rt, leap_error *err) {
  const leap_train_config *tc = &t->cfg->train;
  t->rt = rt;
  leap_dtype act;
  if (check_options(t, err) || leap_run_config_act(t->cfg, rt->device, &act, err) || setup_loader(t, err) ||
      setup_feeder(t, err) || setup_val(t, err))
    return err->status;
  if (leap_optimizer_create(&t->opt, t->chain->params, &tc->optimizer, err)) return err->status;
  t->opt_ready = true;
  t->sched = tc->schedule;
  t->sched.total_steps = t->o->steps;
  leap_ctx_init(&t->ctx, rt, tc->seed);
  t->ctx_ready = true;
  if (leap_ctx_set_precision(&t->ctx, act))
    return leap_error_set(err, t->ctx.err.status, "%s: %s", t->chain->name, t->ctx.err.message);
  t->micro = tc->micro_batches;
  t->eval_batch = (tc->batch + t->micro - 1) / t->micro;
  t->curve_stride = (t->o->steps + LEAP_TRAIN_MAX_CURVE - 1) / LEAP_TRAIN_MAX_CURVE;
  t->ema_decay = 1.0;
  t->res->best_val_loss = NAN;
  t->res->final_train_loss = NAN;
  t->res->best_step = -1;
  return open_metrics(t, err);
}

static void teardown(trainer *t) {
  /* The feeder first: a copy in flight may still read the loader's buffers. */
  leap_feeder_destroy(t->feeder);
  if (t->loader) leap_loader_close(t->loader);
  if (t->opt_ready) leap_optimizer_destroy(&t->opt);
  if (t->ctx_ready) leap_ctx_free(&t->ctx);
  for (int i = 0; i < LEAP_CHAIN_MAX_INPUTS; i++) leap_host_array_free(&t->val_x[i]);
  leap_host_array_free(&t->val_y);
  if (t->metrics) fclose(t->metrics);
}

/* Micro-batch m's chain inputs and target: views of the batch on the step's device. */
static void batch_rows(trainer *t, int64_t m, leap_tensor **xs, leap_tensor **y) {
  for (int i = 0; i < t->n_in; i++) xs[i] = leap_feeder_rows(t->feeder, &t->ctx, i, m);
  *y = leap_feeder_rows(t->feeder, &t->ctx, t->n_in, m);
}

static leap_status ctx_failure(trainer *t, int64_t step, leap_error *err) {
  return leap_error_set(err, t->ctx.err.status, "%s: step %lld: %s", t->chain->name, (long long)step,
                        t->ctx.err.message);
}

/* Forward and backward over the batch's micro-batches: *loss is the batch's mean loss; *finite is false when a
 * micro-batch's loss or the accumulated gradient is not finite (the gradients are then garbage, not applied). */
static leap_status accumulate(trainer *t, const leap_batch *b, int64_t step, double *loss, bool *finite,
                              leap_error *err) {
  int64_t n = b->n, m_count = leap_feeder_parts(t->feeder);
  double sum = 0.0;
  *finite = false;
  for (int64_t m = 0; m < m_count; m++) {
    int64_t lo, hi;
    leap_feeder_part_rows(t->feeder, m, &lo, &hi);
    leap_ctx_begin_step(&t->ctx);
    leap_tensor *xs[LEAP_CHAIN_MAX_INPUTS], *y;
    batch_rows(t, m, xs, &y);
    leap_tensor *l = leap_chain_loss(t->chain, &t->ctx, xs, y);
    if (!leap_ctx_ok(&t->ctx)) return ctx_failure(t, step, err);
    float share = (float)(hi - lo) / (float)n, value;
    leap_tensor_to_host(&value, l);
    leap_status st = leap_backward(&t->ctx, l, share);
    if (st == LEAP_ERR_NONFINITE) return *loss = value, LEAP_OK;
    if (st) return ctx_failure(t, step, err);
    sum += (double)value * share;
  }
  *loss = sum;
  *finite = isfinite(sum) && isfinite(leap_optimizer_grad_norm(&t->opt));
  return LEAP_OK;
}

static void curve_add(trainer *t, int64_t step) {
  leap_train_result *r = t->res;
  if (t->ema_decay == 1.0 || r->n_curve >= LEAP_TRAIN_MAX_CURVE) return;
  if (r->n_curve > 0 && r->curve[r->n_curve - 1][0] == (double)step) return;
  r->curve[r->n_curve][0] = (double)step;
  r->curve[r->n_curve][1] = r->final_train_loss;
  r->n_curve++;
}

static void note_loss(trainer *t, double loss) {
  t->ema = CURVE_SMOOTHING * t->ema + (1.0 - CURVE_SMOOTHING) * loss;
  t->ema_decay *= CURVE_SMOOTHING;
  t->res->final_train_loss = t->ema / (1.0 - t->ema_decay);
  t->log_loss_sum += loss;
  t->log_loss_n++;
}

static leap_status skip_step(trainer *t, int64_t step, double loss, leap_error *err) {
  leap_params_zero_grad(t->chain->params);
  t->res->nonfinite_skips++;
  t->consecutive_nonfinite++;
  fprintf(stderr, "leap: train: %s: step %lld: the %s is %s; step skipped (%lld skipped so far)\n", t->chain->name,
          (long long)step, isfinite(loss) ? "gradient" : "loss", isfinite(loss) ? "not finite" : isnan(loss) ? "NaN"
          : "infinite", (long long)t->res->nonfinite_skips);
  if (t->consecutive_nonfinite < MAX_CONSECUTIVE_NONFINITE) return LEAP_OK;
  return leap_error_set(err, LEAP_ERR_NONFINITE, "%s: the loss or gradient was not finite for %d steps in a row "
                        "(steps %lld to %lld): training diverged; lower the learning rate or check the data for NaN",
                        t->chain->name, MAX_CONSECUTIVE_NONFINITE,
                        (long long)(step - MAX_CONSECUTIVE_NONFINITE + 1), (long long)step);
}

static void write_metrics(trainer *t, int64_t step, float lr, double val_loss) {
  double now = leap_progress_now();
  double elapsed = now - t->log_time - (t->eval_seconds - t->log_eval_seconds);
  if (t->metrics) {
    fprintf(t->metrics, "{\"step\": %lld, \"loss\": ", (long long)step);
    leap__loop_json_number(t->metrics, t->log_loss_n ? t->log_loss_sum / (double)t->log_loss_n : NAN);
    fputs(", \"lr\": ", t->metrics);
    leap__loop_json_number(t->metrics, lr);
    fputs(", \"samples_per_s\": ", t->metrics);
    leap__loop_json_number(t->metrics, elapsed > 0 ? (double)t->log_samples / elapsed : 0.0);
    if (!isnan(val_loss)) {
      fputs(", \"val_loss\": ", t->metrics);
      leap__loop_json_number(t->metrics, val_loss);
    }
    fputs("}\n", t->metrics);
    fflush(t->metrics);
  }
  t->log_loss_sum = 0.0;
  t->log_loss_n = t->log_samples = 0;
  t->log_time = now;
  t->log_eval_seconds = t->eval_seconds;
}

static leap_status save_to(trainer *t, const char *which, leap_error *err) {
  if (!t->o->run_dir) return LEAP_OK;
  char dir[4096];
  if (leap__path_join(dir, sizeof dir, t->o->run_dir, which, err)) return err->status;
  return leap_save_weights(dir, t->chain->params, t->cfg, t->chain, err);
}

/* Evaluates (when there is a val group), keeps the best, saves best and latest, and counts evaluations without
 * improvement for early stopping. Without a val group it only saves the latest weights (*val_loss is NaN). */
static leap_status evaluate(trainer *t, int64_t step, double *val_loss, leap_error *err) {
  double t0 = leap_progress_now();
  *val_loss = NAN;
  if (!t->has_val) return save_to(t, "checkpoints/latest", err);
  if (leap_chain_eval_loss(&t->ctx, t->chain, t->val_x, &t->val_y, t->eval_batch, val_loss, err))
    return err->status;
  leap_train_result *r = t->res;
  bool improved = isfinite(*val_loss) && (isnan(r->best_val_loss) || *val_loss < r->best_val_loss);
  if (improved) r->best_val_loss = *val_loss, r->best_step = step, t->stale_evals = 0;
  else t->stale_evals++;
  if ((improved && save_to(t, "checkpoints/best", err)) || save_to(t, "checkpoints/latest", err)) return err->status;
  t->saved_best |= improved;
  if (!t->o->quiet)
    printf("%s%s: step %lld: val_loss %.5g (best %.5g at step %lld)\n", t->progress.tty ? "\n" : "", t->chain->name,
           (long long)step, *val_loss, r->best_val_loss, (long long)r->best_step);
  t->eval_seconds += leap_progress_now() - t0;
  return LEAP_OK;
}

/* One optimizer step (1-based `step`); *stop is set when early stopping triggers. */
static leap_status train_step(trainer *t, int64_t step, bool *stop, leap_error *err) {
  const leap_train_config *tc = &t->cfg->train;
  const leap_batch *b;
  double loss;
  bool finite;
  if (leap_feeder_next(t->feeder, &b, err) || accumulate(t, b, step, &loss, &finite, err)) return err->status;
  float lr = leap_schedule_lr(&t->sched, step - 1);
  t->res->samples_seen += b->n;
  t->log_samples += b->n;
  if (!finite) {
    if (skip_step(t, step, loss, err)) return err->status;
  } else {
    t->consecutive_nonfinite = 0;
    leap_optimizer_step(&t->opt, lr);
    leap_params_zero_grad(t->chain->params);
    note_loss(t, loss);
  }
  bool last = step == t->o->steps;
  if (step % t->curve_stride == 0 || last) curve_add(t, step);
  if (!t->o->quiet) leap_progress_update(&t->progress, step, loss, lr, (double)b->n);
  double val_loss = NAN;
  bool eval = last || (tc->eval_every > 0 && step % tc->eval_every == 0);
  if (eval && evaluate(t, step, &val_loss, err)) return err->status;
  if (eval || last || (tc->log_every > 0 && step % tc->log_every == 0)) write_metrics(t, step, lr, val_loss);
  *stop = eval && tc->early_stop_patience > 0 && t->stale_evals >= tc->early_stop_patience;
  return LEAP_OK;
}

static void announce(const trainer *t) {
  printf("%s: %lld parameters, %lld steps of %lld samples (%lld micro-batches), %lld training samples/epoch, "
         "%lld val samples\n", t->o->label ? t->o->label : t->chain->name,
         (long long)leap_params_numel(t->chain->params), (long long)t->o->steps, (long long)t->cfg->train.batch,
         (long long)t->micro, (long long)leap_loader_samples_per_epoch(t->loader),
         (long long)(t->has_val ? t->val_x[0].shape[0] : 0));
  fflush(stdout);
}

static leap_status run(trainer *t, leap_error *err) {
  if (!t->o->quiet) {
    announce(t);
    int64_t every = t->cfg->train.log_every > 0 ? t->cfg->train.log_every : t->o->steps;
    leap_progress_init(&t->progress, stdout, t->o->steps, every, "samples/s");
  }
  t->log_time = t->start;
  for (int64_t step = 1; step <= t->o->steps; step++) {
    bool stop = false;
    if (train_step(t, step, &stop, err)) return err->status;
    t->res->steps_done = step;
    if (stop) {
      t->res->stopped_early = true;
      curve_add(t, step);
      break;
    }
  }
  if (!t->o->quiet) leap_progress_finish(&t->progress);
  /* Without a val group there is no best; the final weights stand for it. */
  if (!t->saved_best && save_to(t, "checkpoints/best", err)) return err->status;
  return LEAP_OK;
}

leap_status leap_train_chain(const leap_run_config *cfg, leap_runtime *rt, const leap_chain *chain,
                             const leap_train_options *options, leap_train_result *result, leap_error *err) {
  memset(result, 0, sizeof *result);
  trainer t;
  memset(&t, 0, sizeof t);
  t.cfg = cfg, t.chain = chain, t.o = options, t.res = result;
  t.start = leap_progress_now();
  leap_status st = setup(&t, rt, err);
  if (st == LEAP_OK) st = run(&t, err);
  teardown(&t);
  result->seconds = leap_progress_now() - t.start;
  return st;
}
