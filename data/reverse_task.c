#include "data/reverse_task.h"

#include "kernels/rng/philox.h"

#define REVERSE_STREAM 0x72657665u

void leap_reverse_task_batch(const leap_reverse_task *t, int batch, uint64_t seed, uint64_t index, int32_t *tokens,
                             int32_t *targets) {
  int L = t->length, T = 2 * L + 1;
  for (int b = 0; b < batch; b++) {
    int32_t *x = tokens + (int64_t)b * T, *y = targets + (int64_t)b * T;
    uint64_t base = (index * (uint64_t)batch + (uint64_t)b) * (uint64_t)L;
    for (int i = 0; i < L; i++) {
      float u = leap_rng_uniform(seed, REVERSE_STREAM, base + (uint64_t)i);
      x[i] = 1 + (int32_t)(u * (float)(t->vocab - 1)) % (t->vocab - 1);
    }
    x[L] = 0;
    for (int i = 0; i < L; i++) x[L + 1 + i] = x[L - 1 - i];
    /* Position p predicts token p+1: score only the predictions of the reversed half. */
    for (int p = 0; p < T; p++) y[p] = (p >= L && p < T - 1) ? x[p + 1] : -1;
  }
}
