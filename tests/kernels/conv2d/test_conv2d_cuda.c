/* conv2d CUDA kernels against the CPU reference leap_conv2d_*_cpu, for both CUDA paths: the implicit-GEMM kernels
 * (conv2d_cuda.cu: bf16 tensor cores, fp32 FMAs) and the reference kernels (conv2d_ref_cuda.cu). Forward with and
 * without bias, and with the fused ReLU (implicit GEMM only); backward into gradients that start at random values
 * (accumulation), one gradient at a time, and a second run that must give the same bits; the ReLU mask of the
 * fused op's backward. Each case runs in three modes: fp32; bf16 activations with the weight's bf16 copy
 * (weight_lowp), against the CPU on the same bf16-rounded inputs and weight; bf16 activations reading the fp32
 * weight (weight_lowp NULL), which the implicit-GEMM kernels round to bf16 on the way into the tensor cores (so the
 * CPU sees the rounded weight) and the reference kernels read as it is. Outputs are poisoned (NaN) before every
 * run, and so is the workspace. Sizes are odd and no multiple of any tile: stride 2, 1x1 (plain and strided), 7x7,
 * C = 3, rectangular kernels, C and K multiples of 8 (the cp.async path) and not (the gather path), several tiles
 * in every GEMM dimension, and enough output pixels to cut backward-filter into several reduction slices.
 *
 * Tolerances (|got - want| <= atol + rtol |want|): rtol 1e-4 in fp32 and 1e-2 in bf16; atol 1e-4 for outputs and
 * dinp, 1e-3 for dweight and dbias (sums over every output pixel), as in the CPU test against double sums; bf16
 * mode adds 1e-3 for its outputs' rounding. Without a CUDA device the test prints "skipped" and exits 77. */
#include <cuda_runtime.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation/activation.h"
#include "kernels/common/kernel_common.h"
#include "kernels/conv2d/conv2d.h"
#include "tests/common/leap_test.h"

#include "tests/common/leap_test_cuda.h"

typedef struct conv_case {
  const char *name;
  int64_t N, H, W, C, K, R, S, sh, sw, ph, pw;
} conv_case;

static const conv_case CASES[] = {
    {"3x3 pad 1 C3", 2, 13, 11, 3, 17, 3, 3, 1, 1, 1, 1},
    {"7x7 stride 2 pad 3 C3", 2, 23, 19, 3, 20, 7, 7, 2, 2, 3, 3},
    {"1x1", 3, 7, 9, 19, 33, 1, 1, 1, 1, 0, 0},
    {"1x1 stride 2", 2, 9, 7, 21, 13, 1, 1, 2, 2, 0, 0},
    {"3x3 stride 2", 2, 15, 17, 37, 70, 3, 3, 2, 2, 1, 1},
    {"5x5 pad 2", 1, 9, 11, 5, 67, 5, 5, 1, 1, 2, 2},
    {"3x5 stride (2,1) pad (0,2)", 2, 8, 7, 3, 5, 3, 5, 2, 1, 0, 2},
    {"2x2 stride 3", 2, 8, 8, 3, 4, 2, 2, 3, 3, 0, 0},
    {"3x3 pad 2 (beyond kernel)", 1, 4, 5, 2, 3, 3, 3, 1, 1, 2, 2},
    {"many pixels (filter slices)", 4, 33, 35, 24, 40, 3, 3, 1, 1, 1, 1},
    {"wide K", 1, 6, 7, 67, 130, 3, 3, 1, 1, 1, 1},
    {"3x3 C16 K32 (vector)", 3, 17, 19, 16, 32, 3, 3, 1, 1, 1, 1},
    {"1x1 C64 K72 (vector)", 2, 9, 11, 64, 72, 1, 1, 1, 1, 0, 0},
    {"3x3 stride 2 C32 K64 (vector)", 2, 19, 21, 32, 64, 3, 3, 2, 2, 1, 1},
    {"5x5 stride 2 C16 K136 (vector)", 2, 21, 17, 16, 136, 5, 5, 2, 2, 2, 2},
    {"7x7 stride 2 C8 K8 (vector)", 3, 29, 31, 8, 8, 7, 7, 2, 2, 3, 3},
    {"C8 K13 (vector forward, gathered backward)", 2, 11, 10, 8, 13, 3, 3, 1, 1, 1, 1},
    {"robot layer 2 (many pixels, vector)", 16, 32, 32, 16, 32, 3, 3, 1, 1, 1, 1},
};

