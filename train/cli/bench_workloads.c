/* W1-W5 of the benchmark table, at exactly the sizes the table gives. Inputs are deterministic random data, never
 * zeros. Each run() is one full iteration of what the row says is timed. */
#include "train/cli/bench_workloads.h"

#include <stdlib.h>

#include "kernels/blas/blas.h"
#include "kernels/rng/rng.h"
#include "models/convnet.h"
#include "models/gpt.h"
#include "train/core/optimizer.h"

#define BENCH_SEED 1234

typedef struct model_state {
  leap_ctx ctx;
  leap_gpt gpt;
  leap_params conv_params;
  leap_convnet convnet;
  leap_params *params;
  leap_optimizer opt;
  leap_tensor *x, *y; /* long-lived inputs and targets */
} model_state;

static leap_tensor *random_tensor(leap_device dev, leap_dtype dtype, int ndim, const int64_t *shape, int modulo,
                                  uint64_t stream) {
  leap_error err = {0};
  leap_tensor *t = leap_tensor_create(dev, dtype, ndim, shape, "bench input", false, &err);
  int64_t n = leap_tensor_numel(t);
  float *u = malloc(sizeof(float) * (size_t)n);
  leap_rng_fill_uniform_cpu(u, n, 0.0f, 1.0f, BENCH_SEED, stream, 0);
  if (dtype == LEAP_I32) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)(u[i] * (float)modulo) % modulo;
    leap_tensor_from_host(t, ids);
    free(ids);
  } else {
    leap_tensor_from_host(t, u);
  }
  free(u);
  return t;
}

static void *setup_optimizer(model_state *s, leap_runtime *rt) {
  leap_error err = {0};
  leap_optimizer_config oc = leap_optimizer_config_default(LEAP_OPTIM_ADAMW);
  oc.clip_norm = 0.0f;
  if (leap_optimizer_create(&s->opt, s->params, &oc, &err)) return NULL;
  leap_ctx_init(&s->ctx, rt, BENCH_SEED);
  return s;
}

/* W1: GPT-2 architecture, vocab 512, context 128, 4 layers, 4 heads, 256 channels; batch 8. */
static void *w1_setup(leap_runtime *rt) {
  model_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  leap_gpt_config c = {512, 128, 4, 4, 256, 0.0f};
  if (leap_gpt_create(&s->gpt, &c, rt->device, BENCH_SEED, &err)) return NULL;
  int64_t shape[2] = {8, 128};
  s->x = random_tensor(rt->device, LEAP_I32, 2, shape, 512, 1);
  s->y = random_tensor(rt->device, LEAP_I32, 2, shape, 512, 2);
  s->params = &s->gpt.params;
  return setup_optimizer(s, rt);
}

static void train_step(model_state *s, leap_tensor *loss) {
  if (leap_backward(&s->ctx, loss, 1.0f)) abort();
  leap_optimizer_step(&s->opt, 3e-4f);
  leap_params_zero_grad(s->params);
}

static void w1_run(void *p) {
  model_state *s = p;
  leap_ctx_begin_step(&s->ctx);
  train_step(s, leap_gpt_loss(&s->gpt, &s->ctx, s->x, s->y));
}

static void model_teardown(void *p) {
  model_state *s = p;
  leap_optimizer_destroy(&s->opt);
  leap_ctx_free(&s->ctx);
  if (s->gpt.blocks) leap_gpt_destroy(&s->gpt);
  else leap_params_free(&s->conv_params);
  leap_tensor_destroy(s->x);
  leap_tensor_destroy(s->y);
  free(s);
}

/* W2: 64 images 64x64x3, conv 32/64/128 + ReLU + maxpool, linear 8192->256->3, MSE, AdamW. */
static void *w2_setup(leap_runtime *rt) {
  model_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  leap_params_init(&s->conv_params, rt->device);
  leap_convnet_config c = leap_convnet_config_w2(3);
  if (leap_convnet_create(&s->convnet, &c, &s->conv_params, "", BENCH_SEED, &err)) return NULL;
  int64_t xs[4] = {64, 64, 64, 3}, ys[2] = {64, 3};
  s->x = random_tensor(rt->device, LEAP_F32, 4, xs, 0, 3);
  s->y = random_tensor(rt->device, LEAP_F32, 2, ys, 0, 4);
  s->params = &s->conv_params;
  return setup_optimizer(s, rt);
}

static void w2_run(void *p) {
  model_state *s = p;
  leap_ctx_begin_step(&s->ctx);
  train_step(s, leap_mse(&s->ctx, leap_convnet_forward(&s->convnet, &s->ctx, s->x), s->y));
}

/* W3 and W4: one op forward + backward, inputs that require gradients, a fixed random output gradient. */
typedef struct op_state {
  leap_ctx ctx;
  leap_tensor *in[3], *dout;
  int which;
} op_state;

