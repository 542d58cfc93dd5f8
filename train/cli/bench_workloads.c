/* The workloads of the benchmark table, at exactly the sizes it gives: W1-W5 on the CPU (fp32) and on CUDA (bf16
 * activations, fp32 master weights and accumulation), G1-G5 on CUDA only. Inputs are deterministic random data,
 * never zeros. Each run() is one full iteration of what the row says is timed. */
#include "train/cli/bench_workloads.h"

#include <stdlib.h>

#include "kernels/blas/blas.h"
#ifdef LEAP_WITH_CUDA
#include "kernels/blas/blas_cuda.h"
#include "train/core/cuda_state.h"
#endif
#include "kernels/rng/rng.h"
#include "models/convnet.h"
#include "models/gpt.h"
#include "train/core/device_memory.h"
#include "train/core/optimizer.h"
#ifdef LEAP_WITH_CUDA
#include "kernels/elementwise/elementwise.h"
#endif

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
  if (rt->device == LEAP_CUDA) leap_ctx_set_precision(&s->ctx, LEAP_BF16);
  return s;
}

static void *gpt_setup(leap_runtime *rt, leap_gpt_config c, int64_t batch) {
  model_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  if (leap_gpt_create(&s->gpt, &c, rt->device, BENCH_SEED, &err)) return NULL;
  int64_t shape[2] = {batch, c.context};
  s->x = random_tensor(rt->device, LEAP_I32, 2, shape, c.vocab, 1);
  s->y = random_tensor(rt->device, LEAP_I32, 2, shape, c.vocab, 2);
  s->params = &s->gpt.params;
  return setup_optimizer(s, rt);
}

/* W1: GPT-2 architecture, vocab 512, context 128, 4 layers, 4 heads, 256 channels; batch 8. */
static void *w1_setup(leap_runtime *rt) { return gpt_setup(rt, (leap_gpt_config){512, 128, 4, 4, 256, 0.0f}, 8); }

/* G4: GPT-2 124M (vocab 50257 padded to 50304, a multiple of 128), context 1024, micro-batch 16. */
static void *g4_setup(leap_runtime *rt) { return gpt_setup(rt, (leap_gpt_config){50304, 1024, 12, 12, 768, 0.0f}, 16); }

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

/* W2: 64 images 64x64x3, conv 32/64/128 + ReLU + maxpool, linear 8192->256->3, MSE, AdamW; G5: batch 256. */
static void *convnet_setup(leap_runtime *rt, int64_t batch) {
  model_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  leap_params_init(&s->conv_params, rt->device);
  leap_convnet_config c = leap_convnet_config_w2(3);
  if (leap_convnet_create(&s->convnet, &c, &s->conv_params, "", BENCH_SEED, &err)) return NULL;
  int64_t xs[4] = {batch, 64, 64, 3}, ys[2] = {batch, 3};
  s->x = random_tensor(rt->device, LEAP_F32, 4, xs, 0, 3);
  s->y = random_tensor(rt->device, LEAP_F32, 2, ys, 0, 4);
  s->params = &s->conv_params;
  return setup_optimizer(s, rt);
}

static void *w2_setup(leap_runtime *rt) { return convnet_setup(rt, 64); }
static void *g5_setup(leap_runtime *rt) { return convnet_setup(rt, 256); }

/* G5 with cuDNN's convolutions in place of leap's (the op layer's engine switch), for the same-run comparison. */
static void *g5_cudnn_setup(leap_runtime *rt) {
  if (!leap_conv2d_set_cuda_engine(LEAP_CONV2D_ENGINE_CUDNN)) return NULL;
  return convnet_setup(rt, 256);
}

static void g5_cudnn_teardown(void *p) {
  model_teardown(p);
  leap_conv2d_set_cuda_engine(LEAP_CONV2D_ENGINE_IMPLICIT_GEMM);
}

static void w2_run(void *p) {
  model_state *s = p;
  leap_ctx_begin_step(&s->ctx);
  leap_tensor *x = leap_cast(&s->ctx, s->x, s->ctx.act), *y = leap_cast(&s->ctx, s->y, s->ctx.act);
  train_step(s, leap_mse(&s->ctx, leap_convnet_forward(&s->convnet, &s->ctx, x), y));
}

/* Op workloads (W3, W4, G1-G3): one op, forward only or forward + backward, on inputs that require gradients, with
 * a fixed random output gradient. On CUDA the inputs enter the bf16 pass through the cast op. */
