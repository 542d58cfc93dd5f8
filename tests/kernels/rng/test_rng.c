/* Tests of the counter-based generator: Philox4x32-10 against its published known-answer vectors, the definition of
 * the (seed, stream, index) numbering, the moments of the uniform and normal fills, and that a fill depends only on
 * its counters (not on threads, chunking or offset alignment). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng/rng.h"
#include "tests/common/leap_test.h"

#ifdef LEAP_WITH_OPENMP
#include <omp.h>
#endif

/* Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, expected output. */
typedef struct {
  uint32_t ctr[4], key[2], want[4];
} kat_case;

static const kat_case kat_cases[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

static void test_known_answers(void) {
  for (size_t c = 0; c < sizeof kat_cases / sizeof kat_cases[0]; c++) {
    const kat_case *k = &kat_cases[c];
    leap_philox4 ctr = {{k->ctr[0], k->ctr[1], k->ctr[2], k->ctr[3]}};
    leap_philox4 got = leap_philox4x32_10(ctr, k->key[0], k->key[1]);
    for (int l = 0; l < 4; l++)
      LEAP_TEST_ASSERT(got.x[l] == k->want[l], "KAT %zu lane %d: got %08x want %08x", c, l, got.x[l], k->want[l]);
    /* The same vector through the (seed, stream, index) numbering. */
    uint64_t seed = (uint64_t)k->key[0] | (uint64_t)k->key[1] << 32;
    uint64_t block = (uint64_t)k->ctr[0] | (uint64_t)k->ctr[1] << 32;
    uint64_t stream = (uint64_t)k->ctr[2] | (uint64_t)k->ctr[3] << 32;
    leap_philox4 via = leap_rng_block(seed, stream, block);
    for (int l = 0; l < 4; l++) {
      LEAP_TEST_ASSERT(via.x[l] == k->want[l], "KAT %zu via leap_rng_block lane %d: %08x", c, l, via.x[l]);
      /* Value indices are 64-bit, so only blocks below 2^62 are reachable through leap_rng_bits. */
      if (block < (1ull << 62)) {
        uint32_t bits = leap_rng_bits(seed, stream, block * 4 + (uint64_t)l);
        LEAP_TEST_ASSERT(bits == k->want[l], "KAT %zu via leap_rng_bits lane %d: %08x", c, l, bits);
      }
    }
  }
}

/* Uniform i is (bits(i) >> 8) * 2^-24 and normal i is Box-Muller over bits 2i and 2i+1, including indices and
 * seeds whose high words are non-zero. */
static void test_definitions(void) {
  const uint64_t seeds[] = {0, 1234567, 0x123456789abcdef0ull};
  const uint64_t streams[] = {0, 7, 0xfedcba9876543210ull};
  const uint64_t indices[] = {0, 1, 2, 3, 4, 5, 1001, (1ull << 34) + 3, (1ull << 62) + 1};
  for (int s = 0; s < 3; s++)
    for (int t = 0; t < 3; t++)
      for (int j = 0; j < 9; j++) {
        uint64_t i = indices[j];
        leap_philox4 ctr = {{(uint32_t)(i / 4), (uint32_t)((i / 4) >> 32), (uint32_t)streams[t],
                             (uint32_t)(streams[t] >> 32)}};
        leap_philox4 r = leap_philox4x32_10(ctr, (uint32_t)seeds[s], (uint32_t)(seeds[s] >> 32));
        double want_u = (double)(r.x[i % 4] >> 8) / 16777216.0;
        float u = leap_rng_uniform(seeds[s], streams[t], i);
        LEAP_TEST_ASSERT((double)u == want_u && u >= 0.0f && u < 1.0f, "uniform %llu: %.9g want %.9g",
                         (unsigned long long)i, u, want_u);
        uint32_t a = leap_rng_bits(seeds[s], streams[t], 2 * i), b = leap_rng_bits(seeds[s], streams[t], 2 * i + 1);
        double u1 = ((double)(a >> 8) + 1.0) / 16777216.0, u2 = (double)(b >> 8) / 16777216.0;
        double want_z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        float z = leap_rng_normal(seeds[s], streams[t], i);
        LEAP_TEST_ASSERT(fabs(z - want_z) <= 1e-5 * (1.0 + fabs(want_z)), "normal %llu: %.9g want %.9g",
                         (unsigned long long)i, z, want_z);
      }
}

typedef struct {
  double mean, var, skew, kurt, min, max;
} moments;

static moments compute_moments(const float *x, int64_t n) {
  moments m = {0, 0, 0, 0, INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; i++) {
    m.mean += x[i];
    if (x[i] < m.min) m.min = x[i];
    if (x[i] > m.max) m.max = x[i];
  }
  m.mean /= (double)n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = x[i] - m.mean;
    m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
  }
  m.var = m2 / (double)n;
  m.skew = (m3 / (double)n) / pow(m.var, 1.5);
  m.kurt = (m4 / (double)n) / (m.var * m.var);
  return m;
}

