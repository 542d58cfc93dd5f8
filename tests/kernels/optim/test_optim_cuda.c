/* Tests of the fused optimizer updates and the clipping pieces on the GPU against the CPU kernels: AdamW over several
 * steps (bias corrections), with and without weight decay, with the gradient factor from the host and from device
 * memory; SGD plain, with momentum (first step and later), Nesterov and weight decay; the bf16 parameter copy written
 * in the same pass (it must equal the fp32 result rounded to bf16 exactly); sum of squares over one chunk and many,
 * accumulated over two arrays into one device double; the clip factor bit-identical to leap_clip_scale. Two runs
 * bit-identical.
 *
 * Tolerances: parameters and optimizer state within RTOL_F32 (1e-4) relative plus atol 1e-6; the sum of squares
 * within 1e-10 relative (double sums in another order). */
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

#include "kernels/optim/optim.h"

#include "tests/common/leap_test_cuda_dense.h"

#define OPT_ATOL 1e-6
#define ADAM_STEPS 3

static const int64_t sizes[] = {1, 7, 1000, 70001};

/* The bf16 copy must be the fp32 parameter rounded once. */
static void check_lowp(const char *what, const float *lowp, const float *param, int64_t n) {
  float *r = hcopy(param, n);
  round_bf16(r, n);
  LEAP_TEST_ASSERT(memcmp(lowp, r, (size_t)n * sizeof(float)) == 0, "%s: bf16 copy is not the rounded parameter", what);
  free(r);
}

static void test_adamw(int si, float wd, bool dev_scale, cudaStream_t st) {
  int64_t n = sizes[si];
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, scale = 0.5f;
  float *p = hbuf(n), *m = hbuf(n), *v = hbuf(n), *g = hbuf(n);
  leap_test_fill_normal(p, n, 1.0f, 1 + (uint64_t)si);
  leap_test_fill_normal(m, n, 0.1f, 2 + (uint64_t)si);
  leap_test_fill_uniform(v, n, 0.001f, 0.01f, 3 + (uint64_t)si);
  float *wp = hcopy(p, n), *wm = hcopy(m, n), *wv = hcopy(v, n);
  float *got[2][4];
  for (int run = 0; run < 2; run++) {
    void *dp = dnew(p, n, LEAP_F32), *dm = dnew(m, n, LEAP_F32), *dv = dnew(v, n, LEAP_F32), *dg = dalloc(n, LEAP_F32);
    void *dl = dalloc(n, LEAP_BF16), *ds = dnew(&scale, 1, LEAP_F32);
    for (int step = 1; step <= ADAM_STEPS; step++) {
      leap_test_fill_normal(g, n, 1.0f, 10 * (uint64_t)step + (uint64_t)si);
      dput(dg, g, n, LEAP_F32);
      leap_adamw_update_cuda((float *)dp, (float *)dm, (float *)dv, (const float *)dg, dl, n, lr, b1, b2, eps, wd, step,
                             dev_scale ? 7.0f : scale, dev_scale ? (const float *)ds : NULL, (leap_cuda_stream)st);
      if (run == 0) leap_adamw_update_cpu(wp, wm, wv, g, n, lr, b1, b2, eps, wd, step, scale);
    }
    void *src[4] = {dp, dm, dv, dl};
    for (int i = 0; i < 4; i++) got[run][i] = hbuf(n), dget(got[run][i], src[i], n, i == 3 ? LEAP_BF16 : LEAP_F32);
    void *bufs[] = {dp, dm, dv, dg, dl, ds};
    for (int i = 0; i < 6; i++) CK(cudaFree(bufs[i]));
  }
  const char *names[3] = {"param", "m", "v"};
  float *w[3] = {wp, wm, wv};
  for (int i = 0; i < 3; i++) {
    char what[128];
    snprintf(what, sizeof what, "adamw %s n=%lld wd=%g %s", names[i], (long long)n, wd,
             dev_scale ? "device scale" : "");
    leap_test_allclose(what, got[0][i], w[i], n, OPT_ATOL, RTOL_F32);
    same_bits(what, got[0][i], got[1][i], n);
  }
  check_lowp("adamw", got[0][3], got[0][0], n);
  for (int run = 0; run < 2; run++)
    for (int i = 0; i < 4; i++) free(got[run][i]);
  free(p), free(m), free(v), free(g), free(wp), free(wm), free(wv);
}

typedef struct {
  float momentum, wd;
  bool nesterov;
} sgd_case;

static const sgd_case sgd_cases[] = {
    {0.0f, 0.0f, false}, {0.9f, 0.0f, false}, {0.9f, 0.01f, true}, {0.0f, 0.1f, false}};

