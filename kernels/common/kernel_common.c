#include "kernels/common/kernel_common.h"

#include "kernels/blas/blas.h"

int leap_kernels_threads(void) {
#ifdef LEAP_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void leap_kernels_set_threads(int n) {
  if (n < 1) return;
#ifdef LEAP_WITH_OPENMP
  omp_set_num_threads(n);
#endif
  leap_blas_set_threads(n);
}
