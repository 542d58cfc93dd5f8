/* The cuDNN baseline (kernels/conv2d/conv2d_cudnn.cu) against the CPU reference: forward with bias, with the ReLU,
 * without bias; backward accumulating into random starting gradients; in fp32 and in bf16 (with the weight's bf16
 * copy, and from the fp32 weight, which the baseline rounds to bf16). The baseline must compute what the engine's
 * kernels compute for the comparison of their timings to mean anything. cuDNN may pick FFT or Winograd algorithms,
 * and computes bf16 filter gradients in bf16, so the tolerances are looser than the implicit-GEMM test's: fp32
 * 1e-3 absolute and relative, bf16 1e-2 relative with 1e-2 absolute. Bits are not compared from run to run: some
 * of cuDNN's algorithms are not deterministic. Skipped without a device, or in builds without cuDNN. */
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

#ifdef LEAP_WITH_CUDNN
#include "tests/common/leap_test_cuda.h"

typedef struct conv_case {
  const char *name;
  int64_t N, H, W, C, K, R, S, sh, sw, ph, pw;
} conv_case;

static const conv_case CASES[] = {
    {"3x3 pad 1 C3", 2, 13, 11, 3, 17, 3, 3, 1, 1, 1, 1},
    {"5x5 stride 2 pad 2 C3 (robot layer 1)", 4, 64, 64, 3, 16, 5, 5, 2, 2, 2, 2},
    {"3x3 C16 K32", 3, 17, 19, 16, 32, 3, 3, 1, 1, 1, 1},
    {"1x1 C64 K72", 2, 9, 11, 64, 72, 1, 1, 1, 1, 0, 0},
    {"3x3 stride 2 C32 K64", 2, 19, 21, 32, 64, 3, 3, 2, 2, 1, 1},
    {"7x7 stride 2 pad 3 C8 K8", 3, 29, 31, 8, 8, 7, 7, 2, 2, 3, 3},
};

typedef enum conv_mode { MODE_F32, MODE_BF16_LOWP, MODE_BF16_MASTER } conv_mode;
static const char *const MODE_NAMES[] = {"f32", "bf16 with weight_lowp", "bf16 with the fp32 weight"};

