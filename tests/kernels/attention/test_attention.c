/* Tests of the fused attention CPU kernel: forward values and lse against a naive double-precision reference,
 * backward against a double-precision reference and against finite differences, NULL gradients, untouched
 * padding between strided rows, and bit-identical results with 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention/attention.h"
#include "kernels/common/kernel_common.h"
#include "tests/common/leap_test.h"

typedef struct attn_case {
  const char *name;
  int64_t B, H, Tq, Tk, D;
  bool causal;
  bool fused;   /* q, k, v (and dq, dk, dv) interleaved in one (B,T,3,H,D) buffer; needs Tq == Tk */
  int64_t pad;  /* extra floats per row in q, k, v, out strides (unfused cases) */
  bool key_len; /* key padding per batch from kKeyLenPattern */
} attn_case;

static const attn_case kCases[] = {
    {"self causal T17 D8", 1, 1, 17, 17, 8, true, false, 0, false},
    {"self full fused T70 D64", 2, 3, 70, 70, 64, false, true, 0, false},
    {"self causal fused keylen T70 D80", 2, 3, 70, 70, 80, true, true, 0, true},
    {"self causal T1 D64", 1, 1, 1, 1, 64, true, false, 0, false},
    {"cross full keylen 17x70 D8 padded", 2, 3, 17, 70, 8, false, false, 3, true},
    {"cross causal 70x17 D64 (early rows see nothing)", 1, 1, 70, 17, 64, true, false, 1, false},
    {"cross causal keylen 17x70 D80 padded", 3, 2, 17, 70, 80, true, false, 2, true},
    {"self full keylen T1 D8 (a batch with no keys)", 6, 1, 1, 1, 8, false, false, 0, true},
    {"cross causal keylen 1x17 D64", 2, 3, 1, 17, 64, true, false, 0, true},
    {"self causal fused keylen T150 D32 (3 blocks)", 2, 1, 150, 150, 32, true, true, 5, true},
    {"self full padded T130 D16", 1, 1, 130, 130, 16, false, false, 7, false},
};

/* Batch b keeps pattern[b % 4] keys: fewer than a causal row needs, none at all, all, and one. */
static int32_t key_len_for(int64_t b, int64_t Tk) {
  int64_t pattern[4] = {Tk / 3 + 1, 0, Tk, 1};
  return (int32_t)pattern[b % 4];
}

/* Inputs live in one array x (and their gradients in g, at the same offsets): either the fused (B,T,3,H,D) buffer
 * or q, k, v back to back. */
typedef struct attn_data {
  leap_attention_shape s;
  int64_t nx, off_q, off_k, off_v, nq, nk, nv, nout, nlse;
  float *x, *g, *out, *lse, *w, *ws;
  int32_t *key_len; /* NULL when the case has no key padding */
  size_t ws_floats;
} attn_data;

static int max_threads(void) { return leap_kernels_threads() > 2 ? leap_kernels_threads() : 2; }

static void data_init(attn_data *a, const attn_case *c, uint64_t seed) {
  memset(a, 0, sizeof *a);
  int64_t HD = c->H * c->D;
  leap_attention_shape s = {c->B, c->H, c->Tq, c->Tk, c->D, 0, 0, 0, 0, c->causal, 1.0f / sqrtf((float)c->D)};
  if (c->fused) {
    s.ldq = s.ldk = s.ldv = 3 * HD;
    a->nx = c->B * c->Tq * 3 * HD;
    a->off_q = 0, a->off_k = HD, a->off_v = 2 * HD;
  } else {
    s.ldq = HD + c->pad, s.ldk = HD + 2 * c->pad, s.ldv = HD + 3 * c->pad;
    a->nq = c->B * c->Tq * s.ldq, a->nk = c->B * c->Tk * s.ldk, a->nv = c->B * c->Tk * s.ldv;
    a->nx = a->nq + a->nk + a->nv;
    a->off_q = 0, a->off_k = a->nq, a->off_v = a->nq + a->nk;
  }
  s.ldo = HD + c->pad + (c->pad ? 1 : 0);
  a->s = s;
  a->nout = c->B * c->Tq * s.ldo;
  a->nlse = c->B * c->H * c->Tq;
  a->x = malloc((size_t)a->nx * sizeof(float));
  a->g = calloc((size_t)a->nx, sizeof(float));
  a->out = calloc((size_t)a->nout, sizeof(float));
  a->w = calloc((size_t)a->nout, sizeof(float));
  a->lse = malloc((size_t)a->nlse * sizeof(float));
  a->ws_floats = leap_attention_workspace_floats(&a->s, max_threads());
  a->ws = malloc(a->ws_floats * sizeof(float));
  leap_test_fill_normal(a->x, a->nx, 1.0f, seed);
  /* The loss weights (and so dout) cover out's elements only, never the padding between its rows. */
  for (int64_t r = 0; r < c->B * c->Tq; r++) leap_test_fill_uniform(a->w + r * s.ldo, HD, -1.0f, 1.0f, seed + 7 + r);
  if (c->key_len) {
    a->key_len = malloc((size_t)c->B * sizeof(int32_t));
    for (int64_t b = 0; b < c->B; b++) a->key_len[b] = key_len_for(b, c->Tk);
  }
}

