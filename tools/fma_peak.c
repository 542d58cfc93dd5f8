/* Measures this machine's fp32 FMA peak: each thread runs 16 independent AVX-512 (or AVX2) FMA chains, so the
 * loop is bound by FMA throughput, not latency. Build and run:
 *   gcc -O3 -march=native -fopenmp tools/fma_peak.c -o /tmp/fma_peak && OMP_NUM_THREADS=2 /tmp/fma_peak
 * Prints GFLOP/s for 1 thread and for all threads (2 FLOPs per lane per FMA). */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1(x) _mm512_set1_ps(x)
#define STORE(p, v) _mm512_storeu_ps(p, v)
#else
typedef __m256 vec;
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1(x) _mm256_set1_ps(x)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#endif

#define CHAINS 16
#define ITERS 200000000L

static float run(long iters) {
  vec acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = SET1((float)i);
  vec a = SET1(0.999999f), b = SET1(1e-7f);
  for (long it = 0; it < iters; it++)
    {
      _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], a, b);
    }
  float out[LANES], sum = 0;
  for (int i = 0; i < CHAINS; i++) {
    STORE(out, acc[i]);
    sum += out[0];
  }
  return sum;
}

static double measure(int threads) {
  long iters = ITERS / 10;
  double t0 = omp_get_wtime();
  float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += run(iters);
  double sec = omp_get_wtime() - t0;
  if (sink == 42.0f) puts("");
  return 2.0 * LANES * CHAINS * (double)iters * threads / sec * 1e-9;
}

int main(void) {
  int n = omp_get_max_threads();
  measure(1);
  printf("fp32 FMA peak (%d-lane vectors): 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", LANES, measure(1), n,
         measure(n));
  return 0;
}
