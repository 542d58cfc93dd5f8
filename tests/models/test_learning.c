/* Learning: an MLP, the conv net and a tiny GPT each drive the loss of a small fixed task below a stated
 * threshold, from a fixed seed. The thresholds sit well under where each model starts, so an engine that computes
 * wrong gradients fails them. */
#include <math.h>
#include <string.h>

#include "data/reverse_task.h"
#include "models/convnet.h"
#include "models/gpt.h"
#include "tests/common/leap_test.h"
#include "train/core/optimizer.h"

static leap_runtime g_rt;

/* MLP regression: y = sin(2 x0) + x1 * x2 on 256 fixed points. Starting MSE ~0.6; threshold 0.02. */
static void test_mlp(void) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_mlp mlp;
  leap_mlp_config mc = {.inputs = 3, .outputs = 1, .n_hidden = 2, .hidden = {64, 64}, .activation = LEAP_ACT_GELU};
  leap_mlp_create(&mlp, &mc, &ps, "mlp.", 1, &err);
  leap_optimizer opt;
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  oc.weight_decay = 0.0f;
  leap_optimizer_create(&opt, &ps, &oc, &err);
  enum { N = 256 };
  static float xs[N * 3], ys[N];
  leap_test_fill_uniform(xs, N * 3, -1.0f, 1.0f, 11);
  for (int i = 0; i < N; i++) ys[i] = sinf(2.0f * xs[3 * i]) + xs[3 * i + 1] * xs[3 * i + 2];
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  float first = 0, last = 0;
  for (int step = 0; step < 400; step++) {
    leap_ctx_begin_step(&ctx);
    leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_F32, 2, (int64_t[]){N, 3}, false);
    leap_tensor *y = leap_ctx_tensor(&ctx, LEAP_F32, 2, (int64_t[]){N, 1}, false);
    memcpy(x->data, xs, sizeof xs);
    memcpy(y->data, ys, sizeof ys);
    leap_tensor *loss = leap_mse(&ctx, leap_mlp_forward(&mlp, &ctx, x), y);
    if (leap_backward(&ctx, loss, 1.0f)) break;
    last = leap_f32(loss)[0];
    if (step == 0) first = last;
    leap_optimizer_step(&opt, 3e-3f);
    leap_params_zero_grad(&ps);
  }
  LEAP_TEST_ASSERT(last < 0.02f, "MLP loss %g -> %g, want < 0.02", first, last);
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_params_free(&ps);
}

/* Conv net: 16x16 images of a noisy background with one bright 3x3 square; regress its centre in [-1, 1].
 * The mean predictor's MSE is ~0.33; threshold 0.03. */
static void make_squares(float *img, float *pos, int n, uint64_t seed) {
  leap_test_fill_uniform(img, (int64_t)n * 16 * 16 * 3, 0.0f, 0.3f, seed);
  float u[2 * 64];
  leap_test_fill_uniform(u, 2 * n, 0.0f, 1.0f, seed + 1);
  for (int i = 0; i < n; i++) {
    int cx = 1 + (int)(u[2 * i] * 13.999f), cy = 1 + (int)(u[2 * i + 1] * 13.999f);
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++)
        for (int c = 0; c < 3; c++) img[(((int64_t)i * 16 + cy + dy) * 16 + cx + dx) * 3 + c] = 1.0f;
    pos[2 * i] = (cx - 7.5f) / 6.5f, pos[2 * i + 1] = (cy - 7.5f) / 6.5f;
  }
}

