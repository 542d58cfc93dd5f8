/* Reproducibility on the CPU: the same seed gives the same bits, whatever the number of threads. Three training
 * steps of a GPT (with dropout, so the RNG is exercised) and of a conv net (with batch norm) are run with 1 and with
 * 2 threads, and every parameter must match exactly; a different seed must give different parameters. */
#include <stdlib.h>
#include <string.h>

#include "data/reverse_task.h"
#include "models/convnet.h"
#include "models/gpt.h"
#include "tests/common/leap_test.h"
#include "train/core/optimizer.h"

/* Runs 3 AdamW steps on the given model kind with `threads` threads; returns a copy of all parameters. */
static float *train_gpt(int threads, uint64_t seed, int64_t *n_out) {
  leap_runtime rt;
  leap_error err = {0};
  leap_runtime_init(&rt, LEAP_CPU, threads, &err);
  leap_reverse_task task = {16, 7};
  leap_gpt_config gc = {task.vocab, leap_reverse_task_context(&task), 2, 2, 32, 0.1f};
  leap_gpt gpt;
  leap_gpt_create(&gpt, &gc, LEAP_CPU, seed, &err);
  leap_optimizer opt;
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  leap_optimizer_create(&opt, &gpt.params, &oc, &err);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &rt, seed);
  int T = gc.context;
  for (int step = 0; step < 3; step++) {
    leap_ctx_begin_step(&ctx);
    leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_I32, 2, (int64_t[]){67, T}, false);
    leap_tensor *y = leap_ctx_tensor(&ctx, LEAP_I32, 2, (int64_t[]){67, T}, false);
    leap_reverse_task_batch(&task, 67, 4, (uint64_t)step, leap_i32(x), leap_i32(y));
    LEAP_TEST_ASSERT(leap_backward(&ctx, leap_gpt_loss(&gpt, &ctx, x, y), 1.0f) == LEAP_OK, "%s", ctx.err.message);
    leap_optimizer_step(&opt, 1e-3f);
    leap_params_zero_grad(&gpt.params);
  }
  int64_t n = leap_params_numel(&gpt.params), at = 0;
  float *all = malloc(sizeof(float) * (size_t)n);
  for (int i = 0; i < gpt.params.count; i++) {
    leap_tensor *t = gpt.params.items[i].tensor;
    memcpy(all + at, t->data, leap_tensor_bytes(t));
    at += leap_tensor_numel(t);
  }
  *n_out = n;
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_gpt_destroy(&gpt);
  return all;
}

static float *train_convnet(int threads, uint64_t seed, int64_t *n_out) {
  leap_runtime rt;
  leap_error err = {0};
  leap_runtime_init(&rt, LEAP_CPU, threads, &err);
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_convnet net;
  leap_convnet_config cc = {.in_h = 13, .in_w = 11, .in_c = 3, .n_conv = 2};
  cc.conv[0] = (leap_conv_layer_config){8, 3, 1, 1, 2, true};
  cc.conv[1] = (leap_conv_layer_config){12, 3, 2, 1, 1, true};
  cc.head = (leap_mlp_config){.outputs = 3, .n_hidden = 1, .hidden = {20}, .dropout = 0.2f};
  leap_convnet_create(&net, &cc, &ps, "", seed, &err);
  leap_optimizer opt;
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_SGD);
  leap_optimizer_create(&opt, &ps, &oc, &err);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &rt, seed);
  for (int step = 0; step < 3; step++) {
    leap_ctx_begin_step(&ctx);
    leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_F32, 4, (int64_t[]){70, 13, 11, 3}, false);
    leap_tensor *y = leap_ctx_tensor(&ctx, LEAP_F32, 2, (int64_t[]){70, 3}, false);
    leap_test_fill_uniform(leap_f32(x), leap_tensor_numel(x), 0, 1, 20 + (uint64_t)step);
    leap_test_fill_uniform(leap_f32(y), leap_tensor_numel(y), -1, 1, 40 + (uint64_t)step);
    leap_tensor *loss = leap_mse(&ctx, leap_convnet_forward(&net, &ctx, x), y);
    LEAP_TEST_ASSERT(leap_backward(&ctx, loss, 1.0f) == LEAP_OK, "%s", ctx.err.message);
    leap_optimizer_step(&opt, 1e-2f);
    leap_params_zero_grad(&ps);
  }
  int64_t n = 0, at = 0;
  for (int i = 0; i < ps.count; i++) n += leap_tensor_numel(ps.items[i].tensor);
  float *all = malloc(sizeof(float) * (size_t)n);
  for (int i = 0; i < ps.count; i++) { /* buffers (running statistics) included */
    memcpy(all + at, ps.items[i].tensor->data, leap_tensor_bytes(ps.items[i].tensor));
    at += leap_tensor_numel(ps.items[i].tensor);
  }
  *n_out = n;
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_params_free(&ps);
  return all;
}

typedef float *(*trainer)(int threads, uint64_t seed, int64_t *n);

static void check(const char *what, trainer train) {
  int64_t n1, n2, n3;
  float *one = train(1, 5, &n1), *two = train(2, 5, &n2), *other = train(2, 6, &n3);
  LEAP_TEST_ASSERT(n1 == n2 && memcmp(one, two, sizeof(float) * (size_t)n1) == 0,
                   "%s: 1 and 2 threads give different parameters", what);
  LEAP_TEST_ASSERT(memcmp(one, other, sizeof(float) * (size_t)n1) != 0, "%s: the seed changes nothing", what);
  free(one), free(two), free(other);
}

int main(void) {
  check("gpt", train_gpt);
  check("convnet", train_convnet);
  return leap_test_finish();
}
