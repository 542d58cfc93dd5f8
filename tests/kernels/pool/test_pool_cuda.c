/* Pooling CUDA kernels (pool_cuda.cu) against the CPU reference leap_*pool_*_cpu: max pool (output and argmax,
 * which must match exactly, ties included), average pool and global average pool, forward into poisoned (NaN)
 * outputs and backward into gradients that start at random values (accumulation), each run twice for the same
 * bits, in fp32 and in bf16 (against the CPU on the same bf16-rounded inputs). Windows overlap (stride < window),
 * are padded, rectangular or cover the whole image; sizes are odd; the global pool's images span one and several
 * rounds of its row blocks. The backward maxpool and avgpool passes take the CPU forward's argmax, so both sides
 * see the same inputs.
 *
 * Tolerances: rtol 1e-4 in fp32 and 1e-2 in bf16, atol 1e-6 (fp32) or 1e-3 (bf16 rounding of small results):
 * the kernels add in the CPU's order, so fp32 results agree to rounding. Without a CUDA device the test prints
 * "skipped" and exits 77. */
#include <cuda_runtime.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pool/pool.h"
#include "tests/common/leap_test.h"

#include "tests/common/leap_test_cuda.h"

typedef struct pool_case {
  const char *name;
  int64_t N, H, W, C, kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case CASES[] = {
    {"3x3 stride 2 pad 1", 2, 13, 11, 37, 3, 3, 2, 2, 1, 1},
    {"2x2 stride 2", 2, 9, 7, 5, 2, 2, 2, 2, 0, 0},
    {"3x3 stride 1 pad 1 (overlapping)", 1, 7, 9, 19, 3, 3, 1, 1, 1, 1},
    {"5x3 stride (2,1) pad (2,1)", 2, 11, 8, 3, 5, 3, 2, 1, 2, 1},
    {"7x7 whole image", 3, 7, 7, 33, 7, 7, 1, 1, 0, 0},
    {"3x3 stride 3 C1", 2, 10, 10, 1, 3, 3, 3, 3, 0, 0},
};

typedef struct global_case {
  const char *name;
  int64_t N, HW, C;
} global_case;

static const global_case GLOBAL_CASES[] = {
    {"7x7 images", 2, 49, 37},
    {"4 row blocks", 3, 200, 65},
    {"16 row blocks (two rounds)", 1, 1000, 33},
    {"one pixel", 5, 1, 3},
};

static double atol_for(leap_dtype act) { return act == LEAP_BF16 ? 1e-3 : 1e-6; }

/* A window-pooling case's host data: inputs (rounded to act) and the CPU's results. */
typedef struct pool_host {
  leap_pool_shape s;
  leap_dtype act;
  int64_t n_in, n_out;
  float *inp, *dout, *dinp0, *max_out, *avg_out, *max_dinp, *avg_dinp;
  int32_t *argmax;
} pool_host;

static void host_init(pool_host *h, const pool_case *c, leap_dtype act, uint64_t seed) {
  leap_pool_shape_init(&h->s, c->N, c->H, c->W, c->C, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw);
  h->act = act;
  h->n_in = c->N * c->H * c->W * c->C, h->n_out = c->N * h->s.P * h->s.Q * c->C;
  h->inp = tc_host(h->n_in), h->dout = tc_host(h->n_out), h->dinp0 = tc_host(h->n_in);
  leap_test_fill_uniform(h->inp, h->n_in, -2.0f, 2.0f, seed);
  leap_test_fill_uniform(h->dout, h->n_out, -1.0f, 1.0f, seed + 1);
  leap_test_fill_uniform(h->dinp0, h->n_in, -1.0f, 1.0f, seed + 2);
  tc_round(h->inp, h->n_in, act), tc_round(h->dout, h->n_out, act), tc_round(h->dinp0, h->n_in, act);
  h->max_out = tc_host(h->n_out), h->avg_out = tc_host(h->n_out);
  h->argmax = malloc(sizeof(int32_t) * (size_t)h->n_out);
  leap_maxpool_forward_cpu(h->max_out, h->argmax, h->inp, &h->s);
  leap_avgpool_forward_cpu(h->avg_out, h->inp, &h->s);
  h->max_dinp = tc_dup(h->dinp0, h->n_in), h->avg_dinp = tc_dup(h->dinp0, h->n_in);
  leap_maxpool_backward_cpu(h->max_dinp, h->dout, h->argmax, &h->s);
  leap_avgpool_backward_cpu(h->avg_dinp, h->dout, &h->s);
}

static void host_free(pool_host *h) {
  free(h->inp), free(h->dout), free(h->dinp0), free(h->max_out), free(h->avg_out), free(h->max_dinp);
  free(h->avg_dinp), free(h->argmax);
}

/* Runs one pass twice (poisoning out first, or resetting the gradient to dinp0 when grad is set) and checks the
 * result against want and the two runs against each other. */
typedef void (*pool_pass)(void *out, const pool_host *h, void *const *dev);
static void check_pass(const char *what, pool_pass pass, void *out, int64_t n, bool grad, const pool_host *h,
                       void *const *dev, const float *want) {
  float *r[2] = {tc_host(n), tc_host(n)};
  for (int run = 0; run < 2; run++) {
    if (grad)
      tc_set(out, h->dinp0, n, h->act);
    else
      tc_poison(out, n, h->act);
    pass(out, h, dev);
    tc_download(r[run], out, n, h->act);
  }
  leap_test_allclose(what, r[0], want, n, atol_for(h->act), tc_rtol(h->act));
  tc_same_bits(what, r[0], r[1], n);
  free(r[0]), free(r[1]);
}

/* dev: [0] inp, [1] dout, [2] the CPU's argmax, [3] the device argmax output. */
static void max_forward(void *out, const pool_host *h, void *const *dev) {
  TC_CHECK(cudaMemsetAsync(dev[3], 0xFF, sizeof(int32_t) * (size_t)h->n_out, g_stream));
  leap_maxpool_forward_cuda(out, dev[3], dev[0], &h->s, h->act, g_stream);
}
static void max_backward(void *out, const pool_host *h, void *const *dev) {
  leap_maxpool_backward_cuda(out, dev[1], dev[2], &h->s, h->act, g_stream);
}
static void avg_forward(void *out, const pool_host *h, void *const *dev) {
  leap_avgpool_forward_cuda(out, dev[0], &h->s, h->act, g_stream);
}
static void avg_backward(void *out, const pool_host *h, void *const *dev) {
  leap_avgpool_backward_cuda(out, dev[1], &h->s, h->act, g_stream);
}

static void check_window_case(const pool_case *c, leap_dtype act, uint64_t seed) {
  pool_host h;
  host_init(&h, c, act, seed);
  void *dev[4] = {tc_upload(h.inp, h.n_in, act), tc_upload(h.dout, h.n_out, act), NULL, NULL};
  TC_CHECK(cudaMalloc(&dev[2], sizeof(int32_t) * (size_t)h.n_out));
  TC_CHECK(cudaMalloc(&dev[3], sizeof(int32_t) * (size_t)h.n_out));
  TC_CHECK(cudaMemcpyAsync(dev[2], h.argmax, sizeof(int32_t) * (size_t)h.n_out, cudaMemcpyHostToDevice, g_stream));
  void *out = tc_alloc(h.n_out, act), *dinp = tc_alloc(h.n_in, act);
  char what[200];
  snprintf(what, sizeof what, "%s [%s]: maxpool forward", c->name, tc_name(act));
  check_pass(what, max_forward, out, h.n_out, false, &h, dev, h.max_out);
  int32_t *argmax = malloc(sizeof(int32_t) * (size_t)h.n_out);
  tc_sync();
  TC_CHECK(cudaMemcpyAsync(argmax, dev[3], sizeof(int32_t) * (size_t)h.n_out, cudaMemcpyDeviceToHost, g_stream));
  tc_sync();
  LEAP_TEST_ASSERT(memcmp(argmax, h.argmax, sizeof(int32_t) * (size_t)h.n_out) == 0, "%s: argmax differs", what);
  free(argmax);
  snprintf(what, sizeof what, "%s [%s]: maxpool backward accumulated", c->name, tc_name(act));
  check_pass(what, max_backward, dinp, h.n_in, true, &h, dev, h.max_dinp);
  snprintf(what, sizeof what, "%s [%s]: avgpool forward", c->name, tc_name(act));
  check_pass(what, avg_forward, out, h.n_out, false, &h, dev, h.avg_out);
  snprintf(what, sizeof what, "%s [%s]: avgpool backward accumulated", c->name, tc_name(act));
  check_pass(what, avg_backward, dinp, h.n_in, true, &h, dev, h.avg_dinp);
  for (int i = 0; i < 4; i++) TC_CHECK(cudaFree(dev[i]));
  TC_CHECK(cudaFree(out));
  TC_CHECK(cudaFree(dinp));
  host_free(&h);
}

static void check_global_case(const global_case *c, leap_dtype act, uint64_t seed) {
  const int64_t n_in = c->N * c->HW * c->C, n_out = c->N * c->C;
  float *inp = tc_host(n_in), *dout = tc_host(n_out), *dinp = tc_host(n_in), *want = tc_host(n_out);
  leap_test_fill_uniform(inp, n_in, -1.0f, 3.0f, seed);
  leap_test_fill_uniform(dout, n_out, -1.0f, 1.0f, seed + 1);
  leap_test_fill_uniform(dinp, n_in, -1.0f, 1.0f, seed + 2);
  tc_round(inp, n_in, act), tc_round(dout, n_out, act), tc_round(dinp, n_in, act);
  leap_global_avgpool_forward_cpu(want, inp, c->N, c->HW, c->C);
  float *want_dinp = tc_dup(dinp, n_in);
  leap_global_avgpool_backward_cpu(want_dinp, dout, c->N, c->HW, c->C);
  void *d_inp = tc_upload(inp, n_in, act), *d_dout = tc_upload(dout, n_out, act);
  void *d_out = tc_alloc(n_out, act), *d_dinp = tc_alloc(n_in, act);
  float *r[2] = {tc_host(n_in), tc_host(n_in)};
  char what[200];
  for (int run = 0; run < 2; run++) {
    tc_poison(d_out, n_out, act);
    leap_global_avgpool_forward_cuda(d_out, d_inp, c->N, c->HW, c->C, act, g_stream);
    tc_download(r[run], d_out, n_out, act);
  }
  snprintf(what, sizeof what, "%s [%s]: global avgpool forward", c->name, tc_name(act));
  leap_test_allclose(what, r[0], want, n_out, atol_for(act), tc_rtol(act));
  tc_same_bits(what, r[0], r[1], n_out);
  for (int run = 0; run < 2; run++) {
    tc_set(d_dinp, dinp, n_in, act);
    leap_global_avgpool_backward_cuda(d_dinp, d_dout, c->N, c->HW, c->C, act, g_stream);
    tc_download(r[run], d_dinp, n_in, act);
  }
  snprintf(what, sizeof what, "%s [%s]: global avgpool backward accumulated", c->name, tc_name(act));
  leap_test_allclose(what, r[0], want_dinp, n_in, atol_for(act), tc_rtol(act));
  tc_same_bits(what, r[0], r[1], n_in);
  TC_CHECK(cudaFree(d_inp));
  TC_CHECK(cudaFree(d_dout));
  TC_CHECK(cudaFree(d_out));
  TC_CHECK(cudaFree(d_dinp));
  free(inp), free(dout), free(dinp), free(want), free(want_dinp), free(r[0]), free(r[1]);
}

int main(void) {
  if (!tc_init()) {
    printf("skipped: no CUDA device\n");
    return LEAP_TEST_SKIP_CODE;
  }
  const leap_dtype acts[2] = {LEAP_F32, LEAP_BF16};
  for (int a = 0; a < 2; a++) {
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_window_case(&CASES[i], acts[a], 10 + 10 * i);
    for (size_t i = 0; i < sizeof GLOBAL_CASES / sizeof *GLOBAL_CASES; i++)
      check_global_case(&GLOBAL_CASES[i], acts[a], 500 + 10 * i);
  }
  TC_CHECK(cudaStreamDestroy(g_stream));
  return leap_test_finish();
}
