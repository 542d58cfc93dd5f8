/* Attention CUDA kernels (attention_cuda.cu) against the CPU reference leap_attention_*_cpu: forward output and
 * lse (rows that see no key included: out 0, lse -inf) and backward into dq, dk, dv that start at random values
 * (accumulation), in fp32 and in bf16 (against the CPU on the same bf16-rounded inputs). Cases: T not a multiple
 * of any tile, Tq != Tk both ways, causal (bottom-right aligned) and not, key_len (including a batch with no
 * keys), D in {64, 80}, q/k/v fused in one (B,T,3,H,D) buffer (so dq, dk, dv interleave in one dqkv buffer) or
 * separate with padded row strides. Outputs and workspace are poisoned (NaN) before every run; the padding
 * between out's rows must stay untouched; every call runs twice and must give the same bits. Backward takes the
 * CPU forward's out and lse, so both sides see the same inputs.
 *
 * Tolerances: rtol 1e-4 in fp32 and 1e-2 in bf16; atol 2e-5 for out and lse (out is a convex mix of v), 1e-4 for
 * the gradients (sums over up to 130 rows); bf16 outputs add 1e-3 for their rounding. Without a CUDA device the
 * test prints "skipped" and exits 77. */
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

typedef struct attn_case {
  const char *name;
  int64_t B, H, Tq, Tk, D;
  bool causal;
  bool fused;          /* q, k, v in one (B,T,3,H,D) buffer; needs Tq == Tk */
  int64_t pad;         /* extra elements per row of q, k, v and out (unfused cases) */
  int32_t key_len[2];  /* visible keys of batches 0 and 1; {-1} for no key padding */
} attn_case;

static const attn_case CASES[] = {
    {"self causal T37 D64", 2, 3, 37, 37, 64, true, false, 0, {-1}},
    {"fused causal T45 D64", 2, 2, 45, 45, 64, true, true, 0, {-1}},
    {"cross full 19x53 D80 key_len padded", 2, 2, 19, 53, 80, false, false, 8, {53, 20}},
    {"cross causal 53x19 D80 key_len (rows see nothing)", 1, 2, 53, 19, 80, true, false, 0, {7}},
    {"cross causal 13x70 D64 key_len padded", 2, 1, 13, 70, 64, true, false, 3, {70, 33}},
    {"self full T33 D80 (a batch with no keys)", 2, 2, 33, 33, 80, false, false, 0, {0, 33}},
    {"self causal T130 D64", 1, 2, 130, 130, 64, true, false, 0, {-1}},
    {"fused full T67 D80 key_len", 2, 3, 67, 67, 80, false, true, 0, {60, 67}},
};

/* Inputs live in one array x (their gradients in g, at the same offsets): the fused (B,T,3,H,D) buffer or q, k, v
 * back to back; out (with row stride ldo) and lse apart. The device holds the same arrays in dtype act. */
typedef struct attn_data {
  const attn_case *c;
  leap_dtype act;
  leap_attention_shape s;
  int64_t nx, off_q, off_k, off_v, nout, nlse;
  float *x, *g0, *dout, *out, *lse, *out_seen, *g;
  int32_t *key_len;
  void *d_x, *d_g, *d_dout, *d_out, *d_out_seen;
  float *d_lse, *d_lse_seen, *d_ws;
  int32_t *d_key_len;
  int64_t ws_floats;
} attn_data;

static void layout(attn_data *a, const attn_case *c) {
  const int64_t HD = c->H * c->D;
  leap_attention_shape s = {c->B, c->H, c->Tq, c->Tk, c->D, 0, 0, 0, 0, c->causal, 1.0f / sqrtf((float)c->D)};
  if (c->fused) {
    s.ldq = s.ldk = s.ldv = 3 * HD;
    a->nx = c->B * c->Tq * 3 * HD, a->off_q = 0, a->off_k = HD, a->off_v = 2 * HD;
  } else {
    s.ldq = HD + c->pad, s.ldk = HD + 2 * c->pad, s.ldv = HD + 3 * c->pad;
    int64_t nq = c->B * c->Tq * s.ldq, nk = c->B * c->Tk * s.ldk;
    a->nx = nq + nk + c->B * c->Tk * s.ldv, a->off_q = 0, a->off_k = nq, a->off_v = nq + nk;
  }
  s.ldo = HD + c->pad;
  a->s = s;
  a->nout = c->B * c->Tq * s.ldo, a->nlse = c->B * c->H * c->Tq;
}