typedef struct op_spec {
  bool attention, causal, backward;
  int64_t a, b, c, d;          /* attention: B, T, H, D; conv: N, H(=W), C, K */
  int kernel;                  /* conv kernel size (stride 1, same padding) */
} op_spec;

typedef struct op_state {
  leap_ctx ctx;
  leap_tensor *in[3], *dout;
  op_spec spec;
} op_state;

static void *op_setup(leap_runtime *rt, op_spec spec) {
  op_state *s = calloc(1, sizeof *s);
  leap_error err = {0};
  int64_t qkv[3] = {spec.a, spec.b, spec.c * spec.d}, x[4] = {spec.a, spec.b, spec.b, spec.c};
  int64_t w[4] = {spec.d, spec.kernel, spec.kernel, spec.c}, y[4] = {spec.a, spec.b, spec.b, spec.d};
  for (int i = 0; i < (spec.attention ? 3 : 2); i++) {
    const int64_t *shape = spec.attention ? qkv : (i == 0 ? x : w);
    int ndim = spec.attention ? 3 : 4;
    leap_tensor *src = random_tensor(rt->device, LEAP_F32, ndim, shape, 0, 10 + (uint64_t)i);
    s->in[i] = leap_tensor_create(rt->device, LEAP_F32, ndim, shape, "bench input", true, &err);
    leap_tensor_copy(s->in[i], src);
    leap_tensor_destroy(src);
  }
  s->dout = random_tensor(rt->device, LEAP_F32, spec.attention ? 3 : 4, spec.attention ? qkv : y, 0, 20);
  s->spec = spec;
  leap_ctx_init(&s->ctx, rt, BENCH_SEED);
  if (rt->device == LEAP_CUDA) leap_ctx_set_precision(&s->ctx, LEAP_BF16);
  return s;
}

static void op_run(void *p) {
  op_state *s = p;
  leap_ctx *ctx = &s->ctx;
  leap_ctx_begin_step(ctx);
  leap_tensor *in[3];
  for (int i = 0; i < 3; i++) in[i] = s->in[i] ? leap_cast(ctx, s->in[i], ctx->act) : NULL;
  leap_tensor *out = s->spec.attention
                         ? leap_attention(ctx, in[0], in[1], in[2], NULL, (int)s->spec.c, s->spec.causal)
                         : leap_conv2d(ctx, in[0], in[1], NULL, 1, s->spec.kernel / 2);
  if (!out) abort();
  if (s->spec.backward && leap_backward_with_grad(ctx, out, leap_cast(ctx, s->dout, ctx->act))) abort();
}

static void op_teardown(void *p) {
  op_state *s = p;
  for (int i = 0; i < 3; i++) leap_tensor_destroy(s->in[i]);
  leap_tensor_destroy(s->dout);
  leap_ctx_free(&s->ctx);
  free(s);
}

#define ATTN(B, T, H, D, causal, bwd) ((op_spec){true, causal, bwd, B, T, H, D, 0})
#define CONV(N, HW, C, K, R, bwd) ((op_spec){false, false, bwd, N, HW, C, K, R})
static void *w3_setup(leap_runtime *rt) { return op_setup(rt, ATTN(4, 512, 8, 64, true, true)); }
static void *w4_setup(leap_runtime *rt) { return op_setup(rt, CONV(16, 32, 64, 64, 3, true)); }
/* G1/G2 at B*H = 32 and 16k tokens: T 4096 with B 4, H 8 (D 128); and T 16384, B 1, H 32 (D 64). */
static void *g1a_setup(leap_runtime *rt) { return op_setup(rt, ATTN(4, 4096, 8, 128, false, false)); }
static void *g1b_setup(leap_runtime *rt) { return op_setup(rt, ATTN(4, 4096, 8, 128, true, false)); }
static void *g2a_setup(leap_runtime *rt) { return op_setup(rt, ATTN(4, 4096, 8, 128, false, true)); }
static void *g2b_setup(leap_runtime *rt) { return op_setup(rt, ATTN(4, 4096, 8, 128, true, true)); }
/* G3: ResNet-50 layers at N = 128. */
static void *g3a_setup(leap_runtime *rt) { return op_setup(rt, CONV(128, 56, 64, 64, 3, true)); }
static void *g3b_setup(leap_runtime *rt) { return op_setup(rt, CONV(128, 28, 128, 128, 3, true)); }
static void *g3c_setup(leap_runtime *rt) { return op_setup(rt, CONV(128, 14, 256, 256, 3, true)); }
static void *g3d_setup(leap_runtime *rt) { return op_setup(rt, CONV(128, 7, 512, 512, 3, true)); }
static void *g3e_setup(leap_runtime *rt) { return op_setup(rt, CONV(128, 56, 64, 256, 1, true)); }

