/* Kernel-level CUDA benchmarks: each row times one kernel call on device buffers, with no tape around it, so that
 * the figures the issues name can be read straight off the table:
 *   BW-*    memory-bound kernels in GB/s (bytes read + written), beside the device-to-device copy bandwidth
 *           measured in the same run (issue 5: the optimizer and elementwise kernels reach 80% of it);
 *   G1-*    attention forward and G2-* attention backward (dQ, dK, dV from the saved lse) for every shape of
 *           BENCHMARKS.md's G1 (B*H = 32, B*T = 16k tokens, T in {1024, 4096, 16384}, D in {64, 128}), with a c
 *           after the T for causal;
 *   G3x-*   each pass of BENCHMARKS.md's G3 convolution layers: fwd, bwd-data (dinp), bwd-filter (dweight);
 * and, in a build with cuDNN, rows ending in -cudnn: the same attention and convolution work through cuDNN, the
 * baseline the hand-written kernels are measured against in the same run. Inputs are deterministic random bf16. */
#include "train/cli/bench_workloads.h"

#include <stddef.h>

#ifdef LEAP_WITH_CUDA
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/activation/activation.h"
#include "kernels/attention/attention.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/optim/optim.h"
#include "kernels/rng/rng.h"
#include "train/core/cuda_state.h"
#include "train/core/device_memory.h"

#define KBENCH_SEED 4321
#define KBENCH_MAX_BUFFERS 8

typedef enum kbench_kind {
  KB_COPY, KB_ADAMW, KB_GELU, KB_ADD,
  KB_ATTN_FWD, KB_ATTN_BWD,
  KB_CONV_FWD, KB_CONV_BWD_DATA, KB_CONV_BWD_FILTER,
} kbench_kind;

typedef struct kbench_spec {
  kbench_kind kind;
  bool cudnn;          /* through the cuDNN baseline instead of leap's kernel */
  int64_t n;           /* memory-bound rows: elements */
  int64_t a, b, c, d;  /* attention: B, T, H, D; conv: N, H (= W), C, K */
  int kernel;          /* conv: kernel size (stride 1, same padding) */
  bool causal;
} kbench_spec;

typedef struct kbench_state {
  leap_runtime *rt;
  leap_cuda_stream stream;
  kbench_spec spec;
  void *buf[KBENCH_MAX_BUFFERS];
  leap_attention_shape attn;
  leap_conv2d_shape conv;
  int64_t step;
#ifdef LEAP_WITH_CUDNN
  leap_attention_cudnn *attn_dnn;
  leap_conv2d_cudnn *conv_dnn;
#endif
} kbench_state;

/* A device buffer of n elements of dtype, uniform random in [lo, hi). */
static void *random_device(leap_dtype dtype, int64_t n, float lo, float hi, uint64_t stream) {
  size_t bytes32 = sizeof(float) * (size_t)n;
  float *host = malloc(bytes32), *dev32 = leap_device_alloc(LEAP_CUDA, bytes32);
  if (!host || !dev32) abort();
  leap_rng_fill_uniform_cpu(host, n, lo, hi, KBENCH_SEED, stream, 0);
  leap_device_copy(LEAP_CUDA, dev32, LEAP_CPU, host, bytes32);
  free(host);
  if (dtype == LEAP_F32) return dev32;
  void *out = leap_device_alloc(LEAP_CUDA, (size_t)n * leap_dtype_size(dtype));
  if (!out) abort();
  leap_cast_cuda(out, dtype, dev32, LEAP_F32, n, NULL); /* the legacy stream: cudaFree below waits for it */
  leap_device_free(LEAP_CUDA, dev32);
  return out;
}

static void *zeros_device(size_t bytes) {
  void *p = leap_device_alloc(LEAP_CUDA, bytes ? bytes : 1);
  if (!p) abort();
  leap_device_memset_zero(LEAP_CUDA, p, bytes ? bytes : 1);
  return p;
}