static void data_free(attn_data *a) {
  free(a->x), free(a->g), free(a->out), free(a->w), free(a->lse), free(a->ws), free(a->key_len);
}

static void run_forward(attn_data *a, float *out) {
  leap_test_poison(a->ws, (int64_t)a->ws_floats);
  leap_attention_forward_cpu(out, a->lse, a->x + a->off_q, a->x + a->off_k, a->x + a->off_v, a->key_len, &a->s,
                             a->ws);
}

/* Backward with dout = w into g (accumulating); `want` selects which of dq, dk, dv are computed. */
static void run_backward(attn_data *a, float *g, bool want_q, bool want_k, bool want_v) {
  leap_test_poison(a->ws, (int64_t)a->ws_floats);
  leap_attention_backward_cpu(want_q ? g + a->off_q : NULL, want_k ? g + a->off_k : NULL,
                              want_v ? g + a->off_v : NULL, a->w, a->x + a->off_q, a->x + a->off_k,
                              a->x + a->off_v, a->out, a->lse, a->key_len, &a->s, a->ws);
}

/* Whether query i sees key j in batch b, written straight from the definition. */
static bool ref_visible(const attn_data *a, int64_t b, int64_t i, int64_t j) {
  if (a->key_len && j >= a->key_len[b]) return false;
  return !a->s.causal || j <= i + (a->s.Tk - a->s.Tq);
}

/* Scaled scores of query (b,i,h) against every key, in double; returns the log-sum-exp over visible keys. */
static double ref_scores(const attn_data *a, int64_t b, int64_t h, int64_t i, double *sc) {
  const leap_attention_shape *s = &a->s;
  const float *q = a->x + a->off_q + (b * s->Tq + i) * s->ldq + h * s->D;
  double m = -INFINITY;
  for (int64_t j = 0; j < s->Tk; j++) {
    const float *k = a->x + a->off_k + (b * s->Tk + j) * s->ldk + h * s->D;
    double dot = 0.0;
    for (int64_t d = 0; d < s->D; d++) dot += (double)q[d] * k[d];
    sc[j] = dot * s->scale;
    if (ref_visible(a, b, i, j) && sc[j] > m) m = sc[j];
  }
  if (m == -INFINITY) return -INFINITY;
  double l = 0.0;
  for (int64_t j = 0; j < s->Tk; j++)
    if (ref_visible(a, b, i, j)) l += exp(sc[j] - m);
  return m + log(l);
}

/* Reference forward into out_ref (layout of out, padding left 0) and lse_ref, and the reference gradients (layout
 * of x) for dout = w: P = softmax, dP = dO V^T, dS = P (dP - sum_j P dP), dQ = scale dS K, dK = scale dS^T Q,
 * dV = P^T dO. */
