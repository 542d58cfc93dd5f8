/* The flash-attention CUDA kernels (leap_attention_*_cuda) against a reference: forward out and lse (rows that see
 * no key included: out 0, lse -inf at exactly the same rows) and backward into dq, dk, dv that start from nonzero
 * values (accumulation), in bf16 and in fp32.
 *
 * Cases. (1) The table: causal and not x D in {64, 128, 80} x T in {1, 17, 128, 1000, 4096} x B*H in
 * {1, 12} (B = 2, H = 6) in bf16, and the same in fp32 for T <= 1000 with B*H = 1. D = 64 and 128 in bf16 run on
 * the tensor cores, D = 80 and fp32 on the generic kernels. (2) The older hand-made cases: T not a multiple of
 * any tile, Tq != Tk both ways, key_len (including a batch with no keys), q/k/v fused in one (B,T,3,H,D) buffer
 * (so dq, dk, dv interleave in one dqkv buffer) or separate with padded row strides (a stride that is not a
 * multiple of 8 sends bf16 D = 64 to the generic kernels), and gradients wanted only in part (NULL pointers).
 *
 * References. The CPU (leap_attention_*_cpu, on the same bf16-rounded inputs) wherever it is quick enough: B*H = 1
 * (T = 4096 included) and every case with B*H*Tq*Tk up to 2^20; the reference CUDA kernels
 * (leap_attention_*_ref_cuda) for the large B*H cases, where the CPU would take minutes. Backward takes the
 * reference forward's out and lse.
 *
 * Checks. Outputs and workspace are poisoned (NaN) before every run, the padding between out's rows must stay
 * NaN, every call runs twice and must give the same bits. Gradients start from g0 = rms(G) * U(-1, 1), G the
 * reference gradient from zero, so that the starting values neither vanish nor hide G's errors; the expected value
 * is g0 + G. Tolerances: |got - want| <= atol + rtol |want| with rtol 1e-2 in bf16 and 1e-4 in fp32, and atol =
 * that same fraction of the result's root-mean-square (bf16 outputs and products round to 8 bits; a gradient sums
 * up to 4096 rounded terms). lse: atol 1e-4 in both modes. On a compute capability 9.0 device the bf16 forward
 * runs twice more with LEAP_ATTENTION_WGMMA=0, so that the mma.sync kernel is checked there too (the default is
 * wgmma). Without a CUDA device the test prints "skipped" and exits 77. */
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

enum { GRAD_Q = 1, GRAD_K = 2, GRAD_V = 4, GRAD_ALL = 7 };

typedef struct attn_case {
  char name[96];
  int64_t B, H, Tq, Tk, D;
  bool causal;
  bool fused;          /* q, k, v in one (B,T,3,H,D) buffer; needs Tq == Tk */
  int64_t pad;         /* extra elements per row of q, k, v and out (unfused cases) */
  int32_t key_len[2];  /* visible keys of batches 0 and 1; {-1} for no key padding */
  int grads;           /* which of dq, dk, dv are wanted */
} attn_case;

static const attn_case HAND_CASES[] = {
    {"self causal T37 D64", 2, 3, 37, 37, 64, true, false, 0, {-1}, GRAD_ALL},
    {"fused causal T45 D64", 2, 2, 45, 45, 64, true, true, 0, {-1}, GRAD_ALL},
    {"fused causal T200 D128 (dk only)", 1, 2, 200, 200, 128, true, true, 0, {-1}, GRAD_K},
    {"cross full 19x53 D80 key_len padded", 2, 2, 19, 53, 80, false, false, 8, {53, 20}, GRAD_ALL},
    {"cross causal 53x19 D80 key_len (rows see nothing)", 1, 2, 53, 19, 80, true, false, 0, {7}, GRAD_ALL},
    {"cross causal 13x70 D64 key_len, stride not a multiple of 8", 2, 1, 13, 70, 64, true, false, 3, {70, 33},
     GRAD_ALL},
    {"cross causal 150x70 D128 key_len padded by 8 (dq, dv)", 2, 1, 150, 70, 128, true, false, 8, {70, 33},
     GRAD_Q | GRAD_V},
    {"cross full 70x150 D64 key_len", 2, 2, 70, 150, 64, false, false, 0, {129, 0}, GRAD_ALL},
    {"self full T33 D80 (a batch with no keys)", 2, 2, 33, 33, 80, false, false, 0, {0, 33}, GRAD_ALL},
    {"self causal T130 D64", 1, 2, 130, 130, 64, true, false, 0, {-1}, GRAD_ALL},
    {"fused full T67 D80 key_len", 2, 3, 67, 67, 80, false, true, 0, {60, 67}, GRAD_ALL},
    {"fused full T67 D128 key_len", 2, 3, 67, 67, 128, false, true, 0, {60, 67}, GRAD_ALL},
};

