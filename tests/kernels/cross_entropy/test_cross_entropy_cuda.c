/* Tests of leap_cross_entropy_forward_cuda and leap_cross_entropy_backward_cuda against the CPU kernels, in f32 and
 * bf16 logits (rounded to bf16 on the host, the CPU run on the same values), vocabularies from 1 to GPT-2's 50257,
 * some or all rows ignored; lse, loss and count NaN-/garbage-poisoned, dlogits accumulated onto a random prior of
 * the gradient's own size, dloss read from device memory, two runs bit-identical.
 *
 * Tolerances: lse and loss (fp32 results from the same inputs) within RTOL_F32 (1e-4) relative plus atol 1e-5;
 * count exact; dlogits within RTOL_F32 (f32) or RTOL_BF16 (bf16) relative plus atol 1e-5 (f32) or 1e-3 (bf16) times
 * the gradient scale dloss / count. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/dtype.h"
#include "tests/common/leap_test.h"

#ifndef LEAP_WITH_CUDA
int main(void) {
  puts("skipped: built without CUDA");
  return LEAP_TEST_SKIP_CODE;
}
#else
#include <cuda_runtime.h>

#include "kernels/cross_entropy/cross_entropy.h"

#include "tests/common/leap_test_cuda_dense.h"

#define IGNORE -100

typedef struct {
  int64_t N, V;
  int ignore_every; /* every k-th row is ignored (0: none, 1: all) */
} ce_case;

static const ce_case cases[] = {{1, 1, 0},     {3, 5, 0},    {17, 33, 3},  {65, 1000, 0},
                                {4, 50257, 2}, {300, 10, 1}, {129, 257, 5}};

typedef struct {
  float loss, *lse, *dlogits;
  int64_t count;
} ce_out;

static void run_gpu(ce_out *r, const ce_case *k, const float *logits, const int32_t *targets, const float *prior,
                    float dloss, leap_dtype t, cudaStream_t st) {
  int64_t N = k->N, V = k->V;
  leap_cuda_stream s = (leap_cuda_stream)st;
  void *dl = dnew(logits, N * V, t), *lse = dalloc(N, LEAP_F32), *loss = dalloc(1, LEAP_F32);
  void *g = dnew(prior, N * V, t), *dd = dnew(&dloss, 1, LEAP_F32);
  void *ws = dalloc((int64_t)leap_cross_entropy_backward_workspace_floats_cuda(), LEAP_F32);
  int32_t *dt;
  int64_t *count;
  CK(cudaMalloc((void **)&dt, (size_t)N * sizeof *dt));
  CK(cudaMemcpy(dt, targets, (size_t)N * sizeof *dt, cudaMemcpyHostToDevice));
  CK(cudaMalloc((void **)&count, sizeof *count));
  CK(cudaMemset(count, 0xFF, sizeof *count));
  leap_cross_entropy_forward_cuda((float *)loss, count, (float *)lse, dl, dt, N, V, IGNORE, t, s);
  leap_cross_entropy_backward_cuda(g, (float *)ws, (const float *)dd, dl, dt, (const float *)lse, N, V, IGNORE, t, s);
  dget(&r->loss, loss, 1, LEAP_F32);
  dget(r->lse, lse, N, LEAP_F32);
  dget(r->dlogits, g, N * V, t);
  CK(cudaMemcpy(&r->count, count, sizeof *count, cudaMemcpyDeviceToHost));
  void *bufs[] = {dl, lse, loss, g, dd, ws, dt, count};
  for (int i = 0; i < 8; i++) CK(cudaFree(bufs[i]));
}

static void test_case(int ci, leap_dtype t, cudaStream_t st) {
  const ce_case *k = &cases[ci];
  int64_t N = k->N, V = k->V;
  float *logits = hbuf(N * V), *prior = hbuf(N * V);
  int32_t *targets = malloc((size_t)N * sizeof *targets);
  leap_test_fill_normal(logits, N * V, 2.0f, 40 + (uint64_t)ci);
  leap_test_fill_int(targets, N, 0, (int32_t)V, 50 + (uint64_t)ci);
  int64_t counted = 0;
  for (int64_t n = 0; n < N; n++) {
    if (k->ignore_every > 0 && n % k->ignore_every == 0) targets[n] = IGNORE;
    counted += targets[n] != IGNORE;
  }
  const float dloss = 0.7f;
  float scale = counted > 0 ? dloss / (float)counted : 1.0f;
  leap_test_fill_uniform(prior, N * V, -scale, scale, 60 + (uint64_t)ci);
  if (t == LEAP_BF16) round_bf16(logits, N * V), round_bf16(prior, N * V);

  ce_out want = {0.0f, hbuf(N), hcopy(prior, N * V), 0};
  leap_cross_entropy_forward_cpu(&want.loss, &want.count, want.lse, logits, targets, N, V, IGNORE);
  leap_cross_entropy_backward_cpu(want.dlogits, &dloss, logits, targets, want.lse, N, V, IGNORE);

  ce_out got[2];
  for (int run = 0; run < 2; run++) {
    got[run] = (ce_out){0.0f, hbuf(N), hbuf(N * V), 0};
    run_gpu(&got[run], k, logits, targets, prior, dloss, t, st);
  }
  char what[128];
  snprintf(what, sizeof what, "cross_entropy loss case %d %s", ci, dt_name(t));
  leap_test_allclose(what, &got[0].loss, &want.loss, 1, 1e-5, RTOL_F32);
  same_bits(what, &got[0].loss, &got[1].loss, 1);
  LEAP_TEST_ASSERT(got[0].count == want.count, "cross_entropy count case %d %s: %lld, want %lld", ci, dt_name(t),
                   (long long)got[0].count, (long long)want.count);
  snprintf(what, sizeof what, "cross_entropy lse case %d %s", ci, dt_name(t));
  leap_test_allclose(what, got[0].lse, want.lse, N, 1e-5, RTOL_F32);
  same_bits(what, got[0].lse, got[1].lse, N);
  snprintf(what, sizeof what, "cross_entropy dlogits case %d %s", ci, dt_name(t));
  leap_test_allclose(what, got[0].dlogits, want.dlogits, N * V, (t == LEAP_BF16 ? 1e-3 : 1e-5) * scale, rtol_of(t));
  same_bits(what, got[0].dlogits, got[1].dlogits, N * V);
  for (int run = 0; run < 2; run++) free(got[run].lse), free(got[run].dlogits);
  free(logits), free(prior), free(targets), free(want.lse), free(want.dlogits);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
    test_case(ci, LEAP_F32, st);
    test_case(ci, LEAP_BF16, st);
  }
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
