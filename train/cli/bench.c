/* leap bench: the workloads of the benchmark table (W1-W6 on the CPU; W1-W5 and G1-G5 on CUDA, in bf16) and the
 * kernel-level CUDA rows (bench_kernels.c), timed the same way each time: 3 warm-up iterations, then at least 20
 * timed ones (and at least --min-seconds), reporting the median. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/blas/blas.h"
#include "train/cli/bench_workloads.h"
#include "train/cli/cli.h"
#include "train/core/device_memory.h"
#include "train/core/runtime.h"

#define BENCH_WARMUP 3
#define BENCH_MIN_ITERS 20
#define BENCH_MIN_SECONDS 1.0 /* the default of --min-seconds */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median seconds per iteration of w->run. */
static double time_workload(const leap_bench_workload *w, void *state, const leap_runtime *rt, double min_seconds,
                            int *iters_out) {
  for (int i = 0; i < BENCH_WARMUP; i++) w->run(state);
  leap_runtime_sync(rt);
  int cap = 1000, n = 0;
  double *times = malloc(sizeof(double) * (size_t)cap);
  double start = now_seconds();
  while (n < cap && (n < BENCH_MIN_ITERS || now_seconds() - start < min_seconds)) {
    double t0 = now_seconds();
    w->run(state);
    leap_runtime_sync(rt);
    times[n++] = now_seconds() - t0;
  }
  qsort(times, (size_t)n, sizeof(double), compare_doubles);
  double median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  free(times);
  *iters_out = n;
  return median;
}

static bool selected(const char *only, const char *id) {
  if (!only) return true;
  size_t len = strlen(id);
  for (const char *p = only; (p = strstr(p, id)) != NULL; p += len)
    if ((p == only || p[-1] == ',') && (p[len] == ',' || p[len] == '\0')) return true;
  return false;
}

/* Times one workload and prints its row: 0 when it ran, -1 when an optional one is unavailable (not in this build,
 * or cuDNN refused the shape), 1 on error. */
static int run_one(const leap_bench_workload *w, leap_runtime *rt, const char *device_name, bool json,
                   double min_seconds) {
  void *state = w->setup(rt);
  if (!state) {
    if (w->optional) {
      if (!json) printf("%-20s %-44s %10s\n", w->id, w->name, "(unavailable)");
      return -1;
    }
    fprintf(stderr, "leap: bench: %s could not be set up\n", w->id);
    return 1;
  }
  int iters = 0;
  double sec = time_workload(w, state, rt, min_seconds, &iters);
  w->teardown(state);
  double throughput = w->items_per_iter / sec, gflops = w->flops_per_iter > 0 ? w->flops_per_iter / sec * 1e-9 : 0;
  if (json)
    printf("{\"workload\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"median_ms\": %.4f, \"throughput\": %.2f, "
           "\"unit\": \"%s\", \"gflops\": %.2f, \"iterations\": %d}\n",
           w->id, device_name, rt->threads, sec * 1e3, throughput, w->unit, gflops, iters);
  else
    printf("%-20s %-44s %10.3f %14.1f %-10s %10.1f\n", w->id, w->name, sec * 1e3, throughput, w->unit, gflops);
  fflush(stdout);
  return 0;
}

static int usage(void) {
  printf("usage: leap bench [--device cpu|cuda] [--only W1,W2,...] [--threads N] [--min-seconds S] [--json]\n"
         "Times the benchmark workloads (docs/benchmarks.md): median of >= %d iterations after %d warm-ups, and of\n"
         "at least S seconds of them (default %.1f).\n",
         BENCH_MIN_ITERS, BENCH_WARMUP, BENCH_MIN_SECONDS);
  return 0;
}

int leap_cli_bench(int argc, char **argv) {
  /* Like every command, the default device is the GPU when there is one. */
  const char *only = NULL, *device_name = leap_device_available(LEAP_CUDA) ? "cuda" : "cpu";
  int threads = 2;
  bool json = false;
  double min_seconds = BENCH_MIN_SECONDS;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return usage();
    else if (!strcmp(argv[i], "--json")) json = true;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--device") && i + 1 < argc) device_name = argv[++i];
    else if (!strcmp(argv[i], "--min-seconds") && i + 1 < argc) {
      char *end;
      min_seconds = strtod(argv[++i], &end);
      if (*end || !(min_seconds >= 0 && min_seconds <= 600))
        return leap_cli_usage_error("bench: --min-seconds '%s': expected seconds in [0, 600]", argv[i]);
    }
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      if (!leap_cli_parse_int("--threads", argv[++i], &threads)) return 2;
    } else return leap_cli_usage_error("bench: unknown argument '%s' (leap bench --help)", argv[i]);
  }
  int device = leap_device_from_name(device_name);
  if (device < 0) return leap_cli_usage_error("bench: unknown device '%s' (cpu or cuda)", device_name);
  leap_runtime rt;
  leap_error err = {0};
  if (leap_runtime_init(&rt, (leap_device)device, threads, &err)) {
    fprintf(stderr, "leap: bench: %s\n", err.message);
    return 1;
  }
  if (!json) {
    printf("leap bench: device %s, %d threads, BLAS: %s\n", device_name, rt.threads, leap_blas_describe());
    printf("%-20s %-44s %10s %14s %-10s %10s\n", "id", "workload", "median_ms", "throughput", "unit", "GFLOP/s");
  }
  int ran = 0;
  const leap_bench_workload *tables[] = {leap_bench_workloads, leap_bench_kernel_workloads};
  for (int t = 0; t < 2; t++)
    for (const leap_bench_workload *w = tables[t]; w->id; w++) {
      if (!selected(only, w->id) || !(w->devices & (device == LEAP_CPU ? LEAP_BENCH_CPU : LEAP_BENCH_CUDA))) continue;
      int status = run_one(w, &rt, device_name, json, min_seconds);
      if (status > 0) return status;
      ran++;
    }
  if (ran == 0) return leap_cli_usage_error("bench: --only '%s' matches no workload", only ? only : "");
  return 0;
}
