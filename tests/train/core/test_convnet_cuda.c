/* The conv nets train on the GPU with the implicit-GEMM convolutions as they do with the reference CUDA
 * convolutions (leap_conv2d_set_cuda_engine): the robot task's perception net (5x5 stride-2 first layer on RGB,
 * 3x3 layers with batch norm and max-pooling) and a W2-style net without batch norm (every convolution fused with
 * its ReLU), from the same initial weights and batches, regressing the mean brightness of each image quadrant.
 * In bf16 mode the loss curves agree within 2% at every step, in fp32 mode within 1e-4 relative over the first 10
 * steps (only the order of the sums differs), and the loss falls (to under 0.6 of the first step's). With cuDNN the
 * cuDNN engine is held to the same 2%. Skipped without a CUDA device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/convnet.h"
#include "tests/common/leap_test.h"
#include "train/core/device_memory.h"
#include "train/core/optimizer.h"

#define STEPS 40
#define BATCH 16
#define MAX_PIXELS (64 * 64 * 3)

typedef struct net_case {
  const char *name;
  leap_convnet_config config;
} net_case;

static net_case robot_case(void) {
  net_case c = {"robot perception net", {.in_h = 64, .in_w = 64, .in_c = 3, .n_conv = 4}};
  c.config.conv[0] = (leap_conv_layer_config){16, 5, 2, 2, 1, true};
  c.config.conv[1] = (leap_conv_layer_config){32, 3, 1, 1, 2, true};
  c.config.conv[2] = (leap_conv_layer_config){64, 3, 1, 1, 2, true};
  c.config.conv[3] = (leap_conv_layer_config){64, 3, 1, 1, 2, true};
  c.config.head = (leap_mlp_config){.outputs = 4, .n_hidden = 1, .hidden = {128}, .activation = LEAP_ACT_RELU};
  return c;
}

static net_case fused_case(void) {
  net_case c = {"conv net with fused ReLUs", {.in_h = 32, .in_w = 32, .in_c = 3, .n_conv = 3}};
  c.config.conv[0] = (leap_conv_layer_config){16, 3, 1, 1, 2, false};
  c.config.conv[1] = (leap_conv_layer_config){32, 3, 1, 1, 2, false};
  c.config.conv[2] = (leap_conv_layer_config){64, 3, 2, 1, 1, false};
  c.config.head = (leap_mlp_config){.outputs = 4, .n_hidden = 1, .hidden = {64}, .activation = LEAP_ACT_RELU};
  return c;
}

/* Batch i: uniform images and, as targets, each quadrant's mean brightness (centred), which a conv net can learn. */
static void batch(const leap_convnet_config *c, int i, float *x, float *y) {
  const int H = c->in_h, W = c->in_w, C = c->in_c;
  leap_test_fill_uniform(x, (int64_t)BATCH * H * W * C, 0.0f, 1.0f, 1000 + (uint64_t)i);
  for (int n = 0; n < BATCH; n++)
    for (int q = 0; q < 4; q++) {
      double s = 0.0;
      int h0 = (q / 2) * H / 2, w0 = (q % 2) * W / 2;
      for (int h = h0; h < h0 + H / 2; h++)
        for (int w = w0; w < w0 + W / 2; w++)
          for (int ch = 0; ch < C; ch++) s += x[(((int64_t)n * H + h) * W + w) * C + ch];
      y[n * 4 + q] = (float)(8.0 * (s / (H / 2 * W / 2 * C) - 0.5));
    }
}