/* W5: sgemm 1024^3 straight through the BLAS wrapper (on CUDA: bf16 inputs, fp32 accumulation and output). */
typedef struct gemm_state {
  leap_runtime *rt;
  float *a, *b, *c;
  void *da, *db, *dc;
} gemm_state;

static void *w5_setup(leap_runtime *rt) {
  gemm_state *s = calloc(1, sizeof *s);
  size_t n = 1024 * 1024;
  s->rt = rt;
  s->a = malloc(n * sizeof(float)), s->b = malloc(n * sizeof(float)), s->c = malloc(n * sizeof(float));
  leap_rng_fill_uniform_cpu(s->a, (int64_t)n, -1.0f, 1.0f, BENCH_SEED, 30, 0);
  leap_rng_fill_uniform_cpu(s->b, (int64_t)n, -1.0f, 1.0f, BENCH_SEED, 31, 0);
#ifdef LEAP_WITH_CUDA
  if (rt->device == LEAP_CUDA) {
    s->da = leap_device_alloc(LEAP_CUDA, n * 2), s->db = leap_device_alloc(LEAP_CUDA, n * 2);
    s->dc = leap_device_alloc(LEAP_CUDA, n * 4);
    float *tmp = leap_device_alloc(LEAP_CUDA, n * 4);
    leap_device_copy(LEAP_CUDA, tmp, LEAP_CPU, s->a, n * 4);
    leap_cast_cuda(s->da, LEAP_BF16, tmp, LEAP_F32, (int64_t)n, NULL);
    leap_device_copy(LEAP_CUDA, tmp, LEAP_CPU, s->b, n * 4);
    leap_cast_cuda(s->db, LEAP_BF16, tmp, LEAP_F32, (int64_t)n, NULL);
    leap_runtime_sync(rt);
    leap_device_free(LEAP_CUDA, tmp);
  }
#endif
  return s;
}

static void w5_run(void *p) {
  gemm_state *s = p;
#ifdef LEAP_WITH_CUDA
  if (s->rt->device == LEAP_CUDA) {
    leap_gemm_cuda(s->rt->cuda->blas, false, false, 1, 1024, 1024, 1024, 1.0f, s->da, 1024, 0, s->db, 1024, 0, 0.0f,
                   s->dc, 1024, 0, LEAP_BF16, LEAP_F32);
    return;
  }
#endif
  leap_sgemm_cpu(false, false, 1024, 1024, 1024, 1.0f, s->a, 1024, s->b, 1024, 0.0f, s->c, 1024);
}

static void w5_teardown(void *p) {
  gemm_state *s = p;
  if (s->da) leap_device_free(LEAP_CUDA, s->da), leap_device_free(LEAP_CUDA, s->db), leap_device_free(LEAP_CUDA, s->dc);
  free(s->a), free(s->b), free(s->c), free(s);
}

/* W6 lives in train/cli/bench_w6.c (it needs HDF5). */
void *leap__bench_w6_setup(leap_runtime *rt);
void leap__bench_w6_run(void *state);
void leap__bench_w6_teardown(void *state);

/* FLOPs: attention forward 4*B*H*T^2*D (half when causal), backward 2.5x; conv forward 2*N*K*C*R*S*H*W, backward 2x. */
#define ATTN_FWD(B, T, H, D, causal) (4.0 * (B) * (H) * (double)(T) * (T) * (D) * ((causal) ? 0.5 : 1.0))
#define CONV_FWD(N, HW, C, K, R) (2.0 * (N) * (K) * (C) * (R) * (R) * (double)(HW) * (HW))
/* G4's model FLOPs per step, as llm.c counts them: tokens x (6 x parameters + 12 x layers x channels x context),
 * with GPT-2 124M's 124,475,904 parameters (vocab padded to 50304). Over 989 TFLOP/s (H100/H200 dense bf16) this is
 * the model FLOPs utilisation. */
