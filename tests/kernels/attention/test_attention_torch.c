/* leap_attention_{forward,backward}_cpu against an explicit float64 softmax attention computed with PyTorch
 * (tests/fixtures/attention.safetensors, made by tools/make_fixtures.py): causal and not, cross-attention (Tq != Tk,
 * causal bottom-right aligned), key padding including a batch with no keys and queries that see no key (out 0,
 * lse -inf), D in {8, 16, 64, 80}. Each case runs with contiguous q, k, v and, when Tq == Tk, again with q, k, v
 * inside one fused (B,T,3,H,D) buffer and out padded to a wider row stride. Tolerances: |got - want| <= 1e-6 +
 * 1e-5 |want| for out and lse, 1e-5 + 1e-5 |want| for the gradients (sums over up to 33 keys of products that
 * cancel); lse must be -inf exactly where the reference's is. The backward runs twice to check that it accumulates. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention.h"
#include "kernels/common/kernel_common.h"
#include "tests/fixtures/leap_fixture.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define GRAD_ATOL 1e-5
#define OUT_PAD 5 /* extra floats between rows of out in the strided layout */

/* -inf entries of want must be -inf in got; the others are compared with allclose. */
static void check_lse(const leap_fixture *fx, const char *c, const float *got, int64_t n) {
  float *want = leap_fixture_f32(fx, c, "lse", n);
  if (!want) return;
  float *got_finite = malloc(((size_t)n + 1) * sizeof(float));
  int64_t mismatched = 0;
  for (int64_t i = 0; i < n; i++) {
    bool want_inf = isinf(want[i]) && want[i] < 0, got_inf = isinf(got[i]) && got[i] < 0;
    mismatched += want_inf != got_inf;
    got_finite[i] = want_inf && got_inf ? 0.0f : got[i];
    if (want_inf) want[i] = 0.0f;
  }
  LEAP_TEST_ASSERT(mismatched == 0, "attention/%s.lse%s: %lld rows differ in being -inf", c, fx->note,
                   (long long)mismatched);
  char what[128];
  snprintf(what, sizeof what, "attention/%s.lse%s", c, fx->note);
  leap_test_allclose(what, got_finite, want, n, ATOL, RTOL);
  free(want), free(got_finite);
}

/* Copies n_tok rows of hd floats between buffers with different row strides. */
static void copy_rows(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t n_tok, int64_t hd) {
  for (int64_t t = 0; t < n_tok; t++) memcpy(dst + t * ldd, src + t * lds, (size_t)hd * sizeof(float));
}

typedef struct attn_data {
  float *q, *k, *v, *dout;
  int32_t *key_len;
} attn_data;

