/* Tests of leap_embedding_forward_cuda and leap_embedding_backward_cuda against the CPU kernels, in f32 and bf16
 * (dout rounded to bf16 on the host, the CPU run on the same values), with ids repeated many times, a single id,
 * more ids than one shared-memory chunk, and a GPT-2-sized vocabulary; out NaN-poisoned, dtable accumulated onto a
 * random prior, two runs bit-identical. Both results are compared exactly (atol 0, rtol 0): the forward pass copies
 * (and rounds once to bf16, as the reference is rounded here), and the backward pass adds every row's gradient in
 * the CPU's order in fp32, so it must equal the CPU's bit for bit. */
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

#include "kernels/embedding/embedding.h"

#include "tests/common/leap_test_cuda_dense.h"

static const int64_t cases[][3] = {
    /* N, C, V */
    {1, 1, 1}, {7, 5, 3}, {130, 33, 50}, {1000, 129, 17}, {2050, 70, 50257}, {300, 300, 1}, {3000, 7, 64 * 3 + 5},
};

static void test_case(int ci, leap_dtype t, cudaStream_t st) {
  int64_t N = cases[ci][0], C = cases[ci][1], V = cases[ci][2];
  uint64_t s = (uint64_t)ci * 8;
  int32_t *ids = malloc((size_t)N * sizeof *ids);
  leap_test_fill_int(ids, N, 0, (int32_t)V, s + 1);
  float *table = hbuf(V * C), *dout = hbuf(N * C), *prior = hbuf(V * C);
  leap_test_fill_normal(table, V * C, 1.0f, s + 2);
  leap_test_fill_normal(dout, N * C, 1.0f, s + 3);
  leap_test_fill_uniform(prior, V * C, -1.0f, 1.0f, s + 4);
  if (t == LEAP_BF16) round_bf16(dout, N * C);

  float *want_out = hbuf(N * C), *want_dt = hcopy(prior, V * C);
  leap_test_poison(want_out, N * C);
  leap_embedding_forward_cpu(want_out, ids, table, N, C);
  if (t == LEAP_BF16) round_bf16(want_out, N * C);
  leap_embedding_backward_cpu(want_dt, dout, ids, N, C);

  float *got_out[2] = {hbuf(N * C), hbuf(N * C)}, *got_dt[2] = {hbuf(V * C), hbuf(V * C)};
  for (int run = 0; run < 2; run++) {
    int32_t *dids;
    CK(cudaMalloc((void **)&dids, (size_t)N * sizeof *dids));
    CK(cudaMemcpy(dids, ids, (size_t)N * sizeof *dids, cudaMemcpyHostToDevice));
    void *dtab = dnew(table, V * C, LEAP_F32), *dd = dnew(dout, N * C, t), *dout_ = dalloc(N * C, t);
    void *ddt = dnew(prior, V * C, LEAP_F32);
    leap_embedding_forward_cuda(dout_, dids, (const float *)dtab, N, C, t, (leap_cuda_stream)st);
    leap_embedding_backward_cuda((float *)ddt, dd, dids, N, C, t, (leap_cuda_stream)st);
    dget(got_out[run], dout_, N * C, t);
    dget(got_dt[run], ddt, V * C, LEAP_F32);
    void *bufs[] = {dids, dtab, dd, dout_, ddt};
    for (int i = 0; i < 5; i++) CK(cudaFree(bufs[i]));
  }
  char what[128];
  snprintf(what, sizeof what, "embedding forward case %d %s", ci, dt_name(t));
  leap_test_allclose(what, got_out[0], want_out, N * C, 0.0, 0.0);
  same_bits(what, got_out[0], got_out[1], N * C);
  snprintf(what, sizeof what, "embedding backward case %d %s", ci, dt_name(t));
  leap_test_allclose(what, got_dt[0], want_dt, V * C, 0.0, 0.0);
  same_bits(what, got_dt[0], got_dt[1], V * C);
  for (int run = 0; run < 2; run++) free(got_out[run]), free(got_dt[run]);
  free(ids), free(table), free(dout), free(prior), free(want_out), free(want_dt);
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