static void cpu_results(attn_data *a) {
  float *ws = tc_host((int64_t)leap_attention_workspace_floats(&a->s, leap_kernels_threads()));
  const float *x = a->x;
  a->out = tc_host(a->nout), a->lse = tc_host(a->nlse);
  leap_test_fill_uniform(a->out, a->nout, -1.0f, 1.0f, 99); /* the padding between rows: any values */
  leap_attention_forward_cpu(a->out, a->lse, x + a->off_q, x + a->off_k, x + a->off_v, a->key_len, &a->s, ws);
  a->out_seen = tc_dup(a->out, a->nout);
  tc_round(a->out_seen, a->nout, a->act);
  a->g = tc_dup(a->g0, a->nx);
  leap_attention_backward_cpu(a->g + a->off_q, a->g + a->off_k, a->g + a->off_v, a->dout, x + a->off_q,
                              x + a->off_k, x + a->off_v, a->out_seen, a->lse, a->key_len, &a->s, ws);
  free(ws);
}

static void data_init(attn_data *a, const attn_case *c, leap_dtype act, uint64_t seed) {
  memset(a, 0, sizeof *a);
  a->c = c, a->act = act;
  layout(a, c);
  a->x = tc_host(a->nx), a->g0 = tc_host(a->nx), a->dout = tc_host(a->nout);
  leap_test_fill_normal(a->x, a->nx, 1.0f, seed);
  leap_test_fill_uniform(a->g0, a->nx, -1.0f, 1.0f, seed + 1);
  leap_test_fill_uniform(a->dout, a->nout, -1.0f, 1.0f, seed + 2);
  tc_round(a->x, a->nx, act), tc_round(a->g0, a->nx, act), tc_round(a->dout, a->nout, act);
  if (c->key_len[0] >= 0) {
    a->key_len = malloc(sizeof(int32_t) * (size_t)c->B);
    memcpy(a->key_len, c->key_len, sizeof(int32_t) * (size_t)c->B);
    TC_CHECK(cudaMalloc((void **)&a->d_key_len, sizeof(int32_t) * (size_t)c->B));
    TC_CHECK(cudaMemcpyAsync(a->d_key_len, a->key_len, sizeof(int32_t) * (size_t)c->B, cudaMemcpyHostToDevice,
                             g_stream));
  }
  cpu_results(a);
  a->d_x = tc_upload(a->x, a->nx, act), a->d_g = tc_alloc(a->nx, act), a->d_dout = tc_upload(a->dout, a->nout, act);
  a->d_out = tc_alloc(a->nout, act), a->d_out_seen = tc_upload(a->out_seen, a->nout, act);
  a->d_lse = tc_alloc(a->nlse, LEAP_F32), a->d_lse_seen = tc_upload(a->lse, a->nlse, LEAP_F32);
  a->ws_floats = (int64_t)leap_attention_workspace_floats_cuda(&a->s);
  a->d_ws = tc_alloc(a->ws_floats, LEAP_F32);
}

static void data_free(attn_data *a) {
  float *h[] = {a->x, a->g0, a->dout, a->out, a->lse, a->out_seen, a->g};
  for (size_t i = 0; i < sizeof h / sizeof *h; i++) free(h[i]);
  free(a->key_len);
  void *d[] = {a->d_x, a->d_g, a->d_dout, a->d_out, a->d_out_seen, a->d_lse, a->d_lse_seen, a->d_ws, a->d_key_len};
  for (size_t i = 0; i < sizeof d / sizeof *d; i++)
    if (d[i]) TC_CHECK(cudaFree(d[i]));
}