static void check_case(leap_conv2d_cudnn *ctx, const conv_case *c, conv_mode mode, uint64_t seed) {
  leap_conv2d_shape s;
  leap_conv2d_shape_init(&s, c->N, c->H, c->W, c->C, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw);
  const leap_dtype act = mode == MODE_F32 ? LEAP_F32 : LEAP_BF16;
  const double atol = act == LEAP_BF16 ? 1e-2 : 1e-3, rtol = act == LEAP_BF16 ? 1e-2 : 1e-3;
  const int64_t n_inp = s.N * s.H * s.W * s.C, n_w = s.K * s.R * s.S * s.C, n_out = s.N * s.P * s.Q * s.K;
  float *inp = tc_host(n_inp), *w = tc_host(n_w), *bias = tc_host(s.K), *dout = tc_host(n_out);
  float *dinp = tc_host(n_inp), *dw = tc_host(n_w), *db = tc_host(s.K);
  leap_test_fill_uniform(inp, n_inp, -1.0f, 1.0f, seed);
  leap_test_fill_uniform(w, n_w, -0.5f, 0.5f, seed + 1);
  leap_test_fill_uniform(bias, s.K, -1.0f, 1.0f, seed + 2);
  leap_test_fill_uniform(dout, n_out, -1.0f, 1.0f, seed + 3);
  leap_test_fill_uniform(dinp, n_inp, -1.0f, 1.0f, seed + 4);
  leap_test_fill_uniform(dw, n_w, -1.0f, 1.0f, seed + 5);
  leap_test_fill_uniform(db, s.K, -1.0f, 1.0f, seed + 6);
  tc_round(inp, n_inp, act), tc_round(dout, n_out, act), tc_round(dinp, n_inp, act);
  float *w_seen = tc_dup(w, n_w);
  tc_round(w_seen, n_w, act);

  float *ws = tc_host((int64_t)leap_conv2d_workspace_floats(&s, leap_kernels_threads()));
  float *out = tc_host(n_out), *out_nobias = tc_host(n_out), *out_relu = tc_host(n_out);
  leap_conv2d_forward_cpu(out, inp, w_seen, bias, &s, ws);
  leap_conv2d_forward_cpu(out_nobias, inp, w_seen, NULL, &s, ws);
  memcpy(out_relu, out, sizeof(float) * (size_t)n_out);
  leap_relu_forward_cpu(out_relu, out_relu, n_out);
  float *want_i = tc_dup(dinp, n_inp), *want_w = tc_dup(dw, n_w), *want_b = tc_dup(db, s.K);
  leap_conv2d_backward_cpu(want_i, want_w, want_b, dout, inp, w_seen, &s, ws);

  void *d_inp = tc_upload(inp, n_inp, act), *d_dout = tc_upload(dout, n_out, act);
  float *d_w = tc_upload(w, n_w, LEAP_F32), *d_bias = tc_upload(bias, s.K, LEAP_F32);
  void *d_wlow = mode == MODE_BF16_LOWP ? tc_upload(w, n_w, LEAP_BF16) : NULL;
  void *d_out = tc_alloc(n_out, act), *d_dinp = tc_alloc(n_inp, act);
  float *d_dw = tc_alloc(n_w, LEAP_F32), *d_db = tc_alloc(s.K, LEAP_F32);
  char what[256];
  const float *want_out[3] = {out_nobias, out, out_relu};
  for (int variant = 0; variant < 3; variant++) {
    tc_poison(d_out, n_out, act);
    leap_conv2d_forward_cudnn(ctx, d_out, d_inp, d_w, d_wlow, variant ? d_bias : NULL, variant == 2, &s, act,
                              g_stream);
    snprintf(what, sizeof what, "cudnn %s [%s]: forward%s%s", c->name, MODE_NAMES[mode],
             variant ? " with bias" : "", variant == 2 ? " + relu" : "");
    tc_expect(what, d_out, want_out[variant], n_out, act, atol);
  }
  tc_set(d_dinp, dinp, n_inp, act);
  tc_set(d_dw, dw, n_w, LEAP_F32);
  tc_set(d_db, db, s.K, LEAP_F32);
  leap_conv2d_backward_cudnn(ctx, d_dinp, d_dw, d_db, d_dout, d_inp, d_w, d_wlow, &s, act, g_stream);
  float *got = tc_host(n_inp > n_w ? n_inp : n_w);
  tc_download(got, d_dinp, n_inp, act);
  snprintf(what, sizeof what, "cudnn %s [%s]: dinp accumulated", c->name, MODE_NAMES[mode]);
  leap_test_allclose(what, got, want_i, n_inp, atol, rtol);
  tc_download(got, d_dw, n_w, LEAP_F32);
  snprintf(what, sizeof what, "cudnn %s [%s]: dweight accumulated", c->name, MODE_NAMES[mode]);
  leap_test_allclose(what, got, want_w, n_w, atol, rtol);
  tc_download(got, d_db, s.K, LEAP_F32);
  snprintf(what, sizeof what, "cudnn %s [%s]: dbias accumulated", c->name, MODE_NAMES[mode]);
  leap_test_allclose(what, got, want_b, s.K, atol, rtol);

  void *dev[] = {d_inp, d_dout, d_w, d_bias, d_wlow, d_out, d_dinp, d_dw, d_db};
  for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
    if (dev[i]) TC_CHECK(cudaFree(dev[i]));
  float *host[] = {inp,        w,        bias,   dout,   dinp,   dw,     db,  w_seen, ws, out,
                   out_nobias, out_relu, want_i, want_w, want_b, got};
  for (size_t i = 0; i < sizeof host / sizeof *host; i++) free(host[i]);
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  leap_conv2d_cudnn *ctx = leap_conv2d_cudnn_create();
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
    for (int mode = MODE_F32; mode <= MODE_BF16_MASTER; mode++)
      check_case(ctx, &CASES[i], (conv_mode)mode, 300 + 10 * i);
  leap_conv2d_cudnn_destroy(ctx);
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}

#else

int main(void) {
  printf("skipped: built without cuDNN\n");
  return LEAP_TEST_SKIP_CODE;
}

#endif