static void memory_setup(kbench_state *s) {
  int64_t n = s->spec.n;
  switch (s->spec.kind) {
    case KB_COPY:
      s->buf[0] = random_device(LEAP_F32, n, -1.0f, 1.0f, 1), s->buf[1] = zeros_device(sizeof(float) * (size_t)n);
      break;
    case KB_ADAMW: /* param, m, v, grad (fp32) and the param's bf16 copy */
      for (int i = 0; i < 4; i++) s->buf[i] = random_device(LEAP_F32, n, i == 2 ? 0.0f : -1.0f, 1.0f, 2 + (uint64_t)i);
      s->buf[4] = zeros_device(2 * (size_t)n);
      break;
    case KB_GELU:
      s->buf[0] = random_device(LEAP_BF16, n, -3.0f, 3.0f, 6), s->buf[1] = zeros_device(2 * (size_t)n);
      break;
    default: /* KB_ADD: a (n) + a bias row of 768 fp32, the transformer's broadcast */
      s->buf[0] = random_device(LEAP_BF16, n, -1.0f, 1.0f, 7), s->buf[1] = random_device(LEAP_F32, 768, -1.0f, 1.0f, 8);
      s->buf[2] = zeros_device(2 * (size_t)n);
      break;
  }
}

static void attention_setup(kbench_state *s) {
  const kbench_spec *p = &s->spec;
  int64_t B = p->a, T = p->b, H = p->c, D = p->d, n = B * T * H * D;
  s->attn = (leap_attention_shape){B, H, T, T, D, H * D, H * D, H * D, H * D, p->causal, 1.0f / sqrtf((float)D)};
  for (int i = 0; i < 3; i++) s->buf[i] = random_device(LEAP_BF16, n, -1.0f, 1.0f, 10 + (uint64_t)i);
  s->buf[3] = zeros_device(2 * (size_t)n);                         /* out */
  s->buf[4] = zeros_device(sizeof(float) * (size_t)(B * H * T));   /* lse */
  s->buf[5] = random_device(LEAP_BF16, n, -1.0f, 1.0f, 20);         /* dout */
  s->buf[6] = zeros_device(2 * (size_t)n * 3);                     /* dq, dk, dv */
  s->buf[7] = zeros_device(sizeof(float) * leap_attention_workspace_floats_cuda(&s->attn));
  /* Backward rows need forward's out and lse. */
  leap_attention_forward_cuda(s->buf[3], s->buf[4], s->buf[0], s->buf[1], s->buf[2], NULL, &s->attn, LEAP_BF16,
                              s->stream);
}

/* The cuDNN plan of an attention row; false (with the reason on stderr) when cuDNN refuses the shape. */
static bool attention_cudnn_setup(kbench_state *s) {
#ifdef LEAP_WITH_CUDNN
  char msg[256] = "";
  s->attn_dnn = leap_attention_cudnn_create(&s->attn, s->spec.kind == KB_ATTN_BWD, msg, sizeof msg);
  if (!s->attn_dnn) fprintf(stderr, "leap: bench: cuDNN attention unavailable: %s\n", msg);
  return s->attn_dnn != NULL;
#else
  (void)s;
  return false;
#endif
}

static void conv_setup(kbench_state *s) {
  const kbench_spec *p = &s->spec;
  int64_t N = p->a, HW = p->b, C = p->c, K = p->d, R = p->kernel;
  leap_conv2d_shape_init(&s->conv, N, HW, HW, C, K, R, R, 1, 1, R / 2, R / 2);
  int64_t n_in = N * HW * HW * C, n_w = K * R * R * C, n_out = N * s->conv.P * s->conv.Q * K;
  s->buf[0] = random_device(LEAP_BF16, n_in, -1.0f, 1.0f, 30);   /* inp */
  s->buf[1] = random_device(LEAP_F32, n_w, -0.1f, 0.1f, 31);     /* weight */
  s->buf[2] = zeros_device(2 * (size_t)n_w);                     /* weight_lowp */
  leap_cast_cuda(s->buf[2], LEAP_BF16, s->buf[1], LEAP_F32, n_w, NULL);
  s->buf[3] = zeros_device(2 * (size_t)n_out);                   /* out */
  s->buf[4] = random_device(LEAP_BF16, n_out, -1.0f, 1.0f, 32);  /* dout */
  s->buf[5] = zeros_device(2 * (size_t)n_in);                    /* dinp */
  s->buf[6] = zeros_device(sizeof(float) * (size_t)n_w);         /* dweight */
  s->buf[7] = zeros_device(sizeof(float) * leap_conv2d_workspace_floats_cuda(&s->conv));
}

static void kbench_teardown(void *p);

