/* cuDNN's fused attention, the benchmark baseline (leap_attention_cudnn_*, kernels/attention/attention_cudnn.cu),
 * against the CPU reference (leap_attention_forward_cpu / leap_attention_backward_cpu) on the same bf16-rounded
 * inputs: a wrong graph, a wrong stride or a wrong reading of cuDNN's Stats must fail here before `leap bench`
 * prints a cuDNN figure.
 *
 * Cases: D in {64, 128} x T in {128, 200} x causal and not (B = 2, H = 3, q, k, v, out and dout in separate
 * (B,T,H,D) buffers), one case with padded row strides (H*D + 8: the strides reach cuDNN, the padding must stay
 * untouched), one with D = 24 (a head size the flash kernels send to the generic path: cuDNN either refuses it or
 * must get it right). Forward: out and lse from NaN-poisoned buffers. Backward: from the CPU's out (rounded to
 * bf16, as the device holds it) and lse, into NaN-poisoned dq, dk, dv, which cuDNN WRITES (the CPU accumulates
 * into zeros); run twice, the same bits both times (the plan leaves out cuDNN's atomic dQ accumulator).
 *
 * Tolerances: |got - want| <= atol + 1e-2 |want| with atol 1e-2 of the result's root-mean-square (bf16 P and dS
 * round to 8 bits before their matmuls, as in the flash kernels); lse atol 1e-3 (fp32 throughout, only the order
 * of the sums differs). Refused shapes: a causal mask with Tq != Tk must give NULL with a reason in msg, in both
 * directions, never an abort. A case cuDNN should take but refuses (NULL) fails loudly with cuDNN's reason.
 *
 * Without cuDNN in the build (LEAP_WITH_CUDNN undefined) or without a CUDA device the test prints "skipped" and
 * exits 77. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

#include "tests/common/leap_test_cuda.h"

#ifdef LEAP_WITH_CUDNN

typedef struct dnn_case {
  const char *name;
  int64_t B, H, T, D, pad;
  bool causal;
  bool may_refuse; /* a shape cuDNN is free to refuse; when it takes it, the results must be right */
} dnn_case;

static const dnn_case CASES[] = {
    {"T128 D64", 2, 3, 128, 64, 0, false, false},       {"T128 D64 causal", 2, 3, 128, 64, 0, true, false},
    {"T200 D64", 2, 3, 200, 64, 0, false, false},       {"T200 D64 causal", 2, 3, 200, 64, 0, true, false},
    {"T128 D128", 2, 3, 128, 128, 0, false, false},     {"T128 D128 causal", 2, 3, 128, 128, 0, true, false},
    {"T200 D128", 2, 3, 200, 128, 0, false, false},     {"T200 D128 causal", 2, 3, 200, 128, 0, true, false},
    {"T200 D64 causal, rows padded by 8", 2, 3, 200, 64, 8, true, false},
    {"T128 D24", 1, 2, 128, 24, 0, false, true},
};

/* Tolerance fraction of the root-mean-square (and relative) for bf16 results. */
#define BF16_FRAC 1e-2
#define LSE_ATOL 1e-3

static double rms(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return n ? sqrt(s / (double)n) : 0.0;
}

/* got (downloaded, rows of ld elements) against want (same layout) on the H*D elements of each row; the padding
 * of got must still be NaN (nothing written there). */
static void expect_rows(const char *name, const char *what, const float *got, const float *want, int64_t rows,
                        int64_t HD, int64_t ld, double atol_frac, double rtol) {
  float *g = tc_host(rows * HD), *w = tc_host(rows * HD);
  int64_t touched = 0;
  for (int64_t r = 0; r < rows; r++) {
    memcpy(g + r * HD, got + r * ld, sizeof(float) * (size_t)HD);
    memcpy(w + r * HD, want + r * ld, sizeof(float) * (size_t)HD);
    for (int64_t p = HD; p < ld; p++) touched += !isnan(got[r * ld + p]);
  }
  char label[256];
  snprintf(label, sizeof label, "cudnn %s: %s", name, what);
  leap_test_allclose(label, g, w, rows * HD, atol_frac * rms(w, rows * HD), rtol);
  LEAP_TEST_ASSERT(touched == 0, "%s: %lld padding elements written", label, (long long)touched);
  free(g), free(w);
}

/* A plan, or a loud failure with cuDNN's reason (a skip when the case allows cuDNN to refuse). */
static leap_attention_cudnn *plan(const dnn_case *c, const leap_attention_shape *s, bool backward) {
  char msg[512] = "";
  leap_attention_cudnn *a = leap_attention_cudnn_create(s, backward, msg, sizeof msg);
  if (!a) {
    if (c->may_refuse) {
      printf("cudnn %s: %s refused (allowed): %s\n", c->name, backward ? "backward" : "forward", msg);
      LEAP_TEST_ASSERT(msg[0] != '\0', "cudnn %s: refused without a reason", c->name);
    } else {
      LEAP_TEST_ASSERT(false, "cudnn %s: %s plan refused: %s", c->name, backward ? "backward" : "forward", msg);
    }
  }
  return a;
}