static void ref_attention(const attn_data *a, float *out_ref, float *lse_ref, double *gref) {
  const leap_attention_shape *s = &a->s;
  double *sc = malloc((size_t)s->Tk * sizeof(double)), *dp = malloc((size_t)s->Tk * sizeof(double));
  for (int64_t b = 0; b < s->B; b++)
    for (int64_t h = 0; h < s->H; h++)
      for (int64_t i = 0; i < s->Tq; i++) {
        double lse = ref_scores(a, b, h, i, sc);
        lse_ref[(b * s->H + h) * s->Tq + i] = (float)lse;
        int64_t oi = (b * s->Tq + i) * s->ldo + h * s->D, qi = a->off_q + (b * s->Tq + i) * s->ldq + h * s->D;
        double dsum = 0.0;
        for (int64_t j = 0; j < s->Tk; j++) {
          sc[j] = ref_visible(a, b, i, j) ? exp(sc[j] - lse) : 0.0; /* now P */
          const float *v = a->x + a->off_v + (b * s->Tk + j) * s->ldv + h * s->D;
          dp[j] = 0.0;
          for (int64_t d = 0; d < s->D; d++) dp[j] += (double)a->w[oi + d] * v[d];
          dsum += sc[j] * dp[j];
        }
        for (int64_t d = 0; d < s->D; d++) {
          double o = 0.0;
          for (int64_t j = 0; j < s->Tk; j++) o += sc[j] * a->x[a->off_v + (b * s->Tk + j) * s->ldv + h * s->D + d];
          out_ref[oi + d] = (float)o;
        }
        for (int64_t j = 0; j < s->Tk; j++) {
          int64_t kj = a->off_k + (b * s->Tk + j) * s->ldk + h * s->D;
          int64_t vj = a->off_v + (b * s->Tk + j) * s->ldv + h * s->D;
          double ds = sc[j] * (dp[j] - dsum) * s->scale;
          for (int64_t d = 0; d < s->D; d++) {
            gref[qi + d] += ds * a->x[kj + d];
            gref[kj + d] += ds * a->x[qi + d];
            gref[vj + d] += sc[j] * a->w[oi + d];
          }
        }
      }
  free(sc), free(dp);
}

/* Forward against the reference: out and lse values, -inf lse for rows that see nothing, padding untouched. */
static void check_forward(attn_data *a, const char *name, const float *out_ref, const float *lse_ref) {
  char what[160];
  float *out = malloc((size_t)a->nout * sizeof(float));
  leap_test_poison(out, a->nout);
  leap_test_poison(a->lse, a->nlse);
  run_forward(a, out);
  int64_t HD = a->s.H * a->s.D, pad_bad = 0, ninf_bad = 0;
  for (int64_t e = 0; e < a->nout; e++) {
    bool pad = e % a->s.ldo >= HD;
    if (pad && !isnan(out[e])) pad_bad++;
    if (pad) out[e] = 0.0f; /* so that the value comparison below may cover the whole buffer */
  }
  LEAP_TEST_ASSERT(pad_bad == 0, "%s: %lld padding elements of out were written", name, (long long)pad_bad);
  snprintf(what, sizeof what, "%s: out", name);
  leap_test_allclose(what, out, out_ref, a->nout, 2e-6, 2e-5);
  float *lse_fin = malloc((size_t)a->nlse * sizeof(float)), *ref_fin = malloc((size_t)a->nlse * sizeof(float));
  for (int64_t e = 0; e < a->nlse; e++) {
    bool empty = isinf(lse_ref[e]);
    if (empty && !(isinf(a->lse[e]) && a->lse[e] < 0)) ninf_bad++;
    lse_fin[e] = empty ? 0.0f : a->lse[e], ref_fin[e] = empty ? 0.0f : lse_ref[e];
  }
  LEAP_TEST_ASSERT(ninf_bad == 0, "%s: %lld rows that see no key lack lse = -inf", name, (long long)ninf_bad);
  snprintf(what, sizeof what, "%s: lse", name);
  leap_test_allclose(what, lse_fin, ref_fin, a->nlse, 2e-6, 2e-6);
  free(out), free(lse_fin), free(ref_fin);
}

/* Which input (0 q, 1 k, 2 v) element e of x belongs to. */
static int slice_of(const attn_data *a, int64_t e) {
  if (a->nq == 0) return (int)(e % a->s.ldq / (a->s.H * a->s.D));
  return e < a->off_k ? 0 : e < a->off_v ? 1 : 2;
}

/* Backward against the reference, on top of random starting gradients (it must accumulate and leave padding and
 * hidden keys untouched); then each gradient alone (the others NULL) must equal the full run's bits. */
