/* Fully connected layer (linear.h): two products for backward, one for forward after the bias is broadcast into
 * the output (so the product accumulates onto it with beta = 1). The products go through leap_sgemm_tiled_cpu
 * (matmul.h), whose results do not depend on the number of threads. */
#include "kernels/linear/linear.h"

#include <string.h>

#include "kernels/common/kernel_common.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/vec_cpu.h"
#include "kernels/matmul/matmul.h"

void leap_linear_forward_cpu(float *out, const float *inp, const float *weight, const float *bias, int64_t N,
                             int64_t IN, int64_t OUT) {
  if (bias) {
    LEAP_VEC_OMP_FOR_IF(N * OUT >= LEAP_VEC_PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++) memcpy(out + n * OUT, bias, (size_t)OUT * sizeof(float));
  }
  leap_sgemm_tiled_cpu(false, true, 1, N, OUT, IN, 1.0f, inp, IN, 0, weight, IN, 0, bias ? 1.0f : 0.0f, out, OUT, 0);
}

size_t leap_linear_backward_workspace_floats(int64_t N, int64_t OUT) { return leap_sum_rows_workspace_floats(N, OUT); }

void leap_linear_backward_cpu(float *dinp, float *dweight, float *dbias, float *workspace, const float *dout,
                              const float *inp, const float *weight, int64_t N, int64_t IN, int64_t OUT) {
  if (dinp) leap_sgemm_tiled_cpu(false, false, 1, N, IN, OUT, 1.0f, dout, OUT, 0, weight, IN, 0, 1.0f, dinp, IN, 0);
  if (dweight) leap_sgemm_tiled_cpu(true, false, 1, OUT, IN, N, 1.0f, dout, OUT, 0, inp, IN, 0, 1.0f, dweight, IN, 0);
  if (dbias) leap_sum_rows_cpu(dbias, workspace, dout, NULL, N, OUT);
}