/* Over 1e6 samples: tolerances are about five standard errors of each statistic. */
static void test_moments(float *x, int64_t n) {
  leap_test_poison(x, n);
  leap_rng_fill_uniform_cpu(x, n, 0.0f, 1.0f, 42, 0, 0);
  moments u = compute_moments(x, n);
  LEAP_TEST_ASSERT(fabs(u.mean - 0.5) < 1.5e-3, "uniform mean %.6f", u.mean);
  LEAP_TEST_ASSERT(fabs(u.var - 1.0 / 12.0) < 4e-4, "uniform variance %.6f", u.var);
  LEAP_TEST_ASSERT(u.min >= 0.0 && u.max < 1.0 && u.min < 1e-4 && u.max > 1.0 - 1e-4, "uniform range [%g, %g]",
                   u.min, u.max);

  leap_rng_fill_uniform_cpu(x, n, -3.0f, 5.0f, 43, 1, 0);
  u = compute_moments(x, n);
  LEAP_TEST_ASSERT(fabs(u.mean - 1.0) < 1.2e-2 && fabs(u.var - 64.0 / 12.0) < 3e-2 && u.min >= -3.0 && u.max <= 5.0,
                   "uniform [-3,5): mean %.5f variance %.5f", u.mean, u.var);

  leap_test_poison(x, n);
  leap_rng_fill_normal_cpu(x, n, 0.0f, 1.0f, 42, 0, 0);
  moments z = compute_moments(x, n);
  LEAP_TEST_ASSERT(fabs(z.mean) < 5e-3, "normal mean %.6f", z.mean);
  LEAP_TEST_ASSERT(fabs(z.var - 1.0) < 7e-3, "normal variance %.6f", z.var);
  LEAP_TEST_ASSERT(fabs(z.skew) < 1.2e-2, "normal skewness %.6f", z.skew);
  LEAP_TEST_ASSERT(fabs(z.kurt - 3.0) < 3e-2, "normal kurtosis %.6f", z.kurt);
  LEAP_TEST_ASSERT(isfinite(z.min) && isfinite(z.max) && z.min < -4.0 && z.max > 4.0, "normal range [%g, %g]", z.min,
                   z.max);
  int64_t within1 = 0;
  for (int64_t i = 0; i < n; i++) within1 += fabsf(x[i]) < 1.0f;
  LEAP_TEST_ASSERT(fabs((double)within1 / (double)n - 0.682689) < 2.5e-3, "normal P(|z|<1) %.5f",
                   (double)within1 / (double)n);

  leap_rng_fill_normal_cpu(x, n, 2.0f, 0.5f, 44, 3, 0);
  z = compute_moments(x, n);
  LEAP_TEST_ASSERT(fabs(z.mean - 2.0) < 2.5e-3 && fabs(z.var - 0.25) < 2e-3, "normal(2, 0.5): mean %.5f var %.5f",
                   z.mean, z.var);
}

typedef struct {
  int64_t n;
  uint64_t offset;
} fill_case;

/* Each fill element equals the scalar definition at offset + j, whatever the offset's alignment and n. */
static void test_fill_matches_scalar(void) {
  const fill_case cases[] = {{1, 0}, {3, 1}, {7, 2}, {65, 3}, {1001, 0}, {20011, 5}, {40000, (1ull << 33) + 1}};
  const uint64_t seed = 0x9e3779b97f4a7c15ull, stream = 11;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t n = cases[c].n;
    uint64_t off = cases[c].offset;
    float *got = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
    leap_test_poison(got, n);
    leap_rng_fill_uniform_cpu(got, n, -1.0f, 2.0f, seed, stream, off);
    for (int64_t j = 0; j < n; j++) want[j] = (float)(-1.0 + 3.0 * leap_rng_uniform(seed, stream, off + (uint64_t)j));
    leap_test_allclose("fill_uniform vs scalar", got, want, n, 1e-6, 0.0);
    leap_test_poison(got, n);
    leap_rng_fill_normal_cpu(got, n, 0.5f, 3.0f, seed, stream, off);
    for (int64_t j = 0; j < n; j++)
      want[j] = (float)(0.5 + 3.0 * leap_rng_normal(seed, stream, off + (uint64_t)j));
    leap_test_allclose("fill_normal vs scalar", got, want, n, 1e-5, 1e-6);
    /* Uniform values of a unit fill are exact, so the span must match bit for bit. */
    leap_rng_fill_uniform_cpu(got, n, 0.0f, 1.0f, seed, stream, off);
    bool exact = true;
    for (int64_t j = 0; j < n; j++) exact &= got[j] == leap_rng_uniform(seed, stream, off + (uint64_t)j);
    LEAP_TEST_ASSERT(exact, "unit uniform fill bit-exact, n %lld offset %llu", (long long)n, (unsigned long long)off);
    free(got), free(want);
  }
}