static void *kbench_setup(leap_runtime *rt, kbench_spec spec) {
#ifndef LEAP_WITH_CUDNN
  if (spec.cudnn) return NULL;
#endif
  kbench_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->rt = rt, s->stream = rt->cuda->stream, s->spec = spec;
  bool ok = true;
  if (spec.kind <= KB_ADD) memory_setup(s);
  else if (spec.kind <= KB_ATTN_BWD) attention_setup(s), ok = !spec.cudnn || attention_cudnn_setup(s);
  else conv_setup(s);
#ifdef LEAP_WITH_CUDNN
  if (spec.cudnn && spec.kind >= KB_CONV_FWD) ok = (s->conv_dnn = leap_conv2d_cudnn_create()) != NULL;
#endif
  leap_runtime_sync(rt);
  if (!ok) kbench_teardown(s), s = NULL;
  return s;
}

static void memory_run(kbench_state *s) {
  void **b = s->buf;
  int64_t n = s->spec.n;
  switch (s->spec.kind) {
    case KB_COPY: leap_device_copy(LEAP_CUDA, b[1], LEAP_CUDA, b[0], sizeof(float) * (size_t)n); break;
    case KB_ADAMW:
      leap_adamw_update_cuda(b[0], b[1], b[2], b[3], b[4], n, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++s->step, 1.0f, NULL,
                             s->stream);
      break;
    case KB_GELU: leap_gelu_forward_cuda(b[1], b[0], n, LEAP_BF16, s->stream); break;
    default: leap_add_forward_cuda(b[2], b[0], b[1], n, 768, LEAP_BF16, LEAP_F32, s->stream); break;
  }
}

static void attention_run(kbench_state *s) {
  void **b = s->buf;
  size_t bytes = 2 * (size_t)(s->attn.B * s->attn.Tq * s->attn.H * s->attn.D);
  char *dqkv = b[6];
#ifdef LEAP_WITH_CUDNN
  if (s->attn_dnn) {
    if (s->spec.kind == KB_ATTN_FWD)
      leap_attention_cudnn_forward(s->attn_dnn, b[3], b[4], b[0], b[1], b[2], s->stream);
    else
      leap_attention_cudnn_backward(s->attn_dnn, dqkv, dqkv + bytes, dqkv + 2 * bytes, b[5], b[0], b[1], b[2], b[3],
                                    b[4], s->stream);
    return;
  }
#endif
  if (s->spec.kind == KB_ATTN_FWD)
    leap_attention_forward_cuda(b[3], b[4], b[0], b[1], b[2], NULL, &s->attn, LEAP_BF16, s->stream);
  else
    leap_attention_backward_cuda(dqkv, dqkv + bytes, dqkv + 2 * bytes, b[5], b[0], b[1], b[2], b[3], b[4], NULL,
                                 &s->attn, b[7], LEAP_BF16, s->stream);
}

static void conv_run(kbench_state *s) {
  void **b = s->buf;
#ifdef LEAP_WITH_CUDNN
  if (s->conv_dnn) {
    if (s->spec.kind == KB_CONV_FWD)
      leap_conv2d_forward_cudnn(s->conv_dnn, b[3], b[0], b[1], b[2], NULL, false, &s->conv, LEAP_BF16, s->stream);
    else if (s->spec.kind == KB_CONV_BWD_DATA)
      leap_conv2d_backward_cudnn(s->conv_dnn, b[5], NULL, NULL, b[4], b[0], b[1], b[2], &s->conv, LEAP_BF16,
                                 s->stream);
    else
      leap_conv2d_backward_cudnn(s->conv_dnn, NULL, b[6], NULL, b[4], b[0], b[1], b[2], &s->conv, LEAP_BF16,
                                 s->stream);
    return;
  }
#endif
  switch (s->spec.kind) {
    case KB_CONV_FWD:
      leap_conv2d_forward_cuda(b[3], b[0], b[1], b[2], NULL, &s->conv, LEAP_BF16, s->stream);
      break;
    case KB_CONV_BWD_DATA:
      leap_conv2d_backward_cuda(b[5], NULL, NULL, b[4], b[0], b[1], b[2], &s->conv, b[7], LEAP_BF16, s->stream);
      break;
    default:
      leap_conv2d_backward_cuda(NULL, b[6], NULL, b[4], b[0], b[1], b[2], &s->conv, b[7], LEAP_BF16, s->stream);
      break;
  }
}

static void kbench_run(void *p) {
  kbench_state *s = p;
  if (s->spec.kind <= KB_ADD) memory_run(s);
  else if (s->spec.kind <= KB_ATTN_BWD) attention_run(s);
  else conv_run(s);
}

