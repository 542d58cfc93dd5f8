/* The benchmark workloads, one entry each: set up (allocate, initialise), run one iteration, tear down. */
#ifndef LEAP_TRAIN_CLI_BENCH_WORKLOADS_H
#define LEAP_TRAIN_CLI_BENCH_WORKLOADS_H

#include <stdbool.h>

#include "train/core/runtime.h"

#define LEAP_BENCH_CPU 1
#define LEAP_BENCH_CUDA 2

typedef struct leap_bench_workload {
  int devices; /* LEAP_BENCH_CPU | LEAP_BENCH_CUDA: where the workload is defined */
  const char *id, *name, *unit;
  double items_per_iter; /* tokens, images, or 1 for "per op" */
  double flops_per_iter; /* 0 when not reported */
  void *(*setup)(leap_runtime *rt);
  void (*run)(void *state);
  void (*teardown)(void *state);
  bool optional; /* setup may return NULL (a cuDNN baseline not in this build, or refusing the shape): skipped */
} leap_bench_workload;

/* Terminated by an entry with id NULL: the model and op workloads (bench_workloads.c), then the kernel-level CUDA
 * rows (bench_kernels.c). */
extern const leap_bench_workload leap_bench_workloads[];
extern const leap_bench_workload leap_bench_kernel_workloads[];

#endif