/* Element offsets into a device buffer of dtype act. */
static void *at(void *base, int64_t off, leap_dtype act) { return (char *)base + (size_t)off * tc_elem(act); }

/* Forward twice into poisoned out and lse: out's rows and lse against the CPU, out's padding still poisoned (NaN),
 * the same bits both times. */
static void check_forward(attn_data *a, const char *name) {
  const leap_attention_shape *s = &a->s;
  const int64_t HD = s->H * s->D, rows = s->B * s->Tq;
  float *out[2] = {tc_host(a->nout), tc_host(a->nout)}, *lse[2] = {tc_host(a->nlse), tc_host(a->nlse)};
  for (int run = 0; run < 2; run++) {
    tc_poison(a->d_out, a->nout, a->act);
    tc_poison(a->d_lse, a->nlse, LEAP_F32);
    leap_attention_forward_cuda(a->d_out, a->d_lse, at(a->d_x, a->off_q, a->act), at(a->d_x, a->off_k, a->act),
                                at(a->d_x, a->off_v, a->act), a->d_key_len, s, a->act, g_stream);
    tc_download(out[run], a->d_out, a->nout, a->act);
    tc_download(lse[run], a->d_lse, a->nlse, LEAP_F32);
  }
  float *got = tc_host(rows * HD), *want = tc_host(rows * HD);
  int64_t touched = 0;
  for (int64_t r = 0; r < rows; r++) {
    memcpy(got + r * HD, out[0] + r * s->ldo, sizeof(float) * (size_t)HD);
    memcpy(want + r * HD, a->out + r * s->ldo, sizeof(float) * (size_t)HD);
    for (int64_t p = HD; p < s->ldo; p++) touched += !isnan(out[0][r * s->ldo + p]);
  }
  char what[256];
  snprintf(what, sizeof what, "%s [%s]: forward out", name, tc_name(a->act));
  leap_test_allclose(what, got, want, rows * HD, a->act == LEAP_BF16 ? 1e-3 : 2e-5, tc_rtol(a->act));
  LEAP_TEST_ASSERT(touched == 0, "%s: %lld padding elements written", what, (long long)touched);
  tc_same_bits(what, out[0], out[1], a->nout);
  snprintf(what, sizeof what, "%s [%s]: forward lse", name, tc_name(a->act));
  leap_test_allclose(what, lse[0], a->lse, a->nlse, 2e-5, tc_rtol(a->act));
  tc_same_bits(what, lse[0], lse[1], a->nlse);
  free(out[0]), free(out[1]), free(lse[0]), free(lse[1]), free(got), free(want);
}

static void launch_backward(void *user) {
  attn_data *a = user;
  leap_attention_backward_cuda(at(a->d_g, a->off_q, a->act), at(a->d_g, a->off_k, a->act),
                               at(a->d_g, a->off_v, a->act), a->d_dout, at(a->d_x, a->off_q, a->act),
                               at(a->d_x, a->off_k, a->act), at(a->d_x, a->off_v, a->act), a->d_out_seen,
                               a->d_lse_seen, a->d_key_len, &a->s, a->d_ws, a->act, g_stream);
}

static void check_case(const attn_case *c, leap_dtype act, uint64_t seed) {
  attn_data a;
  data_init(&a, c, act, seed);
  check_forward(&a, c->name);
  tc_result bwd[] = {
      {"backward dq, dk, dv accumulated", a.d_g, act, a.nx, a.g0, a.g, act == LEAP_BF16 ? 1e-3 : 1e-4},
      {"workspace", a.d_ws, LEAP_F32, a.ws_floats, NULL, NULL, 0.0},
  };
  tc_check_runs(c->name, act, bwd, 2, launch_backward, &a);
  data_free(&a);
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  const leap_dtype acts[2] = {LEAP_F32, LEAP_BF16};
  for (int a = 0; a < 2; a++)
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i], acts[a], 300 + 10 * i);
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}