static void kbench_teardown(void *p) {
  kbench_state *s = p;
  leap_runtime_sync(s->rt);
#ifdef LEAP_WITH_CUDNN
  if (s->attn_dnn) leap_attention_cudnn_destroy(s->attn_dnn);
  if (s->conv_dnn) leap_conv2d_cudnn_destroy(s->conv_dnn);
#endif
  for (int i = 0; i < KBENCH_MAX_BUFFERS; i++)
    if (s->buf[i]) leap_device_free(LEAP_CUDA, s->buf[i]);
  free(s);
}

/* One setup function per row (the table holds plain function pointers). */
#define MEM(name, k, elems) \
  static void *name(leap_runtime *rt) { return kbench_setup(rt, (kbench_spec){.kind = k, .n = elems}); }
#define ATT(name, k, B, T, H, D, CAUSAL, DNN)                                                                  \
  static void *name(leap_runtime *rt) {                                                                        \
    return kbench_setup(rt, (kbench_spec){.kind = k, .cudnn = DNN, .a = B, .b = T, .c = H, .d = D, .causal = CAUSAL}); \
  }
#define CNV(name, k, N, HW, C, K, R, dnn)                                                                    \
  static void *name(leap_runtime *rt) {                                                                      \
    return kbench_setup(rt, (kbench_spec){.kind = k, .cudnn = dnn, .a = N, .b = HW, .c = C, .d = K, .kernel = R}); \
  }

/* GPT-2 124M's parameter count for the optimizer; one (16, 1024, 3072) MLP activation for the elementwise rows. */
#define PARAMS_124M 124475904LL
#define MLP_ACT (16LL * 1024 * 3072)
MEM(bw_copy, KB_COPY, MLP_ACT)
MEM(bw_adamw, KB_ADAMW, PARAMS_124M)
MEM(bw_gelu, KB_GELU, MLP_ACT)
MEM(bw_add, KB_ADD, MLP_ACT)