/* The loss of each of STEPS training steps of a fresh net on the GPU with the given engine and precision. */
static void train(const net_case *nc, leap_conv2d_engine engine, leap_dtype act, float *losses) {
  leap_error err = {0};
  LEAP_TEST_ASSERT(leap_conv2d_set_cuda_engine(engine), "engine %d not available", (int)engine);
  leap_runtime rt;
  LEAP_TEST_ASSERT(leap_runtime_init(&rt, LEAP_CUDA, 2, &err) == LEAP_OK, "%s", err.message);
  leap_params params;
  leap_params_init(&params, LEAP_CUDA);
  leap_convnet net;
  LEAP_TEST_ASSERT(leap_convnet_create(&net, &nc->config, &params, "", 4, &err) == LEAP_OK, "%s", err.message);
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  leap_optimizer opt;
  leap_optimizer_create(&opt, &params, &oc, &err);
  leap_ctx ctx;
  leap_ctx_init(&ctx, &rt, 1);
  LEAP_TEST_ASSERT(leap_ctx_set_precision(&ctx, act) == LEAP_OK, "%s", ctx.err.message);
  static float x[BATCH * MAX_PIXELS], y[BATCH * 4];
  const leap_convnet_config *c = &nc->config;
  for (int i = 0; i < STEPS; i++) {
    batch(c, i, x, y);
    leap_ctx_begin_step(&ctx);
    int64_t xs[4] = {BATCH, c->in_h, c->in_w, c->in_c}, ys[2] = {BATCH, 4};
    leap_tensor *xt = leap_ctx_tensor(&ctx, LEAP_F32, 4, xs, false);
    leap_tensor *yt = leap_ctx_tensor(&ctx, LEAP_F32, 2, ys, false);
    leap_tensor_from_host(xt, x);
    leap_tensor_from_host(yt, y);
    if (act != LEAP_F32) xt = leap_cast(&ctx, xt, act), yt = leap_cast(&ctx, yt, act);
    leap_tensor *loss = leap_mse(&ctx, leap_convnet_forward(&net, &ctx, xt), yt);
    losses[i] = NAN;
    if (!LEAP_TEST_ASSERT(loss && leap_backward(&ctx, loss, 1.0f) == LEAP_OK, "%s: step %d: %s", nc->name, i,
                          ctx.err.message))
      break;
    leap_tensor_to_host(&losses[i], loss);
    leap_optimizer_step(&opt, 1e-3f);
    leap_params_zero_grad(&params);
  }
  leap_ctx_free(&ctx);
  leap_optimizer_destroy(&opt);
  leap_params_free(&params);
  leap_runtime_free(&rt);
  leap_conv2d_set_cuda_engine(LEAP_CONV2D_ENGINE_IMPLICIT_GEMM);
}

static void compare(const net_case *nc) {
  float igemm[STEPS], ref[STEPS], igemm32[STEPS], ref32[STEPS];
  char what[160];
  train(nc, LEAP_CONV2D_ENGINE_IMPLICIT_GEMM, LEAP_BF16, igemm);
  train(nc, LEAP_CONV2D_ENGINE_REFERENCE, LEAP_BF16, ref);
  snprintf(what, sizeof what, "%s: bf16 losses, implicit GEMM against the reference convolutions", nc->name);
  leap_test_allclose(what, igemm, ref, STEPS, 0.0, 2e-2);
  LEAP_TEST_ASSERT(igemm[STEPS - 1] < 0.6f * igemm[0], "%s: the loss went from %g to %g", nc->name, igemm[0],
                   igemm[STEPS - 1]);
  train(nc, LEAP_CONV2D_ENGINE_IMPLICIT_GEMM, LEAP_F32, igemm32);
  train(nc, LEAP_CONV2D_ENGINE_REFERENCE, LEAP_F32, ref32);
  snprintf(what, sizeof what, "%s: fp32 losses, steps 1-10, implicit GEMM against the reference", nc->name);
  leap_test_allclose(what, igemm32, ref32, 10, 0.0, 1e-4);
  if (leap_conv2d_set_cuda_engine(LEAP_CONV2D_ENGINE_CUDNN)) {
    float cudnn[STEPS];
    train(nc, LEAP_CONV2D_ENGINE_CUDNN, LEAP_BF16, cudnn);
    snprintf(what, sizeof what, "%s: bf16 losses, cuDNN against the reference convolutions", nc->name);
    leap_test_allclose(what, cudnn, ref, STEPS, 0.0, 2e-2);
  }
}

int main(void) {
  if (!leap_device_available(LEAP_CUDA)) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  net_case cases[2] = {robot_case(), fused_case()};
  for (int i = 0; i < 2; i++) compare(&cases[i]);
  return leap_test_finish();
}