#define G4_FLOPS (16.0 * 1024 * (6.0 * 124475904 + 12.0 * 12 * 768 * 1024))
#define BOTH (LEAP_BENCH_CPU | LEAP_BENCH_CUDA)
#define GPU LEAP_BENCH_CUDA

const leap_bench_workload leap_bench_workloads[] = {
    {BOTH, "W1", "GPT training step (4L 4H 256C, B8 T128)", "tokens/s", 8 * 128, 0, w1_setup, w1_run, model_teardown,
     false},
    {BOTH, "W2", "conv net training step (B64 64x64x3)", "images/s", 64, 0, w2_setup, w2_run, model_teardown, false},
    {BOTH, "W3", "causal attention fwd+bwd (B4 H8 T512 D64)", "iters/s", 1, 3.5 * ATTN_FWD(4, 512, 8, 64, 1),
     w3_setup, op_run, op_teardown, false},
    {BOTH, "W4", "conv2d fwd+bwd (N16 C64 32x32 K64 3x3)", "iters/s", 1, 3.0 * CONV_FWD(16, 32, 64, 64, 3), w4_setup,
     op_run, op_teardown, false},
    {BOTH, "W5", "sgemm 1024x1024x1024", "iters/s", 1, 2.0 * 1024 * 1024 * 1024, w5_setup, w5_run, w5_teardown, false},
#ifdef LEAP_WITH_HDF5
    {LEAP_BENCH_CPU, "W6", "HDF5 loader: shuffled f32 batches of 64 (64x64x3)", "samples/s", 64, 0,
     leap__bench_w6_setup, leap__bench_w6_run, leap__bench_w6_teardown, false},
#endif
    {GPU, "G1", "attention fwd (B4 H8 T4096 D128)", "iters/s", 1, ATTN_FWD(4, 4096, 8, 128, 0), g1a_setup, op_run,
     op_teardown, false},
    {GPU, "G1c", "causal attention fwd (B4 H8 T4096 D128)", "iters/s", 1, ATTN_FWD(4, 4096, 8, 128, 1), g1b_setup,
     op_run, op_teardown, false},
    {GPU, "G2", "attention fwd+bwd (B4 H8 T4096 D128)", "iters/s", 1, 3.5 * ATTN_FWD(4, 4096, 8, 128, 0), g2a_setup,
     op_run, op_teardown, false},
    {GPU, "G2c", "causal attention fwd+bwd (B4 H8 T4096 D128)", "iters/s", 1, 3.5 * ATTN_FWD(4, 4096, 8, 128, 1),
     g2b_setup, op_run, op_teardown, false},
    {GPU, "G3a", "conv fwd+bwd N128 56x56 64->64 3x3", "iters/s", 1, 3.0 * CONV_FWD(128, 56, 64, 64, 3), g3a_setup,
     op_run, op_teardown, false},
    {GPU, "G3b", "conv fwd+bwd N128 28x28 128->128 3x3", "iters/s", 1, 3.0 * CONV_FWD(128, 28, 128, 128, 3),
     g3b_setup, op_run, op_teardown, false},
    {GPU, "G3c", "conv fwd+bwd N128 14x14 256->256 3x3", "iters/s", 1, 3.0 * CONV_FWD(128, 14, 256, 256, 3),
     g3c_setup, op_run, op_teardown, false},
    {GPU, "G3d", "conv fwd+bwd N128 7x7 512->512 3x3", "iters/s", 1, 3.0 * CONV_FWD(128, 7, 512, 512, 3), g3d_setup,
     op_run, op_teardown, false},
    {GPU, "G3e", "conv fwd+bwd N128 56x56 64->256 1x1", "iters/s", 1, 3.0 * CONV_FWD(128, 56, 64, 256, 1), g3e_setup,
     op_run, op_teardown, false},
    {GPU, "G4", "GPT-2 124M training step (B16 T1024)", "tokens/s", 16 * 1024, G4_FLOPS, g4_setup, w1_run,
     model_teardown, false},
    {GPU, "G5", "conv net training step (B256 64x64x3)", "images/s", 256, 0, g5_setup, w2_run, model_teardown, false},
    {GPU, "G5-cudnn", "G5 with cuDNN convolutions", "images/s", 256, 0, g5_cudnn_setup, w2_run, g5_cudnn_teardown,
     true},
    {0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, false},
};