/* A CUDA path: its functions and whether it rounds an fp32 weight to bf16 in bf16 mode. */
typedef struct conv_engine {
  const char *name;
  void (*forward)(void *, const void *, const float *, const void *, const float *, const leap_conv2d_shape *,
                  leap_dtype, leap_cuda_stream);
  void (*forward_relu)(void *, const void *, const float *, const void *, const float *, const leap_conv2d_shape *,
                       leap_dtype, leap_cuda_stream);
  void (*backward)(void *, float *, float *, const void *, const void *, const float *, const void *,
                   const leap_conv2d_shape *, float *, leap_dtype, leap_cuda_stream);
  size_t (*workspace_floats)(const leap_conv2d_shape *);
  bool rounds_master_weight;
} conv_engine;

static const conv_engine ENGINES[] = {
    {"implicit GEMM", leap_conv2d_forward_cuda, leap_conv2d_forward_relu_cuda, leap_conv2d_backward_cuda,
     leap_conv2d_workspace_floats_cuda, true},
    {"reference", leap_conv2d_forward_ref_cuda, NULL, leap_conv2d_backward_ref_cuda,
     leap_conv2d_workspace_floats_ref_cuda, false},
};

typedef enum conv_mode { MODE_F32, MODE_BF16_LOWP, MODE_BF16_MASTER } conv_mode;
static const char *const MODE_NAMES[] = {"f32", "bf16 with weight_lowp", "bf16 with the fp32 weight"};

/* The inputs as the device sees them (bf16-rounded in bf16 modes) and the CPU's results on them. */
typedef struct conv_host {
  leap_conv2d_shape s;
  leap_dtype act;
  int64_t n_inp, n_w, n_out;
  float *inp, *weight, *weight_seen, *bias, *dout, *dinp0, *dw0, *db0;
  float *out, *out_nobias, *out_relu, *dinp, *dw, *db;
} conv_host;

/* The device copies of the inputs and the result buffers. */
typedef struct conv_dev {
  void *inp, *weight_lowp, *dout, *out, *dinp;
  float *weight, *bias, *dw, *db, *ws;
  int64_t ws_floats;
} conv_dev;

static void host_init(conv_host *h, const conv_case *c, conv_mode mode, const conv_engine *eng, uint64_t seed) {
  leap_conv2d_shape_init(&h->s, c->N, c->H, c->W, c->C, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw);
  h->act = mode == MODE_F32 ? LEAP_F32 : LEAP_BF16;
  h->n_inp = c->N * c->H * c->W * c->C, h->n_w = c->K * c->R * c->S * c->C, h->n_out = c->N * h->s.P * h->s.Q * c->K;
  h->inp = tc_host(h->n_inp), h->weight = tc_host(h->n_w), h->bias = tc_host(c->K), h->dout = tc_host(h->n_out);
  h->dinp0 = tc_host(h->n_inp), h->dw0 = tc_host(h->n_w), h->db0 = tc_host(c->K);
  leap_test_fill_uniform(h->inp, h->n_inp, -1.0f, 1.0f, seed);
  leap_test_fill_uniform(h->weight, h->n_w, -0.5f, 0.5f, seed + 1);
  leap_test_fill_uniform(h->bias, c->K, -1.0f, 1.0f, seed + 2);
  leap_test_fill_uniform(h->dout, h->n_out, -1.0f, 1.0f, seed + 3);
  leap_test_fill_uniform(h->dinp0, h->n_inp, -1.0f, 1.0f, seed + 4);
  leap_test_fill_uniform(h->dw0, h->n_w, -1.0f, 1.0f, seed + 5);
  leap_test_fill_uniform(h->db0, c->K, -1.0f, 1.0f, seed + 6);
  tc_round(h->inp, h->n_inp, h->act);
  tc_round(h->dout, h->n_out, h->act);
  tc_round(h->dinp0, h->n_inp, h->act);
  h->weight_seen = tc_dup(h->weight, h->n_w);
  if (mode == MODE_BF16_LOWP || (mode == MODE_BF16_MASTER && eng->rounds_master_weight))
    tc_round(h->weight_seen, h->n_w, LEAP_BF16);

  float *ws = tc_host((int64_t)leap_conv2d_workspace_floats(&h->s, leap_kernels_threads()));
  h->out = tc_host(h->n_out), h->out_nobias = tc_host(h->n_out);
  leap_conv2d_forward_cpu(h->out, h->inp, h->weight_seen, h->bias, &h->s, ws);
  leap_conv2d_forward_cpu(h->out_nobias, h->inp, h->weight_seen, NULL, &h->s, ws);
  h->out_relu = tc_dup(h->out, h->n_out);
  leap_relu_forward_cpu(h->out_relu, h->out_relu, h->n_out);
  h->dinp = tc_dup(h->dinp0, h->n_inp), h->dw = tc_dup(h->dw0, h->n_w), h->db = tc_dup(h->db0, c->K);
  leap_conv2d_backward_cpu(h->dinp, h->dw, h->db, h->dout, h->inp, h->weight_seen, &h->s, ws);
  free(ws);
}