/* Splitting a fill into pieces at arbitrary points, and running it on 1 or 2 threads, gives the same bits. */
static void test_split_and_threads(void) {
  const int64_t n = 100003;
  float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
  for (int kind = 0; kind < 2; kind++) {
    if (kind == 0) leap_rng_fill_uniform_cpu(a, n, 0.0f, 1.0f, 5, 9, 17);
    else leap_rng_fill_normal_cpu(a, n, 0.0f, 1.0f, 5, 9, 17);
    const int64_t cuts[] = {0, 1, 6, 4099, 50000, 99998, n};
    leap_test_poison(b, n);
    for (int k = 0; k + 1 < 7; k++) {
      if (kind == 0) leap_rng_fill_uniform_cpu(b + cuts[k], cuts[k + 1] - cuts[k], 0.0f, 1.0f, 5, 9, 17 + cuts[k]);
      else leap_rng_fill_normal_cpu(b + cuts[k], cuts[k + 1] - cuts[k], 0.0f, 1.0f, 5, 9, 17 + cuts[k]);
    }
    LEAP_TEST_ASSERT(memcmp(a, b, n * sizeof(float)) == 0, "%s fill split into pieces differs",
                     kind ? "normal" : "uniform");
#ifdef LEAP_WITH_OPENMP
    for (int threads = 1; threads <= 2; threads++) {
      omp_set_num_threads(threads);
      leap_test_poison(b, n);
      if (kind == 0) leap_rng_fill_uniform_cpu(b, n, 0.0f, 1.0f, 5, 9, 17);
      else leap_rng_fill_normal_cpu(b, n, 0.0f, 1.0f, 5, 9, 17);
      LEAP_TEST_ASSERT(memcmp(a, b, n * sizeof(float)) == 0, "%s fill on %d threads differs",
                       kind ? "normal" : "uniform", threads);
    }
    omp_set_num_threads(2);
#endif
  }
  free(a), free(b);
}

/* Different streams, seeds or offsets give (practically) unrelated values; the same counters give the same values. */
static void test_streams_differ(void) {
  const int64_t n = 4096;
  float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
  const uint64_t variants[][3] = {{1, 0, 0}, {1, 1, 0}, {2, 0, 0}, {1ull << 32 | 1, 0, 0}, {1, 1ull << 32, 0},
                                  {1, 0, 4}};
  leap_rng_fill_uniform_cpu(a, n, 0.0f, 1.0f, 1, 0, 0);
  leap_rng_fill_uniform_cpu(b, n, 0.0f, 1.0f, 1, 0, 0);
  LEAP_TEST_ASSERT(memcmp(a, b, n * sizeof(float)) == 0, "same counters, different values");
  for (int v = 1; v < 6; v++) {
    leap_rng_fill_uniform_cpu(b, n, 0.0f, 1.0f, variants[v][0], variants[v][1], variants[v][2]);
    int64_t equal = 0;
    double corr = 0.0;
    for (int64_t i = 0; i < n; i++) {
      equal += a[i] == b[i];
      corr += (a[i] - 0.5) * (b[i] - 0.5);
    }
    corr /= (double)n / 12.0;
    LEAP_TEST_ASSERT(equal <= 2 && fabs(corr) < 0.08, "variant %d: %lld equal values, correlation %.4f", v,
                     (long long)equal, corr);
  }
  free(a), free(b);
}

int main(void) {
  test_known_answers();
  test_definitions();
  const int64_t n = 1000000;
  float *x = malloc(n * sizeof(float));
  test_moments(x, n);
  free(x);
  test_fill_matches_scalar();
  test_split_and_threads();
  test_streams_differ();
  return leap_test_finish();
}