static void test_convnet(void) {
  leap_params ps;
  leap_params_init(&ps, LEAP_CPU);
  leap_error err = {0};
  leap_convnet net;
  leap_convnet_config cc = {.in_h = 16, .in_w = 16, .in_c = 3, .n_conv = 2};
  cc.conv[0] = (leap_conv_layer_config){16, 3, 1, 1, 2, false};
  cc.conv[1] = (leap_conv_layer_config){32, 3, 1, 1, 2, true};
  cc.head = (leap_mlp_config){.outputs = 2, .n_hidden = 1, .hidden = {64}, .activation = LEAP_ACT_RELU};
  LEAP_TEST_ASSERT(leap_convnet_create(&net, &cc, &ps, "cnn.", 2, &err) == LEAP_OK, "%s", err.message);
  leap_optimizer opt;
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  oc.weight_decay = 0.0f;
  leap_optimizer_create(&opt, &ps, &oc, &err);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  float last = 0, first = 0;
  for (int step = 0; step < 300; step++) {
    leap_ctx_begin_step(&ctx);
    leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_F32, 4, (int64_t[]){32, 16, 16, 3}, false);
    leap_tensor *y = leap_ctx_tensor(&ctx, LEAP_F32, 2, (int64_t[]){32, 2}, false);
    make_squares(leap_f32(x), leap_f32(y), 32, 1000 + (uint64_t)step * 2);
    leap_tensor *loss = leap_mse(&ctx, leap_convnet_forward(&net, &ctx, x), y);
    if (!LEAP_TEST_ASSERT(leap_backward(&ctx, loss, 1.0f) == LEAP_OK, "%s", ctx.err.message)) break;
    last = 0.9f * last + 0.1f * leap_f32(loss)[0];
    if (step == 0) first = last = leap_f32(loss)[0];
    leap_optimizer_step(&opt, 2e-3f);
    leap_params_zero_grad(&ps);
  }
  LEAP_TEST_ASSERT(last < 0.03f, "conv net loss %g -> %g (smoothed), want < 0.03", first, last);
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_params_free(&ps);
}

/* Tiny GPT on the reversal task: chance loss is ln(15) ~ 2.7; threshold 0.3. */
static void test_gpt(void) {
  leap_reverse_task task = {16, 6};
  leap_gpt_config gc = {task.vocab, leap_reverse_task_context(&task), 2, 4, 64, 0.0f};
  leap_gpt gpt;
  leap_error err = {0};
  leap_gpt_create(&gpt, &gc, LEAP_CPU, 3, &err);
  leap_optimizer opt;
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  oc.weight_decay = 0.01f;
  leap_optimizer_create(&opt, &gpt.params, &oc, &err);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &g_rt, 1);
  int T = gc.context;
  float last = 0, first = 0;
  for (int step = 0; step < 500; step++) {
    leap_ctx_begin_step(&ctx);
    leap_tensor *x = leap_ctx_tensor(&ctx, LEAP_I32, 2, (int64_t[]){32, T}, false);
    leap_tensor *y = leap_ctx_tensor(&ctx, LEAP_I32, 2, (int64_t[]){32, T}, false);
    leap_reverse_task_batch(&task, 32, 9, (uint64_t)step, leap_i32(x), leap_i32(y));
    leap_tensor *loss = leap_gpt_loss(&gpt, &ctx, x, y);
    if (!LEAP_TEST_ASSERT(leap_backward(&ctx, loss, 1.0f) == LEAP_OK, "%s", ctx.err.message)) break;
    last = step == 0 ? leap_f32(loss)[0] : 0.9f * last + 0.1f * leap_f32(loss)[0];
    if (step == 0) first = last;
    leap_optimizer_step(&opt, step < 50 ? 3e-3f * (float)(step + 1) / 50.0f : 3e-3f);
    leap_params_zero_grad(&gpt.params);
  }
  LEAP_TEST_ASSERT(first > 2.0f && last < 0.3f, "GPT loss %g -> %g (smoothed), want < 0.3", first, last);
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_gpt_destroy(&gpt);
}

int main(void) {
  leap_error err = {0};
  leap_runtime_init(&g_rt, LEAP_CPU, 2, &err);
  test_mlp();
  test_convnet();
  test_gpt();
  return leap_test_finish();
}