static void host_free(conv_host *h) {
  float *p[] = {h->inp, h->weight, h->weight_seen, h->bias, h->dout, h->dinp0, h->dw0, h->db0, h->out,
                h->out_nobias, h->out_relu, h->dinp, h->dw, h->db};
  for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

static void dev_init(conv_dev *d, const conv_host *h, conv_mode mode, const conv_engine *eng) {
  d->inp = tc_upload(h->inp, h->n_inp, h->act);
  d->dout = tc_upload(h->dout, h->n_out, h->act);
  d->weight = tc_upload(h->weight, h->n_w, LEAP_F32);
  d->weight_lowp = mode == MODE_BF16_LOWP ? tc_upload(h->weight, h->n_w, LEAP_BF16) : NULL;
  d->bias = tc_upload(h->bias, h->s.K, LEAP_F32);
  d->out = tc_alloc(h->n_out, h->act);
  d->dinp = tc_alloc(h->n_inp, h->act);
  d->dw = tc_alloc(h->n_w, LEAP_F32);
  d->db = tc_alloc(h->s.K, LEAP_F32);
  d->ws_floats = (int64_t)eng->workspace_floats(&h->s);
  d->ws = tc_alloc(d->ws_floats, LEAP_F32);
}

static void dev_free(conv_dev *d) {
  void *p[] = {d->inp, d->weight_lowp, d->dout, d->out, d->dinp, d->weight, d->bias, d->dw, d->db, d->ws};
  for (size_t i = 0; i < sizeof p / sizeof *p; i++)
    if (p[i]) TC_CHECK(cudaFree(p[i]));
}

/* Forward (fused with the ReLU when relu) into a poisoned output; got = the result as floats. */
static void run_forward(float *got, conv_dev *d, const conv_host *h, const conv_engine *eng, bool with_bias,
                        bool relu) {
  tc_poison(d->out, h->n_out, h->act);
  (relu ? eng->forward_relu : eng->forward)(d->out, d->inp, d->weight, d->weight_lowp, with_bias ? d->bias : NULL,
                                            &h->s, h->act, g_stream);
  tc_download(got, d->out, h->n_out, h->act);
}

/* Backward from the random starting gradients, with the workspace poisoned; the flags pick the gradients. */
static void run_backward(float *gi, float *gw, float *gb, conv_dev *d, const conv_host *h, const conv_engine *eng,
                         bool want_i, bool want_w, bool want_b) {
  tc_set(d->dinp, h->dinp0, h->n_inp, h->act);
  tc_set(d->dw, h->dw0, h->n_w, LEAP_F32);
  tc_set(d->db, h->db0, h->s.K, LEAP_F32);
  tc_poison(d->ws, d->ws_floats, LEAP_F32);
  eng->backward(want_i ? d->dinp : NULL, want_w ? d->dw : NULL, want_b ? d->db : NULL, d->dout, d->inp, d->weight,
                d->weight_lowp, &h->s, d->ws, h->act, g_stream);
  tc_download(gi, d->dinp, h->n_inp, h->act);
  tc_download(gw, d->dw, h->n_w, LEAP_F32);
  tc_download(gb, d->db, h->s.K, LEAP_F32);
}

static void check_forward(conv_dev *d, const conv_host *h, const conv_engine *eng, const char *name) {
  const double atol = h->act == LEAP_BF16 ? 1e-3 : 1e-4;
  float *a = tc_host(h->n_out), *b = tc_host(h->n_out);
  char what[320];
  for (int variant = 0; variant < 3; variant++) {
    bool with_bias = variant > 0, relu = variant == 2;
    if (relu && !eng->forward_relu) continue;
    run_forward(a, d, h, eng, with_bias, relu);
    run_forward(b, d, h, eng, with_bias, relu);
    snprintf(what, sizeof what, "%s: forward %s bias%s", name, with_bias ? "with" : "without", relu ? " + relu" : "");
    leap_test_allclose(what, a, relu ? h->out_relu : with_bias ? h->out : h->out_nobias, h->n_out, atol,
                       tc_rtol(h->act));
    tc_same_bits(what, a, b, h->n_out);
  }
  free(a), free(b);
}

static void check_backward(conv_dev *d, const conv_host *h, const conv_engine *eng, const char *name) {
  const int64_t n[3] = {h->n_inp, h->n_w, h->s.K};
  const float *want[3] = {h->dinp, h->dw, h->db};
  const char *label[3] = {"dinp", "dweight", "dbias"};
  const double atol[3] = {h->act == LEAP_BF16 ? 1e-3 : 1e-4, 1e-3, 1e-3};
  float *first[3], *again[3];
  for (int i = 0; i < 3; i++) first[i] = tc_host(n[i]), again[i] = tc_host(n[i]);
  run_backward(first[0], first[1], first[2], d, h, eng, true, true, true);
  run_backward(again[0], again[1], again[2], d, h, eng, true, true, true);
  char what[320];
  for (int i = 0; i < 3; i++) {
    snprintf(what, sizeof what, "%s: %s accumulated", name, label[i]);
    leap_test_allclose(what, first[i], want[i], n[i], atol[i], tc_rtol(h->act));
    tc_same_bits(what, first[i], again[i], n[i]);
  }
  /* One gradient at a time: the same bits as all three at once, the others left as they were. */
  for (int i = 0; i < 3; i++) {
    run_backward(again[0], again[1], again[2], d, h, eng, i == 0, i == 1, i == 2);
    snprintf(what, sizeof what, "%s: %s alone", name, label[i]);
    tc_same_bits(what, first[i], again[i], n[i]);
  }
  for (int i = 0; i < 3; i++) free(first[i]), free(again[i]);
}

/* The fused op's backward mask: dout where out > 0, 0 elsewhere (out has exact zeros, as after a ReLU). */
static void check_relu_mask(leap_dtype act) {
  const int64_t n = 100003;
  float *dout = tc_host(n), *out = tc_host(n), *want = tc_host(n);
  leap_test_fill_uniform(dout, n, -1.0f, 1.0f, 7);
  leap_test_fill_uniform(out, n, -1.0f, 1.0f, 8);
  for (int64_t i = 0; i < n; i++) out[i] = out[i] < 0.0f ? 0.0f : out[i];
  tc_round(dout, n, act);
  tc_round(out, n, act);
  memset(want, 0, sizeof(float) * (size_t)n);
  leap_relu_backward_cpu(want, dout, out, n);
  void *d_dout = tc_upload(dout, n, act), *d_out = tc_upload(out, n, act), *d_masked = tc_alloc(n, act);
  leap_conv2d_relu_mask_cuda(d_masked, d_dout, d_out, n, act, g_stream);
  char what[64];
  snprintf(what, sizeof what, "relu mask [%s]", tc_name(act));
  tc_expect(what, d_masked, want, n, act, 0.0);
  TC_CHECK(cudaFree(d_dout));
  TC_CHECK(cudaFree(d_out));
  TC_CHECK(cudaFree(d_masked));
  free(dout), free(out), free(want);
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  for (size_t e = 0; e < sizeof ENGINES / sizeof *ENGINES; e++)
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
      for (int mode = MODE_F32; mode <= MODE_BF16_MASTER; mode++) {
        char name[200];
        snprintf(name, sizeof name, "%s: %s [%s]", ENGINES[e].name, CASES[i].name, MODE_NAMES[mode]);
        conv_host h;
        conv_dev d;
        host_init(&h, &CASES[i], (conv_mode)mode, &ENGINES[e], 100 + 10 * i);
        dev_init(&d, &h, (conv_mode)mode, &ENGINES[e]);
        check_forward(&d, &h, &ENGINES[e], name);
        check_backward(&d, &h, &ENGINES[e], name);
        dev_free(&d);
        host_free(&h);
      }
  check_relu_mask(LEAP_F32);
  check_relu_mask(LEAP_BF16);
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}