static void test_sgd(int si, const sgd_case *k, cudaStream_t st) {
  int64_t n = sizes[si];
  const float lr = 0.05f, scale = 0.8f;
  float *p = hbuf(n), *buf = hbuf(n), *g = hbuf(n);
  leap_test_fill_normal(p, n, 1.0f, 40 + (uint64_t)si);
  leap_test_fill_normal(buf, n, 0.1f, 41 + (uint64_t)si);
  float *wp = hcopy(p, n), *wb = hcopy(buf, n);
  bool momentum = k->momentum != 0.0f;
  float *got[2][3];
  for (int run = 0; run < 2; run++) {
    void *dp = dnew(p, n, LEAP_F32), *db = dnew(buf, n, LEAP_F32), *dg = dalloc(n, LEAP_F32),
         *dl = dalloc(n, LEAP_BF16);
    for (int step = 1; step <= 2; step++) {
      leap_test_fill_normal(g, n, 1.0f, 50 * (uint64_t)step + (uint64_t)si);
      dput(dg, g, n, LEAP_F32);
      leap_sgd_update_cuda((float *)dp, momentum ? (float *)db : NULL, (const float *)dg, dl, n, lr, k->momentum, k->wd,
                           k->nesterov, step == 1, scale, NULL, (leap_cuda_stream)st);
      if (run == 0)
        leap_sgd_update_cpu(wp, momentum ? wb : NULL, g, n, lr, k->momentum, k->wd, k->nesterov, step == 1, scale);
    }
    void *src[3] = {dp, db, dl};
    for (int i = 0; i < 3; i++) got[run][i] = hbuf(n), dget(got[run][i], src[i], n, i == 2 ? LEAP_BF16 : LEAP_F32);
    void *bufs[] = {dp, db, dg, dl};
    for (int i = 0; i < 4; i++) CK(cudaFree(bufs[i]));
  }
  char what[128];
  snprintf(what, sizeof what, "sgd param n=%lld momentum=%g wd=%g nesterov=%d", (long long)n, k->momentum, k->wd,
           k->nesterov);
  leap_test_allclose(what, got[0][0], wp, n, OPT_ATOL, RTOL_F32);
  same_bits(what, got[0][0], got[1][0], n);
  snprintf(what, sizeof what, "sgd momentum buffer n=%lld momentum=%g", (long long)n, k->momentum);
  leap_test_allclose(what, got[0][1], wb, n, OPT_ATOL, RTOL_F32);
  check_lowp("sgd", got[0][2], got[0][0], n);
  for (int run = 0; run < 2; run++)
    for (int i = 0; i < 3; i++) free(got[run][i]);
  free(p), free(buf), free(g), free(wp), free(wb);
}

/* Sum of squares of x1 then x2 into one device double, and the clip factor from it. */
static void test_sum_squares(int64_t n1, int64_t n2, cudaStream_t st) {
  float *x1 = hbuf(n1), *x2 = hbuf(n2);
  leap_test_fill_normal(x1, n1, 1.0f, 60 + (uint64_t)n1);
  leap_test_fill_normal(x2, n2, 3.0f, 61 + (uint64_t)n2);
  double want = leap_sum_squares_cpu(x1, n1) + leap_sum_squares_cpu(x2, n2), got[2];
  float clip[2];
  const float max_norm = 10.0f;
  for (int run = 0; run < 2; run++) {
    int64_t wsn = (int64_t)leap_sum_squares_workspace_floats_cuda(n1 > n2 ? n1 : n2);
    void *d1 = dnew(x1, n1, LEAP_F32), *d2 = dnew(x2, n2, LEAP_F32), *ws = dalloc(wsn, LEAP_F32);
    void *dclip = dalloc(1, LEAP_F32);
    double *total;
    CK(cudaMalloc((void **)&total, sizeof *total));
    CK(cudaMemset(total, 0, sizeof *total));
    leap_sum_squares_cuda(total, (float *)ws, (const float *)d1, n1, (leap_cuda_stream)st);
    leap_sum_squares_cuda(total, (float *)ws, (const float *)d2, n2, (leap_cuda_stream)st);
    leap_clip_scale_cuda((float *)dclip, total, max_norm, (leap_cuda_stream)st);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(&got[run], total, sizeof *total, cudaMemcpyDeviceToHost));
    dget(&clip[run], dclip, 1, LEAP_F32);
    void *bufs[] = {d1, d2, ws, dclip, total};
    for (int i = 0; i < 5; i++) CK(cudaFree(bufs[i]));
  }
  LEAP_TEST_ASSERT(fabs(got[0] - want) <= 1e-10 * want, "sum of squares (%lld, %lld): %.17g, want %.17g", (long long)n1,
                   (long long)n2, got[0], want);
  LEAP_TEST_ASSERT(memcmp(&got[0], &got[1], sizeof got[0]) == 0, "sum of squares (%lld, %lld): two runs differ",
                   (long long)n1, (long long)n2);
  float want_clip = leap_clip_scale(got[0], max_norm);
  LEAP_TEST_ASSERT(memcmp(&clip[0], &want_clip, sizeof clip[0]) == 0, "clip scale %.9g, want %.9g", clip[0], want_clip);
  same_bits("clip scale", &clip[0], &clip[1], 1);
  free(x1), free(x2);
}

int main(void) {
  if (!have_device()) return LEAP_TEST_SKIP_CODE;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  for (int si = 0; si < (int)(sizeof sizes / sizeof sizes[0]); si++) {
    test_adamw(si, 0.0f, false, st);
    test_adamw(si, 0.1f, true, st);
    for (int k = 0; k < (int)(sizeof sgd_cases / sizeof sgd_cases[0]); k++) test_sgd(si, &sgd_cases[k], st);
  }
  test_sum_squares(1, 7, st);
  test_sum_squares(16384, 16385, st);
  test_sum_squares(1000003, 5, st);
  test_sum_squares(3, 16384 * 70000 / 64, st);
  CK(cudaStreamDestroy(st));
  return leap_test_finish();
}

#endif
