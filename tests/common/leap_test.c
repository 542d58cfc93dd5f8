#include "tests/common/leap_test.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

static int g_passed, g_failed;

bool leap_test_assert_at(bool cond, const char *file, int line, const char *expr, const char *fmt, ...) {
  if (cond) {
    g_passed++;
    return true;
  }
  g_failed++;
  fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return false;
}

bool leap_test_allclose(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol) {
  int64_t worst = -1, bad = 0;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double g = got[i], w = want[i];
    double excess = fabs(g - w) - (atol + rtol * fabs(w));
    if (isnan(g) || isnan(w) || excess > 0) {
      bad++;
      if (worst < 0 || isnan(g) || excess > worst_excess) worst = i, worst_excess = isnan(g) ? INFINITY : excess;
    }
  }
  if (bad == 0) {
    g_passed++;
    return true;
  }
  g_failed++;
  fprintf(stderr, "FAIL %s: %lld of %lld elements off (atol %g rtol %g); worst [%lld] got %.8g want %.8g\n", what,
          (long long)bad, (long long)n, atol, rtol, (long long)worst, got[worst], want[worst]);
  return false;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double unit(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

void leap_test_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed) {
  uint64_t s = seed * 7919u + 1;
  for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)unit(&s);
}

void leap_test_fill_normal(float *x, int64_t n, float std, uint64_t seed) {
  uint64_t s = seed * 104729u + 3;
  for (int64_t i = 0; i < n; i++) {
    double u1 = unit(&s), u2 = unit(&s);
    x[i] = (float)(std * sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2));
  }
}

void leap_test_fill_int(int32_t *x, int64_t n, int32_t lo, int32_t hi, uint64_t seed) {
  uint64_t s = seed * 15485863u + 5;
  for (int64_t i = 0; i < n; i++) x[i] = lo + (int32_t)(splitmix64(&s) % (uint64_t)(hi - lo));
}

void leap_test_poison(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = NAN;
}

double leap_test_dot(const float *x, const float *w, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)w[i];
  return s;
}

bool leap_test_gradcheck(const char *what, leap_test_scalar_fn f, void *user, float *x, const float *grad, int64_t n,
                         double eps, double atol, double rtol, int max_checks) {
  int64_t step = (max_checks > 0 && n > max_checks) ? (n + max_checks - 1) / max_checks : 1;
  double diff2 = 0.0, ref2 = 0.0, worst_excess = 0.0;
  int64_t worst = -1;
  double worst_fd = 0.0;
  for (int64_t i = 0; i < n; i += step) {
    float saved = x[i];
    x[i] = saved + (float)eps;
    double up = f(user);
    x[i] = saved - (float)eps;
    double down = f(user);
    x[i] = saved;
    double h = ((double)(saved + (float)eps) - (double)(saved - (float)eps));
    double fd = (up - down) / h;
    double d = grad[i] - fd;
    diff2 += d * d;
    ref2 += fd * fd;
    double excess = fabs(d) - (atol + rtol * fabs(fd));
    if (isnan(d) || excess > worst_excess || (worst < 0 && excess > 0)) {
      worst = i, worst_excess = isnan(d) ? INFINITY : excess, worst_fd = fd;
    }
  }
  bool ok = worst < 0 && diff2 <= rtol * rtol * (ref2 + 1e-30) + atol * atol;
  if (ok) {
    g_passed++;
    return true;
  }
  g_failed++;
  fprintf(stderr, "FAIL gradcheck %s: |g-fd|/|fd| = %.3g", what, sqrt(diff2 / (ref2 + 1e-30)));
  if (worst >= 0)
    fprintf(stderr, "; worst [%lld] analytic %.8g finite-difference %.8g", (long long)worst, grad[worst], worst_fd);
  fputc('\n', stderr);
  return false;
}

int leap_test_finish(void) {
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
