/* leap demo: trains a tiny GPT on the built-in reversal task (data/reverse_task.h), with the progress line, and
 * reports the loss and the exact-match accuracy of greedy predictions on held-out batches. It needs no data file:
 * the quickest way to see the engine learn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reverse_task.h"
#include "models/gpt.h"
#include "train/cli/cli.h"
#include "train/loop/progress.h"
#include "train/core/optimizer.h"
#include "train/core/schedule.h"

#define DEMO_SEED 7
#define DEMO_EVAL_BATCHES 4

typedef struct demo_options {
  int steps, batch, threads;
} demo_options;

/* Fraction of scored positions whose argmax prediction is right, on batches the training never saw. */
static double evaluate(leap_gpt *gpt, leap_ctx *ctx, const leap_reverse_task *task, int batch) {
  int T = leap_reverse_task_context(task), V = task->vocab;
  int64_t shape[2] = {batch, T};
  int64_t right = 0, scored = 0;
  ctx->grad_enabled = false;
  for (int e = 0; e < DEMO_EVAL_BATCHES; e++) {
    leap_ctx_begin_step(ctx);
    leap_tensor *x = leap_ctx_tensor(ctx, LEAP_I32, 2, shape, false), *y = leap_ctx_tensor(ctx, LEAP_I32, 2, shape, false);
    leap_reverse_task_batch(task, batch, DEMO_SEED + 1, (uint64_t)e, leap_i32(x), leap_i32(y));
    leap_tensor *logits = leap_gpt_forward(gpt, ctx, x);
    if (!logits) break;
    for (int64_t r = 0; r < (int64_t)batch * T; r++) {
      if (leap_i32(y)[r] < 0) continue;
      const float *row = leap_f32(logits) + r * V;
      int best = 0;
      for (int v = 1; v < V; v++) best = row[v] > row[best] ? v : best;
      right += best == leap_i32(y)[r], scored++;
    }
  }
  ctx->grad_enabled = true;
  return scored ? (double)right / (double)scored : 0.0;
}

static int run_demo(const demo_options *o) {
  leap_runtime rt;
  leap_error err = {0};
  if (leap_runtime_init(&rt, LEAP_CPU, o->threads, &err)) return fprintf(stderr, "leap: demo: %s\n", err.message), 1;
  leap_reverse_task task = {16, 8};
  leap_gpt_config gc = {task.vocab, leap_reverse_task_context(&task), 2, 4, 64, 0.0f};
  leap_gpt gpt;
  leap_optimizer opt;
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  oc.weight_decay = 0.01f;
  if (leap_gpt_create(&gpt, &gc, LEAP_CPU, DEMO_SEED, &err) || leap_optimizer_create(&opt, &gpt.params, &oc, &err))
    return fprintf(stderr, "leap: demo: %s\n", err.message), 1;
  leap_schedule sched = {LEAP_SCHEDULE_WARMUP_COSINE, 3e-3f, 3e-4f, o->steps / 10, o->steps};
  leap_ctx ctx;
  leap_ctx_init(&ctx, &rt, DEMO_SEED);
  int T = gc.context;
  int64_t shape[2] = {o->batch, T};
  printf("leap demo: GPT (%d layers, %d heads, %d channels, %lld parameters) learning to reverse %d symbols\n",
         gc.layers, gc.heads, gc.channels, (long long)leap_params_numel(&gpt.params), task.length);
  leap_progress progress;
  leap_progress_init(&progress, stdout, o->steps, o->steps / 10, "tok/s");
  double loss_value = 0.0;
  for (int step = 0; step < o->steps; step++) {
    leap_ctx_begin_step(&ctx);
    leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_I32, 2, shape, false), *y = leap_ctx_tensor(&ctx, LEAP_I32, 2, shape, false);
    leap_reverse_task_batch(&task, o->batch, DEMO_SEED, (uint64_t)step, leap_i32(x), leap_i32(y));
    leap_tensor *loss = leap_gpt_loss(&gpt, &ctx, x, y);
    if (leap_backward(&ctx, loss, 1.0f)) return fprintf(stderr, "leap: demo: %s\n", ctx.err.message), 1;
    loss_value = leap_f32(loss)[0];
    float lr = leap_schedule_lr(&sched, step);
    leap_optimizer_step(&opt, lr);
    leap_params_zero_grad(&gpt.params);
    leap_progress_update(&progress, step + 1, loss_value, lr, (double)o->batch * T);
  }
  leap_progress_finish(&progress);
  double accuracy = evaluate(&gpt, &ctx, &task, o->batch);
  printf("leap demo: final training loss %.4f, held-out accuracy %.1f%% (chance %.1f%%)\n", loss_value,
         100.0 * accuracy, 100.0 / (task.vocab - 1));
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_gpt_destroy(&gpt);
  return 0;
}

int leap_cli_demo(int argc, char **argv) {
  demo_options o = {600, 32, 2};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) {
      printf("usage: leap demo [--steps N] [--batch N] [--threads N]\n"
             "Trains a tiny GPT to reverse sequences (built-in data) and reports held-out accuracy.\n");
      return 0;
    }
    int *slot = !strcmp(argv[i], "--steps") ? &o.steps : !strcmp(argv[i], "--batch") ? &o.batch
              : !strcmp(argv[i], "--threads") ? &o.threads : NULL;
    if (!slot || i + 1 >= argc) return leap_cli_usage_error("demo: unknown argument '%s' (leap demo --help)", argv[i]);
    if (!leap_cli_parse_int(argv[i], argv[i + 1], slot)) return 2;
    i++;
  }
  return run_demo(&o);
}
