/* The test harness every leap test uses: value checks that count failures, deterministic test data, and a
 * finite-difference gradient check. A test's main() returns leap_test_finish(); exit code 77 means skipped. */
#ifndef LEAP_TESTS_COMMON_LEAP_TEST_H
#define LEAP_TESTS_COMMON_LEAP_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LEAP_TEST_SKIP_CODE 77

/* Records a failure (with file:line and a printf-style message) when cond is false; returns cond. */
#define LEAP_TEST_ASSERT(cond, ...) leap_test_assert_at((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
bool leap_test_assert_at(bool cond, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Compares got against want elementwise: |got - want| <= atol + rtol * |want|, NaN never passes.
 * Prints the worst element on failure and returns whether all passed. */
bool leap_test_allclose(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol);

/* Deterministic pseudo-random test data (a private generator, independent of the engine's RNG). */
void leap_test_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed);
void leap_test_fill_normal(float *x, int64_t n, float std, uint64_t seed);
void leap_test_fill_int(int32_t *x, int64_t n, int32_t lo, int32_t hi_exclusive, uint64_t seed);

/* Fills x with a value no kernel produces, so that an element a kernel failed to write is caught. */
void leap_test_poison(float *x, int64_t n);

/* Finite-difference gradient check. f(user) returns a scalar loss computed (in double) from the current contents
 * of x; grad holds the analytic dL/dx. Checks up to max_checks elements (spread over x; all when n is smaller) by
 * central differences with step eps. Passes when each element satisfies |g - fd| <= atol + rtol * |fd| and the
 * norm of the difference is under rtol of the norm of fd. */
typedef double (*leap_test_scalar_fn)(void *user);
bool leap_test_gradcheck(const char *what, leap_test_scalar_fn f, void *user, float *x, const float *grad, int64_t n,
                         double eps, double atol, double rtol, int max_checks);

/* Sum of x[i] * w[i] in double: the usual way to turn an op's output into a scalar loss for gradchecks. */
double leap_test_dot(const float *x, const float *w, int64_t n);

/* Prints "N passed, M failed" (checks) and returns the process exit code. */
int leap_test_finish(void);

#endif