/* Inputs live in one array x (their gradients in g, at the same offsets): the fused (B,T,3,H,D) buffer or q, k, v
 * back to back; out (with row stride ldo) and lse apart. The device holds the same arrays in dtype act. */
typedef struct attn_data {
  const attn_case *c;
  leap_dtype act;
  leap_attention_shape s;
  int64_t nx, off_q, off_k, off_v, nout, nlse;
  float *x, *g0, *dout, *out, *lse, *g;
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

/* Element offsets into a device buffer of dtype act. */
static void *at(void *base, int64_t off, leap_dtype act) { return (char *)base + (size_t)off * tc_elem(act); }

/* The gradient pointers of the case's wanted gradients inside buffer base (host floats or device act). */
static void grad_ptrs(const attn_data *a, void *base, bool device, void **dq, void **dk, void **dv) {
  size_t elem = device ? tc_elem(a->act) : sizeof(float);
  *dq = a->c->grads & GRAD_Q ? (char *)base + (size_t)a->off_q * elem : NULL;
  *dk = a->c->grads & GRAD_K ? (char *)base + (size_t)a->off_k * elem : NULL;
  *dv = a->c->grads & GRAD_V ? (char *)base + (size_t)a->off_v * elem : NULL;
}

static bool use_cpu_reference(const attn_case *c) {
  return c->B * c->H == 1 || c->B * c->H * c->Tq * c->Tk <= (1 << 20);
}

/* The reference forward (out, lse) and the reference gradient G from zero (into a->g). */
static void reference(attn_data *a) {
  const leap_attention_shape *s = &a->s;
  a->out = tc_host(a->nout), a->lse = tc_host(a->nlse), a->g = tc_host(a->nx);
  memset(a->g, 0, sizeof(float) * (size_t)a->nx);
  void *dq, *dk, *dv;
  if (use_cpu_reference(a->c)) {
    float *ws = tc_host((int64_t)leap_attention_workspace_floats(s, leap_kernels_threads()));
    const float *x = a->x;
    leap_test_fill_uniform(a->out, a->nout, -1.0f, 1.0f, 99); /* the padding between rows: any values */
    leap_attention_forward_cpu(a->out, a->lse, x + a->off_q, x + a->off_k, x + a->off_v, a->key_len, s, ws);
    tc_round(a->out, a->nout, a->act); /* what the device's backward reads */
    grad_ptrs(a, a->g, false, &dq, &dk, &dv);
    leap_attention_backward_cpu(dq, dk, dv, a->dout, x + a->off_q, x + a->off_k, x + a->off_v, a->out, a->lse,
                                a->key_len, s, ws);
    free(ws);
    return;
  }
  void *d_out = tc_alloc(a->nout, a->act), *d_g = tc_alloc(a->nx, a->act);
  float *d_lse = tc_alloc(a->nlse, LEAP_F32);
  float *d_ws = tc_alloc((int64_t)leap_attention_workspace_floats_ref_cuda(s), LEAP_F32);
  leap_attention_forward_ref_cuda(d_out, d_lse, at(a->d_x, a->off_q, a->act), at(a->d_x, a->off_k, a->act),
                                  at(a->d_x, a->off_v, a->act), a->d_key_len, s, a->act, g_stream);
  tc_set(d_g, a->g, a->nx, a->act);
  grad_ptrs(a, d_g, true, &dq, &dk, &dv);
  leap_attention_backward_ref_cuda(dq, dk, dv, a->d_dout, at(a->d_x, a->off_q, a->act), at(a->d_x, a->off_k, a->act),
                                   at(a->d_x, a->off_v, a->act), d_out, d_lse, a->d_key_len, s, d_ws, a->act,
                                   g_stream);
  tc_download(a->out, d_out, a->nout, a->act);
  tc_download(a->lse, d_lse, a->nlse, LEAP_F32);
  tc_download(a->g, d_g, a->nx, a->act);
  TC_CHECK(cudaFree(d_out));
  TC_CHECK(cudaFree(d_g));
  TC_CHECK(cudaFree(d_lse));
  TC_CHECK(cudaFree(d_ws));
}

static double rms(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return n > 0 ? sqrt(s / (double)n) : 0.0;
}

static void data_init(attn_data *a, const attn_case *c, leap_dtype act, uint64_t seed) {
  memset(a, 0, sizeof *a);
  a->c = c, a->act = act;
  layout(a, c);
  a->x = tc_host(a->nx), a->g0 = tc_host(a->nx), a->dout = tc_host(a->nout);
  leap_test_fill_normal(a->x, a->nx, 1.0f, seed);
  leap_test_fill_uniform(a->dout, a->nout, -1.0f, 1.0f, seed + 2);
  tc_round(a->x, a->nx, act), tc_round(a->dout, a->nout, act);
  if (c->key_len[0] >= 0) {
    a->key_len = malloc(sizeof(int32_t) * (size_t)c->B);
    memcpy(a->key_len, c->key_len, sizeof(int32_t) * (size_t)c->B);
    TC_CHECK(cudaMalloc((void **)&a->d_key_len, sizeof(int32_t) * (size_t)c->B));
    TC_CHECK(cudaMemcpyAsync(a->d_key_len, a->key_len, sizeof(int32_t) * (size_t)c->B, cudaMemcpyHostToDevice,
                             g_stream));
  }
  a->d_x = tc_upload(a->x, a->nx, act), a->d_dout = tc_upload(a->dout, a->nout, act);
  reference(a);
  /* Starting gradients of the size of the gradient itself; the expected result is g0 + G. */
  double scale = rms(a->g, a->nx);
  leap_test_fill_uniform(a->g0, a->nx, -1.0f, 1.0f, seed + 1);
  for (int64_t i = 0; i < a->nx; i++) a->g0[i] *= (float)(scale > 0 ? scale : 1.0);
  tc_round(a->g0, a->nx, act);
  for (int64_t i = 0; i < a->nx; i++) a->g[i] += a->g0[i];
  a->d_g = tc_alloc(a->nx, act);
  a->d_out = tc_alloc(a->nout, act), a->d_out_seen = tc_upload(a->out, a->nout, act);
  a->d_lse = tc_alloc(a->nlse, LEAP_F32), a->d_lse_seen = tc_upload(a->lse, a->nlse, LEAP_F32);
  a->ws_floats = (int64_t)leap_attention_workspace_floats_cuda(&a->s);
  a->d_ws = tc_alloc(a->ws_floats, LEAP_F32);
}

static void data_free(attn_data *a) {
  float *h[] = {a->x, a->g0, a->dout, a->out, a->lse, a->g};
  for (size_t i = 0; i < sizeof h / sizeof *h; i++) free(h[i]);
  free(a->key_len);
  void *d[] = {a->d_x, a->d_g, a->d_dout, a->d_out, a->d_out_seen, a->d_lse, a->d_lse_seen, a->d_ws, a->d_key_len};
  for (size_t i = 0; i < sizeof d / sizeof *d; i++)
    if (d[i]) TC_CHECK(cudaFree(d[i]));
}

/* The fraction of a result's rms that is allowed as absolute error (and the relative tolerance). */
static double frac(leap_dtype act) { return tc_rtol(act); }

/* Forward twice into poisoned out and lse: out's rows and lse against the reference, the same rows seeing no key,
 * out's padding still poisoned (NaN), the same bits both times. */
static void check_forward(attn_data *a, const char *label) {
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
  int64_t touched = 0, inf_rows = 0;
  for (int64_t r = 0; r < rows; r++) {
    memcpy(got + r * HD, out[0] + r * s->ldo, sizeof(float) * (size_t)HD);
    memcpy(want + r * HD, a->out + r * s->ldo, sizeof(float) * (size_t)HD);
    for (int64_t p = HD; p < s->ldo; p++) touched += !isnan(out[0][r * s->ldo + p]);
  }
  for (int64_t r = 0; r < a->nlse; r++) inf_rows += isinf(lse[0][r]) != isinf(a->lse[r]);
  char what[256];
  snprintf(what, sizeof what, "%s [%s%s]: forward out", a->c->name, tc_name(a->act), label);
  leap_test_allclose(what, got, want, rows * HD, frac(a->act) * rms(want, rows * HD), tc_rtol(a->act));
  LEAP_TEST_ASSERT(touched == 0, "%s: %lld padding elements written", what, (long long)touched);
  tc_same_bits(what, out[0], out[1], a->nout);
  snprintf(what, sizeof what, "%s [%s%s]: forward lse", a->c->name, tc_name(a->act), label);
  leap_test_allclose(what, lse[0], a->lse, a->nlse, 1e-4, tc_rtol(a->act));
  LEAP_TEST_ASSERT(inf_rows == 0, "%s: %lld rows disagree on seeing no key", what, (long long)inf_rows);
  tc_same_bits(what, lse[0], lse[1], a->nlse);
  free(out[0]), free(out[1]), free(lse[0]), free(lse[1]), free(got), free(want);
}

static void launch_backward(void *user) {
  attn_data *a = user;
  void *dq, *dk, *dv;
  grad_ptrs(a, a->d_g, true, &dq, &dk, &dv);
  leap_attention_backward_cuda(dq, dk, dv, a->d_dout, at(a->d_x, a->off_q, a->act), at(a->d_x, a->off_k, a->act),
                               at(a->d_x, a->off_v, a->act), a->d_out_seen, a->d_lse_seen, a->d_key_len, &a->s,
                               a->d_ws, a->act, g_stream);
}

static bool is_hopper(void) {
  int dev = 0, major = 0, minor = 0;
  TC_CHECK(cudaGetDevice(&dev));
  TC_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  TC_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  return major == 9 && minor == 0;
}

static void check_case(const attn_case *c, leap_dtype act, uint64_t seed) {
  attn_data a;
  data_init(&a, c, act, seed);
  check_forward(&a, "");
  if (act == LEAP_BF16 && (c->D == 64 || c->D == 128) && is_hopper()) {
    setenv("LEAP_ATTENTION_WGMMA", "0", 1);
    check_forward(&a, ", mma.sync");
    unsetenv("LEAP_ATTENTION_WGMMA");
  }
  /* The gradient's own size sets the absolute tolerance: the expected values minus their starting values. */
  float *G = tc_host(a.nx);
  for (int64_t i = 0; i < a.nx; i++) G[i] = a.g[i] - a.g0[i];
  tc_result bwd[] = {
      {"backward dq, dk, dv accumulated", a.d_g, act, a.nx, a.g0, a.g, frac(act) * rms(G, a.nx)},
      {"workspace", a.d_ws, LEAP_F32, a.ws_floats, NULL, NULL, 0.0},
  };
  char name[160];
  snprintf(name, sizeof name, "%s (%s reference)", c->name, use_cpu_reference(c) ? "CPU" : "CUDA");
  tc_check_runs(name, act, bwd, 2, launch_backward, &a);
  free(G);
  data_free(&a);
}

/* The table, in bf16 (all of it) and fp32 (B*H = 1, T <= 1000). */
static void check_table(void) {
  const int64_t Ds[3] = {64, 128, 80}, Ts[5] = {1, 17, 128, 1000, 4096};
  const int64_t shapes[2][2] = {{1, 1}, {2, 6}}; /* (B, H): B*H = 1 and 12 */
  uint64_t seed = 1000;
  for (int causal = 0; causal < 2; causal++)
    for (int di = 0; di < 3; di++)
      for (int ti = 0; ti < 5; ti++)
        for (int bi = 0; bi < 2; bi++) {
          attn_case c = {"", shapes[bi][0], shapes[bi][1], Ts[ti], Ts[ti], Ds[di], causal, false, 0, {-1}, GRAD_ALL};
          snprintf(c.name, sizeof c.name, "table %s D%lld T%lld B*H %lld", causal ? "causal" : "full",
                   (long long)c.D, (long long)c.Tq, (long long)(c.B * c.H));
          check_case(&c, LEAP_BF16, seed += 10);
          if (c.B * c.H == 1 && c.Tq <= 1000) check_case(&c, LEAP_F32, seed += 10);
        }
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  const leap_dtype acts[2] = {LEAP_F32, LEAP_BF16};
  for (int a = 0; a < 2; a++)
    for (size_t i = 0; i < sizeof HAND_CASES / sizeof *HAND_CASES; i++)
      check_case(&HAND_CASES[i], acts[a], 300 + 10 * i);
  check_table();
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}