static void check_backward(attn_data *a, const char *name, const double *gref) {
  char what[160];
  run_forward(a, a->out);
  float *g0 = malloc((size_t)a->nx * sizeof(float)), *want = malloc((size_t)a->nx * sizeof(float));
  leap_test_fill_uniform(g0, a->nx, -1.0f, 1.0f, 99);
  for (int64_t e = 0; e < a->nx; e++) want[e] = (float)(g0[e] + gref[e]), a->g[e] = g0[e];
  run_backward(a, a->g, true, true, true);
  snprintf(what, sizeof what, "%s: dq dk dv (accumulated) vs reference", name);
  leap_test_allclose(what, a->g, want, a->nx, 1e-5, 1e-4);
  memset(a->g, 0, (size_t)a->nx * sizeof(float));
  run_backward(a, a->g, true, true, true);
  for (int which = 0; which < 3; which++) {
    memset(g0, 0, (size_t)a->nx * sizeof(float));
    run_backward(a, g0, which == 0, which == 1, which == 2);
    int64_t bad = 0;
    for (int64_t e = 0; e < a->nx; e++) {
      bool mine = slice_of(a, e) == which;
      if (mine ? memcmp(&g0[e], &a->g[e], sizeof(float)) != 0 : g0[e] != 0.0f) bad++;
    }
    LEAP_TEST_ASSERT(bad == 0, "%s: gradient %d alone differs from the full backward in %lld elements", name, which,
                     (long long)bad);
  }
  free(g0), free(want);
}

static double loss_fn(void *user) {
  attn_data *a = user;
  run_forward(a, a->out);
  return leap_test_dot(a->out, a->w, a->nout);
}

/* Finite differences of loss = sum(out * w) against backward with dout = w; eps 1e-2 in fp32 inputs, atol 1e-3,
 * rtol 2e-2 (the loss is evaluated from fp32 outputs, so rounding adds about 1e-4 to each difference). */
static void check_gradients(attn_data *a, const char *name) {
  char what[160];
  run_forward(a, a->out);
  memset(a->g, 0, (size_t)a->nx * sizeof(float));
  run_backward(a, a->g, true, true, true);
  if (a->nq == 0) {
    snprintf(what, sizeof what, "%s: dqkv (fused)", name);
    leap_test_gradcheck(what, loss_fn, a, a->x, a->g, a->nx, 1e-2, 1e-3, 2e-2, 300);
    return;
  }
  const char *names[3] = {"dq", "dk", "dv"};
  int64_t offs[3] = {a->off_q, a->off_k, a->off_v}, ns[3] = {a->nq, a->nk, a->nv};
  for (int t = 0; t < 3; t++) {
    snprintf(what, sizeof what, "%s: %s", name, names[t]);
    leap_test_gradcheck(what, loss_fn, a, a->x + offs[t], a->g + offs[t], ns[t], 1e-2, 1e-3, 2e-2, 150);
  }
}

/* Forward and backward with 1 and with 2 threads must give the same bits. */
static void check_threads(attn_data *a, const char *name) {
#ifdef LEAP_WITH_OPENMP
  int saved = omp_get_max_threads();
  float *res[2];
  int64_t n = a->nout + a->nlse + a->nx;
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    res[t] = calloc((size_t)n, sizeof(float));
    run_forward(a, res[t]);
    memcpy(res[t] + a->nout, a->lse, (size_t)a->nlse * sizeof(float));
    memcpy(a->out, res[t], (size_t)a->nout * sizeof(float));
    run_backward(a, res[t] + a->nout + a->nlse, true, true, true);
  }
  omp_set_num_threads(saved);
  LEAP_TEST_ASSERT(memcmp(res[0], res[1], (size_t)n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", name);
  free(res[0]), free(res[1]);
#else
  (void)a, (void)name;
#endif
}

int main(void) {
  for (size_t ci = 0; ci < sizeof kCases / sizeof kCases[0]; ci++) {
    const attn_case *c = &kCases[ci];
    attn_data a;
    data_init(&a, c, 1000 + ci);
    float *out_ref = calloc((size_t)a.nout, sizeof(float)), *lse_ref = malloc((size_t)a.nlse * sizeof(float));
    double *gref = calloc((size_t)a.nx, sizeof(double));
    ref_attention(&a, out_ref, lse_ref, gref);
    check_forward(&a, c->name, out_ref, lse_ref);
    check_backward(&a, c->name, gref);
    check_gradients(&a, c->name);
    check_threads(&a, c->name);
    free(out_ref), free(lse_ref), free(gref);
    data_free(&a);
  }
  return leap_test_finish();
}