/* Runs forward and backward with q/k/v at the given strides (fused: one qkv buffer), checks against the fixture. */
static void run_layout(leap_fixture *fx, const char *c, leap_attention_shape s, const attn_data *d, bool fused) {
  int64_t hd = s.H * s.D, nq = s.B * s.Tq, nk = s.B * s.Tk;
  s.ldq = s.ldk = s.ldv = fused ? 3 * hd : hd;
  s.ldo = fused ? hd + OUT_PAD : hd;
  float *qkv = fused ? malloc((size_t)(nq * 3 * hd) * sizeof(float)) : NULL;
  float *dqkv = fused ? leap_fixture_zeros(nq * 3 * hd) : NULL;
  const float *q = fused ? qkv : d->q, *k = fused ? qkv + hd : d->k, *v = fused ? qkv + 2 * hd : d->v;
  if (fused) {
    copy_rows(qkv, s.ldq, d->q, hd, nq, hd), copy_rows(qkv + hd, s.ldk, d->k, hd, nk, hd);
    copy_rows(qkv + 2 * hd, s.ldv, d->v, hd, nk, hd);
  }
  float *out = leap_fixture_poisoned(nq * s.ldo), *lse = leap_fixture_poisoned(s.B * s.H * s.Tq);
  float *dout = malloc((size_t)(nq * s.ldo) * sizeof(float));
  copy_rows(dout, s.ldo, d->dout, hd, nq, hd);
  float *dq = fused ? dqkv : leap_fixture_zeros(nq * hd), *dk = fused ? dqkv + hd : leap_fixture_zeros(nk * hd);
  float *dv = fused ? dqkv + 2 * hd : leap_fixture_zeros(nk * hd);
  float *ws = malloc((leap_attention_workspace_floats(&s, leap_kernels_threads()) + 1) * sizeof(float));
  float *dense = malloc((size_t)((nq > nk ? nq : nk) * hd) * sizeof(float));
  snprintf(fx->note, sizeof fx->note, "%s", fused ? " (fused qkv, padded out)" : "");

  leap_attention_forward_cpu(out, lse, q, k, v, d->key_len, &s, ws);
  copy_rows(dense, hd, out, s.ldo, nq, hd);
  leap_fixture_check(fx, c, "out", dense, nq * hd, ATOL, RTOL);
  check_lse(fx, c, lse, s.B * s.H * s.Tq);
  for (int pass = 1; pass <= 2; pass++) {
    leap_attention_backward_cpu(dq, dk, dv, dout, q, k, v, out, lse, d->key_len, &s, ws);
    copy_rows(dense, hd, dq, s.ldq, nq, hd);
    leap_fixture_check_times(fx, c, "dq", dense, nq * hd, (float)pass, GRAD_ATOL, RTOL);
    copy_rows(dense, hd, dk, s.ldk, nk, hd);
    leap_fixture_check_times(fx, c, "dk", dense, nk * hd, (float)pass, GRAD_ATOL, RTOL);
    copy_rows(dense, hd, dv, s.ldv, nk, hd);
    leap_fixture_check_times(fx, c, "dv", dense, nk * hd, (float)pass, GRAD_ATOL, RTOL);
  }
  fx->note[0] = '\0';
  if (!fused) free(dq), free(dk), free(dv);
  free(qkv), free(dqkv), free(out), free(lse), free(dout), free(ws), free(dense);
}

static void run_case(leap_fixture *fx, const char *c) {
  leap_attention_shape s = {.B = leap_fixture_int(fx, c, "B"), .H = leap_fixture_int(fx, c, "H"),
                            .Tq = leap_fixture_int(fx, c, "Tq"), .Tk = leap_fixture_int(fx, c, "Tk"),
                            .D = leap_fixture_int(fx, c, "D"), .causal = leap_fixture_int(fx, c, "causal") != 0,
                            .scale = leap_fixture_float(fx, c, "scale")};
  int64_t hd = s.H * s.D;
  attn_data d = {.q = leap_fixture_f32(fx, c, "q", s.B * s.Tq * hd), .k = leap_fixture_f32(fx, c, "k", s.B * s.Tk * hd),
                 .v = leap_fixture_f32(fx, c, "v", s.B * s.Tk * hd),
                 .dout = leap_fixture_f32(fx, c, "dout", s.B * s.Tq * hd)};
  bool padded = leap_fixture_int(fx, c, "key_padding") != 0;
  d.key_len = padded ? leap_fixture_i32(fx, c, "key_len", s.B) : NULL;
  if (d.q && d.k && d.v && d.dout && (d.key_len || !padded)) {
    run_layout(fx, c, s, &d, false);
    if (s.Tq == s.Tk) run_layout(fx, c, s, &d, true);
  }
  free(d.q), free(d.k), free(d.v), free(d.dout), free(d.key_len);
}

int main(void) {
  leap_fixture fx;
  if (leap_fixture_open(&fx, "attention")) {
    for (int i = 0; i < fx.ncases; i++) run_case(&fx, fx.cases[i]);
    leap_fixture_close(&fx);
  }
  return leap_test_finish();
}