static void *op_setup(leap_runtime *rt, int which) {
  op_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  int64_t qkv[3] = {4, 512, 512}, x[4] = {16, 32, 32, 64}, w[4] = {64, 3, 3, 64};
  for (int i = 0; i < (which == 3 ? 3 : 2); i++) {
    const int64_t *shape = which == 3 ? qkv : (i == 0 ? x : w);
    int ndim = which == 3 ? 3 : 4;
    leap_tensor *src = random_tensor(rt->device, LEAP_F32, ndim, shape, 0, 10 + (uint64_t)i);
    s->in[i] = leap_tensor_create(rt->device, LEAP_F32, ndim, shape, "bench input", true, &err);
    leap_tensor_copy(s->in[i], src);
    leap_tensor_destroy(src);
  }
  s->dout = random_tensor(rt->device, LEAP_F32, which == 3 ? 3 : 4, which == 3 ? qkv : x, 0, 20);
  s->which = which;
  leap_ctx_init(&s->ctx, rt, BENCH_SEED);
  return s;
}

static void *w3_setup(leap_runtime *rt) { return op_setup(rt, 3); }
static void *w4_setup(leap_runtime *rt) { return op_setup(rt, 4); }

static void op_run(void *p) {
  op_state *s = p;
  leap_ctx_begin_step(&s->ctx);
  leap_tensor *out = s->which == 3 ? leap_attention(&s->ctx, s->in[0], s->in[1], s->in[2], NULL, 8, true)
                                   : leap_conv2d(&s->ctx, s->in[0], s->in[1], NULL, 1, 1);
  if (leap_backward_with_grad(&s->ctx, out, s->dout)) abort();
}

static void op_teardown(void *p) {
  op_state *s = p;
  for (int i = 0; i < 3; i++) leap_tensor_destroy(s->in[i]);
  leap_tensor_destroy(s->dout);
  leap_ctx_free(&s->ctx);
  free(s);
}

/* W5: sgemm 1024^3 straight through the BLAS wrapper. */
typedef struct gemm_state {
  float *a, *b, *c;
} gemm_state;

static void *w5_setup(leap_runtime *rt) {
  gemm_state *s = calloc(1, sizeof *s);
  size_t n = 1024 * 1024;
  s->a = malloc(n * sizeof(float)), s->b = malloc(n * sizeof(float)), s->c = malloc(n * sizeof(float));
  leap_rng_fill_uniform_cpu(s->a, (int64_t)n, -1.0f, 1.0f, BENCH_SEED, 30, 0);
  leap_rng_fill_uniform_cpu(s->b, (int64_t)n, -1.0f, 1.0f, BENCH_SEED, 31, 0);
  return s;
}

static void w5_run(void *p) {
  gemm_state *s = p;
  leap_sgemm_cpu(false, false, 1024, 1024, 1024, 1.0f, s->a, 1024, s->b, 1024, 0.0f, s->c, 1024);
}

static void w5_teardown(void *p) {
  gemm_state *s = p;
  free(s->a), free(s->b), free(s->c), free(s);
}

/* W6 lives in train/cli/bench_w6.c (it needs HDF5). */
void *leap__bench_w6_setup(leap_runtime *rt);
void leap__bench_w6_run(void *state);
void leap__bench_w6_teardown(void *state);

#define W3_FWD_FLOPS (0.5 * 4.0 * 4 * 8 * 512.0 * 512.0 * 64)
#define W4_FWD_FLOPS (2.0 * 16 * 64 * 64 * 9 * 32 * 32)

const leap_bench_workload leap_bench_workloads[] = {
    {"W1", "GPT training step (4L 4H 256C, B8 T128)", "tokens/s", 8 * 128, 0, w1_setup, w1_run, model_teardown},
    {"W2", "conv net training step (B64 64x64x3)", "images/s", 64, 0, w2_setup, w2_run, model_teardown},
    {"W3", "causal attention fwd+bwd (B4 H8 T512 D64)", "iters/s", 1, 3.5 * W3_FWD_FLOPS, w3_setup, op_run,
     op_teardown},
    {"W4", "conv2d fwd+bwd (N16 C64 32x32 K64 3x3)", "iters/s", 1, 3.0 * W4_FWD_FLOPS, w4_setup, op_run, op_teardown},
    {"W5", "sgemm 1024x1024x1024", "iters/s", 1, 2.0 * 1024 * 1024 * 1024, w5_setup, w5_run, w5_teardown},
#ifdef LEAP_WITH_HDF5
    {"W6", "HDF5 loader: shuffled f32 batches of 64 (64x64x3)", "samples/s", 64, 0, leap__bench_w6_setup,
     leap__bench_w6_run, leap__bench_w6_teardown},
#endif
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};
