/* OpenBLAS, opened at run time with its kernel chosen first.
 *
 * Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and then silently runs generic SSE kernels, 5-10x
 * slower. It reads OPENBLAS_CORETYPE once, in its load-time constructor, so the variable must be set before the
 * library is loaded: setting it in main() of a program linked against it is too late. leap therefore does not link
 * OpenBLAS; on the first matrix product it picks a core type from the CPU's features (unless the user set one),
 * then dlopen()s the OpenMP build, whose threads cooperate with leap's OpenMP threads (the pthread build fights
 * them). LEAP_BLAS_LIBRARY names another library with the cblas interface; without any, a plain C kernel runs. */
#define _GNU_SOURCE
#include "kernels/blas/blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/kernel_common.h"

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*get_config_fn)(void);
typedef char *(*get_corename_fn)(void);

static struct {
  pthread_once_t once;
  cblas_sgemm_fn sgemm;
  set_threads_fn set_threads;
  char description[256];
  int pending_threads;
} g_blas = {PTHREAD_ONCE_INIT, NULL, NULL, "", 0};

/* The OpenBLAS core type whose kernels suit this CPU, or NULL to let OpenBLAS decide. */
static const char *pick_coretype(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return NULL;
}

static void *open_blas_library(void) {
  const char *user = getenv("LEAP_BLAS_LIBRARY");
  if (user && *user) return dlopen(user, RTLD_NOW | RTLD_LOCAL);
  static const char *candidates[] = {
#ifdef LEAP_BLAS_MULTIARCH
      "/usr/lib/" LEAP_BLAS_MULTIARCH "/openblas-openmp/libopenblas.so.0",
#endif
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "/usr/lib/aarch64-linux-gnu/openblas-openmp/libopenblas.so.0", "libopenblas.so.0", NULL};
  for (int i = 0; candidates[i]; i++) {
    void *h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
  }
  return NULL;
}

static void blas_load(void) {
#ifdef LEAP_WITH_BLAS
  const char *core = getenv("OPENBLAS_CORETYPE");
  const char *origin = "set by the user";
  if (!core || !*core) {
    core = pick_coretype();
    origin = "chosen by leap";
    if (core) setenv("OPENBLAS_CORETYPE", core, 0);
  }
  void *h = open_blas_library();
  if (h) {
    g_blas.sgemm = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
    g_blas.set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    get_config_fn cfg = (get_config_fn)dlsym(h, "openblas_get_config");
    get_corename_fn corename = (get_corename_fn)dlsym(h, "openblas_get_corename");
    snprintf(g_blas.description, sizeof g_blas.description, "%s, core %s (OPENBLAS_CORETYPE %s)",
             cfg ? cfg() : "cblas", corename ? corename() : "?", core ? origin : "unset");
  }
  if (!g_blas.sgemm)
    snprintf(g_blas.description, sizeof g_blas.description, "built-in C sgemm (no OpenBLAS found: %s)", dlerror());
#else
  snprintf(g_blas.description, sizeof g_blas.description, "built-in C sgemm (built with LEAP_BLAS=OFF)");
#endif
  if (g_blas.set_threads && g_blas.pending_threads > 0) g_blas.set_threads(g_blas.pending_threads);
}

const char *leap_blas_describe(void) {
  pthread_once(&g_blas.once, blas_load);
  return g_blas.description;
}

void leap_blas_set_threads(int n) {
  g_blas.pending_threads = n;
  pthread_once(&g_blas.once, blas_load);
  if (g_blas.set_threads) g_blas.set_threads(n);
}

/* The fallback: C (M,N) += alpha * op(A) op(B), rows split over threads, a k-outer loop that vectorises over N. */
static void sgemm_fallback(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                           int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  LEAP_OMP_FOR
  for (int64_t i = 0; i < M; i++) {
    float *c = C + i * ldc;
    for (int64_t j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    for (int64_t k = 0; k < K; k++) {
      float a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      if (!tb) {
        const float *b = B + k * ldb;
        for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
      } else {
        for (int64_t j = 0; j < N; j++) c[j] += a * B[j * ldb + k];
      }
    }
  }
}

void leap_sgemm_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  pthread_once(&g_blas.once, blas_load);
  if (g_blas.sgemm && M < INT32_MAX && N < INT32_MAX && K < INT32_MAX) {
    g_blas.sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)M,
                 (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return;
  }
  sgemm_fallback(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void leap_sgemm_batched_cpu(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t lda, int64_t stride_a, const float *B, int64_t ldb,
                            int64_t stride_b, float beta, float *C, int64_t ldc, int64_t stride_c) {
  for (int64_t b = 0; b < batch; b++)
    leap_sgemm_cpu(ta, tb, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c,
                   ldc);
}
