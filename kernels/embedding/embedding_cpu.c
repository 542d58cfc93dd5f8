/* Embedding lookup and scatter-add (embedding.h). The forward pass copies rows in parallel. The backward pass gives
 * each thread a contiguous slice of the columns, rounded to whole cache lines, and walks all N rows in order; since
 * each column's additions then happen in row order on one thread, the slicing cannot change any result. */
#include "kernels/embedding/embedding.h"

#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/vec_cpu.h"

/* Columns are split among threads in multiples of one cache line of floats, so no two threads share a line. */
#define EMBEDDING_COL_ALIGN 16

void leap_embedding_forward_cpu(float *out, const int32_t *ids, const float *table, int64_t N, int64_t C) {
  LEAP_VEC_OMP_FOR_IF(N > 1 && N * C >= LEAP_VEC_PARALLEL_MIN)
  for (int64_t n = 0; n < N; n++) memcpy(out + n * C, table + (int64_t)ids[n] * C, (size_t)C * sizeof(float));
}

static void scatter_columns(float *LEAP_RESTRICT dtable, const float *LEAP_RESTRICT dout, const int32_t *ids, int64_t N,
                            int64_t C, int64_t c0, int64_t c1) {
  for (int64_t n = 0; n < N; n++) {
    float *LEAP_RESTRICT d = dtable + (int64_t)ids[n] * C;
    const float *LEAP_RESTRICT g = dout + n * C;
    for (int64_t c = c0; c < c1; c++) d[c] += g[c];
  }
}

void leap_embedding_backward_cpu(float *dtable, const float *dout, const int32_t *ids, int64_t N, int64_t C) {
#ifdef LEAP_WITH_OPENMP
  if (N * C >= LEAP_VEC_PARALLEL_MIN && C >= 2 * EMBEDDING_COL_ALIGN) {
#pragma omp parallel
    {
      int64_t lines = (C + EMBEDDING_COL_ALIGN - 1) / EMBEDDING_COL_ALIGN;
      int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t c0 = leap_vec_min(lines * t / nt * EMBEDDING_COL_ALIGN, C);
      int64_t c1 = leap_vec_min(lines * (t + 1) / nt * EMBEDDING_COL_ALIGN, C);
      scatter_columns(dtable, dout, ids, N, C, c0, c1);
    }
    return;
  }
#endif
  scatter_columns(dtable, dout, ids, N, C, 0, C);
}