/* Attention rows: (T, D) pairs at B*H = 32 and B*T = 16384 tokens, H = 32 / B. */
#define ATT_ROWS(T, D, B, H)                                              \
  ATT(g1_##T##_##D, KB_ATTN_FWD, B, T, H, D, false, false)                \
  ATT(g1c_##T##_##D, KB_ATTN_FWD, B, T, H, D, true, false)                \
  ATT(g2_##T##_##D, KB_ATTN_BWD, B, T, H, D, false, false)                \
  ATT(g2c_##T##_##D, KB_ATTN_BWD, B, T, H, D, true, false)                \
  ATT(g1_##T##_##D##_dnn, KB_ATTN_FWD, B, T, H, D, false, true)           \
  ATT(g1c_##T##_##D##_dnn, KB_ATTN_FWD, B, T, H, D, true, true)           \
  ATT(g2_##T##_##D##_dnn, KB_ATTN_BWD, B, T, H, D, false, true)           \
  ATT(g2c_##T##_##D##_dnn, KB_ATTN_BWD, B, T, H, D, true, true)
ATT_ROWS(1024, 64, 16, 2)
ATT_ROWS(1024, 128, 16, 2)
ATT_ROWS(4096, 64, 4, 8)
ATT_ROWS(4096, 128, 4, 8)
ATT_ROWS(16384, 64, 1, 32)
ATT_ROWS(16384, 128, 1, 32)

/* Convolution rows: ResNet-50 layers at N = 128, each pass, leap and cuDNN. */
#define CNV_ROWS(tag, HW, C, K, R)                                     \
  CNV(tag##_f, KB_CONV_FWD, 128, HW, C, K, R, false)                   \
  CNV(tag##_d, KB_CONV_BWD_DATA, 128, HW, C, K, R, false)              \
  CNV(tag##_w, KB_CONV_BWD_FILTER, 128, HW, C, K, R, false)            \
  CNV(tag##_f_dnn, KB_CONV_FWD, 128, HW, C, K, R, true)                \
  CNV(tag##_d_dnn, KB_CONV_BWD_DATA, 128, HW, C, K, R, true)           \
  CNV(tag##_w_dnn, KB_CONV_BWD_FILTER, 128, HW, C, K, R, true)
CNV_ROWS(G3a, 56, 64, 64, 3)
CNV_ROWS(G3b, 28, 128, 128, 3)
CNV_ROWS(G3c, 14, 256, 256, 3)
CNV_ROWS(G3d, 7, 512, 512, 3)
CNV_ROWS(G3e, 56, 64, 256, 1)

#define G LEAP_BENCH_CUDA
#define GB(bytes) ((double)(bytes) * 1e-9)
/* FLOPs: attention forward 4*B*H*T^2*D (half when causal), backward 2.5x; a conv pass 2*N*K*C*R*S*P*Q. */
#define AF(T, D, c) (4.0 * 32 * (double)(T) * (T) * (D) * ((c) ? 0.5 : 1.0))
#define CF(HW, C, K, R) (2.0 * 128 * (K) * (C) * (R) * (R) * (double)(HW) * (HW))
#define KROW(id, name, setup, flops) {G, id, name, "iters/s", 1, flops, setup, kbench_run, kbench_teardown, true}
#define ATT_TABLE(T, D)                                                                                             \
  KROW("G1-" #T "-" #D, "attention fwd T" #T " D" #D, g1_##T##_##D, AF(T, D, 0)),                                  \
  KROW("G1-" #T "-" #D "-cudnn", "cuDNN attention fwd T" #T " D" #D, g1_##T##_##D##_dnn, AF(T, D, 0)),             \
  KROW("G1-" #T "c-" #D, "causal attention fwd T" #T " D" #D, g1c_##T##_##D, AF(T, D, 1)),                         \
  KROW("G1-" #T "c-" #D "-cudnn", "cuDNN causal attention fwd T" #T " D" #D, g1c_##T##_##D##_dnn, AF(T, D, 1)),    \
  KROW("G2-" #T "-" #D, "attention bwd T" #T " D" #D, g2_##T##_##D, 2.5 * AF(T, D, 0)),                            \
  KROW("G2-" #T "-" #D "-cudnn", "cuDNN attention bwd T" #T " D" #D, g2_##T##_##D##_dnn, 2.5 * AF(T, D, 0)),       \
  KROW("G2-" #T "c-" #D, "causal attention bwd T" #T " D" #D, g2c_##T##_##D, 2.5 * AF(T, D, 1)),                   \
  KROW("G2-" #T "c-" #D "-cudnn", "cuDNN causal attention bwd T" #T " D" #D, g2c_##T##_##D##_dnn, 2.5 * AF(T, D, 1))
#define CNV_TABLE(tag, label, HW, C, K, R)                                                               \
  KROW(#tag "-fwd", "conv fwd " label, tag##_f, CF(HW, C, K, R)),                                        \
  KROW(#tag "-fwd-cudnn", "cuDNN conv fwd " label, tag##_f_dnn, CF(HW, C, K, R)),                        \
  KROW(#tag "-dgrad", "conv bwd-data " label, tag##_d, CF(HW, C, K, R)),                                 \
  KROW(#tag "-dgrad-cudnn", "cuDNN conv bwd-data " label, tag##_d_dnn, CF(HW, C, K, R)),                 \
  KROW(#tag "-wgrad", "conv bwd-filter " label, tag##_w, CF(HW, C, K, R)),                               \
  KROW(#tag "-wgrad-cudnn", "cuDNN conv bwd-filter " label, tag##_w_dnn, CF(HW, C, K, R))

const leap_bench_workload leap_bench_kernel_workloads[] = {
    {G, "BW-copy", "device copy (read + write)", "GB/s", GB(8 * MLP_ACT), 0, bw_copy, kbench_run, kbench_teardown,
     false},
    {G, "BW-adamw", "AdamW step, 124M params (30 B/param)", "GB/s", GB(30 * PARAMS_124M), 0, bw_adamw, kbench_run,
     kbench_teardown, false},
    {G, "BW-gelu", "GELU forward bf16 (16x1024x3072)", "GB/s", GB(4 * MLP_ACT), 0, bw_gelu, kbench_run,
     kbench_teardown, false},
    {G, "BW-add", "bias add bf16 (16x1024x3072)", "GB/s", GB(4 * MLP_ACT), 0, bw_add, kbench_run, kbench_teardown,
     false},
    ATT_TABLE(1024, 64), ATT_TABLE(1024, 128), ATT_TABLE(4096, 64), ATT_TABLE(4096, 128), ATT_TABLE(16384, 64),
    ATT_TABLE(16384, 128),
    CNV_TABLE(G3a, "56x56 64->64 3x3", 56, 64, 64, 3), CNV_TABLE(G3b, "28x28 128->128 3x3", 28, 128, 128, 3),
    CNV_TABLE(G3c, "14x14 256->256 3x3", 14, 256, 256, 3), CNV_TABLE(G3d, "7x7 512->512 3x3", 7, 512, 512, 3),
    CNV_TABLE(G3e, "56x56 64->256 1x1", 56, 64, 256, 1),
    {0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, false},
};
#else
const leap_bench_workload leap_bench_kernel_workloads[] = {{0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, false}};
#endif