static void check_case(const dnn_case *c, uint64_t seed) {
  const int64_t HD = c->H * c->D, ld = HD + c->pad, rows = c->B * c->T, n = rows * ld, nlse = c->B * c->H * c->T;
  leap_attention_shape s = {c->B, c->H, c->T, c->T, c->D, ld, ld, ld, ld, c->causal, 1.0f / sqrtf((float)c->D)};
  float *q = tc_host(n), *k = tc_host(n), *v = tc_host(n), *dout = tc_host(n);
  leap_test_fill_normal(q, n, 1.0f, seed);
  leap_test_fill_normal(k, n, 1.0f, seed + 1);
  leap_test_fill_uniform(v, n, -1.0f, 1.0f, seed + 2);
  leap_test_fill_uniform(dout, n, -1.0f, 1.0f, seed + 3);
  tc_round(q, n, LEAP_BF16), tc_round(k, n, LEAP_BF16), tc_round(v, n, LEAP_BF16), tc_round(dout, n, LEAP_BF16);

  /* The CPU reference: forward, then backward from the bf16-rounded out into zeroed gradients. */
  float *ws = tc_host((int64_t)leap_attention_workspace_floats(&s, leap_kernels_threads()));
  float *out = tc_host(n), *lse = tc_host(nlse);
  float *dq = calloc((size_t)n, sizeof(float)), *dk = calloc((size_t)n, sizeof(float));
  float *dv = calloc((size_t)n, sizeof(float));
  leap_test_fill_uniform(out, n, -1.0f, 1.0f, 99); /* the padding between rows: any values */
  leap_attention_forward_cpu(out, lse, q, k, v, NULL, &s, ws);
  tc_round(out, n, LEAP_BF16);
  leap_attention_backward_cpu(dq, dk, dv, dout, q, k, v, out, lse, NULL, &s, ws);

  void *d_q = tc_upload(q, n, LEAP_BF16), *d_k = tc_upload(k, n, LEAP_BF16), *d_v = tc_upload(v, n, LEAP_BF16);
  void *d_dout = tc_upload(dout, n, LEAP_BF16), *d_out = tc_alloc(n, LEAP_BF16);
  float *d_lse = tc_alloc(nlse, LEAP_F32);
  float *got = tc_host(n), *got_lse = tc_host(nlse);

  leap_attention_cudnn *fwd = plan(c, &s, false);
  if (fwd) {
    tc_poison(d_out, n, LEAP_BF16);
    tc_poison(d_lse, nlse, LEAP_F32);
    leap_attention_cudnn_forward(fwd, d_out, d_lse, d_q, d_k, d_v, g_stream);
    tc_download(got, d_out, n, LEAP_BF16);
    tc_download(got_lse, d_lse, nlse, LEAP_F32);
    expect_rows(c->name, "forward out", got, out, rows, HD, ld, BF16_FRAC, BF16_FRAC);
    char label[256];
    snprintf(label, sizeof label, "cudnn %s: forward lse", c->name);
    leap_test_allclose(label, got_lse, lse, nlse, LSE_ATOL, 1e-4);
    leap_attention_cudnn_destroy(fwd);
  }

  leap_attention_cudnn *bwd = plan(c, &s, true);
  if (bwd) {
    void *d_grad[3] = {tc_alloc(n, LEAP_BF16), tc_alloc(n, LEAP_BF16), tc_alloc(n, LEAP_BF16)};
    const float *want[3] = {dq, dk, dv};
    const char *names[3] = {"backward dq", "backward dk", "backward dv"};
    float *runs[2][3];
    tc_set(d_out, out, n, LEAP_BF16);
    TC_CHECK(cudaMemcpyAsync(d_lse, lse, sizeof(float) * (size_t)nlse, cudaMemcpyHostToDevice, g_stream));
    for (int run = 0; run < 2; run++) {
      for (int g = 0; g < 3; g++) tc_poison(d_grad[g], n, LEAP_BF16);
      leap_attention_cudnn_backward(bwd, d_grad[0], d_grad[1], d_grad[2], d_dout, d_q, d_k, d_v, d_out, d_lse,
                                    g_stream);
      for (int g = 0; g < 3; g++) {
        runs[run][g] = tc_host(n);
        tc_download(runs[run][g], d_grad[g], n, LEAP_BF16);
      }
    }
    for (int g = 0; g < 3; g++) {
      expect_rows(c->name, names[g], runs[0][g], want[g], rows, HD, ld, BF16_FRAC, BF16_FRAC);
      char label[256];
      snprintf(label, sizeof label, "cudnn %s: %s (second run)", c->name, names[g]);
      tc_same_bits(label, runs[0][g], runs[1][g], n);
      free(runs[0][g]), free(runs[1][g]);
      TC_CHECK(cudaFree(d_grad[g]));
    }
    leap_attention_cudnn_destroy(bwd);
  }

  void *bufs[6] = {d_q, d_k, d_v, d_dout, d_out, d_lse};
  for (int i = 0; i < 6; i++) TC_CHECK(cudaFree(bufs[i]));
  free(q), free(k), free(v), free(dout), free(ws), free(out), free(lse), free(dq), free(dk), free(dv);
  free(got), free(got_lse);
}

/* A shape this file refuses (causal with Tq != Tk: leap's mask is bottom-right aligned) comes back as NULL with a
 * reason, in both directions. */
static void check_refused(void) {
  leap_attention_shape s = {1, 2, 64, 128, 64, 128, 128, 128, 128, true, 0.125f};
  for (int backward = 0; backward < 2; backward++) {
    char msg[512] = "";
    leap_attention_cudnn *a = leap_attention_cudnn_create(&s, backward, msg, sizeof msg);
    LEAP_TEST_ASSERT(a == NULL, "cudnn causal 64x128 %s: created, expected a refusal", backward ? "bwd" : "fwd");
    LEAP_TEST_ASSERT(msg[0] != '\0', "cudnn causal 64x128 %s: refused without a reason", backward ? "bwd" : "fwd");
    if (a) leap_attention_cudnn_destroy(a);
  }
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i], 700 + 10 * i);
  check_refused();
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}

#else

int main(void) {
  printf("skipped: built without cuDNN (LEAP_WITH_CUDNN undefined)\n");
  return LEAP_TEST_SKIP_CODE;
}

#endif
