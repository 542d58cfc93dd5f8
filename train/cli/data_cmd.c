/* leap data: makes the seed tasks' datasets (make), byte-level token files from text (text), and lists what an
 * HDF5 file holds (info). All of it needs HDF5; a build without it says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/cli.h"

#ifndef LEAP_WITH_HDF5

int leap_cli_data(int argc, char **argv) {
  fprintf(stderr, "leap: data: this leap was built without HDF5 (install libhdf5-dev and configure with "
                  "-DLEAP_HDF5=ON)\n");
  return 1;
}

#else

#include <errno.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <time.h>

#include "data/hdf5/gen_write.h"
#include "data/hdf5/h5_info.h"
#include "kernels/common/kernel_common.h"

#define DATA_DEFAULT_SEED 1

static void data_usage(FILE *out) {
  fprintf(out,
          "usage: leap data make robot|vqa|speech --out FILE.h5 [--n N] [--val N] [--test N] [--seed S] [--threads N]\n"
          "       leap data text FILE... --out FILE.h5 [--val-fraction F]\n"
          "       leap data info FILE.h5\n"
          "make: generates a seed task's dataset (train/val/test groups; N train samples, N/10 each for val and\n"
          "      test unless given) deterministically from the seed (default %d).\n"
          "text: byte-level token streams of the files, concatenated: train/tokens and val/tokens (the last F of\n"
          "      the bytes, default 0.1) as uint8.\n"
          "info: lists every group and dataset with shape, dtype, chunking, filters and attributes.\n",
          DATA_DEFAULT_SEED);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double file_megabytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0.0;
}

static bool parse_seed(const char *value, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = value && value[0] != '-' ? strtoull(value, &end, 10) : 0;
  if (!value || value[0] == '-' || !end || *end || end == value || errno) {
    fprintf(stderr, "leap: data make: --seed needs a non-negative integer, got '%s'\n", value ? value : "");
    return false;
  }
  *out = (uint64_t)v;
  return true;
}

static int64_t default_train_size(const char *task) { return !strcmp(task, "speech") ? 10000 : 20000; }

static void set_threads(int threads) {
#ifdef LEAP_WITH_OPENMP
  if (threads > 0) omp_set_num_threads(threads);
#endif
}

/* Parses the options after `make TASK`; returns -1 to go on, else the exit status. */
static int parse_make(int argc, char **argv, leap_gen_options *o) {
  int n = 0, val = 0, test = 0, threads = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return data_usage(stdout), 0;
    if (i + 1 >= argc) return leap_cli_usage_error("data make: '%s' needs a value (leap data --help)", argv[i]);
    const char *opt = argv[i], *value = argv[++i];
    bool ok = true;
    if (!strcmp(opt, "--out")) o->path = value;
    else if (!strcmp(opt, "--seed")) ok = parse_seed(value, &o->seed);
    else if (!strcmp(opt, "--n")) ok = leap_cli_parse_int(opt, value, &n);
    else if (!strcmp(opt, "--val")) ok = leap_cli_parse_int(opt, value, &val);
    else if (!strcmp(opt, "--test")) ok = leap_cli_parse_int(opt, value, &test);
    else if (!strcmp(opt, "--threads")) ok = leap_cli_parse_int(opt, value, &threads);
    else return leap_cli_usage_error("data make: unknown option '%s' (leap data --help)", opt);
    if (!ok) return 2;
  }
  if (!o->path) return leap_cli_usage_error("data make: --out FILE.h5 is required");
  o->n_train = n ? n : default_train_size(o->task);
  o->n_val = val ? val : (o->n_train / 10 > 0 ? o->n_train / 10 : 1);
  o->n_test = test ? test : (o->n_train / 10 > 0 ? o->n_train / 10 : 1);
  set_threads(threads);
  return -1;
}

static int data_make(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[2], "--help")) return data_usage(stdout), 0;
  if (argc < 3) return leap_cli_usage_error("data make: which task? (%s)", leap_gen_task_list());
  leap_gen_options o = {.task = argv[2], .seed = DATA_DEFAULT_SEED};
  if (!leap_gen_task_known(o.task))
    return leap_cli_usage_error("data make: unknown task '%s' (one of %s)", o.task, leap_gen_task_list());
  int status = parse_make(argc, argv, &o);
  if (status >= 0) return status;
  leap_error err = {0};
  double start = now_seconds();
  if (leap_gen_write(&o, &err)) return fprintf(stderr, "leap: data make: %s\n", err.message), 1;
  printf("leap data make: wrote %s (%s, seed %llu: train %lld, val %lld, test %lld; %.1f MB) in %.1f s\n", o.path,
         o.task, (unsigned long long)o.seed, (long long)o.n_train, (long long)o.n_val, (long long)o.n_test,
         file_megabytes(o.path), now_seconds() - start);
  return 0;
}

static bool parse_fraction(const char *value, double *out) {
  char *end = NULL;
  double v = strtod(value, &end);
  if (end == value || *end || !(v >= 0.0 && v < 1.0)) {
    fprintf(stderr, "leap: data text: --val-fraction needs a number in [0, 1), got '%s'\n", value);
    return false;
  }
  *out = v;
  return true;
}

static int data_text(int argc, char **argv) {
  const char *out = NULL;
  double fraction = 0.1;
  const char **inputs = malloc(sizeof(char *) * (size_t)argc);
  int n_inputs = 0, status = -1;
  for (int i = 2; i < argc && status < 0; i++) {
    if (!strcmp(argv[i], "--help")) status = (data_usage(stdout), 0);
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--val-fraction") && i + 1 < argc) status = parse_fraction(argv[++i], &fraction) ? -1 : 2;
    else if (!strncmp(argv[i], "--", 2)) status = leap_cli_usage_error("data text: unknown option '%s'", argv[i]);
    else inputs[n_inputs++] = argv[i];
  }
  if (status < 0 && !out) status = leap_cli_usage_error("data text: --out FILE.h5 is required");
  if (status < 0 && !n_inputs) status = leap_cli_usage_error("data text: no text files given");
  if (status < 0) {
    leap_error err = {0};
    status = 0;
    if (leap_gen_write_text(out, inputs, n_inputs, fraction, &err))
      status = (fprintf(stderr, "leap: data text: %s\n", err.message), 1);
    else
      printf("leap data text: wrote %s (%d file%s, %.1f MB)\n", out, n_inputs, n_inputs == 1 ? "" : "s",
             file_megabytes(out));
  }
  free(inputs);
  return status;
}

static int data_info(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[2], "--help")) return data_usage(stdout), 0;
  if (argc != 3) return leap_cli_usage_error("data info: give one FILE.h5 (leap data --help)");
  leap_error err = {0};
  if (leap_h5_info_print(argv[2], stdout, &err)) return fprintf(stderr, "leap: data info: %s\n", err.message), 1;
  return 0;
}

int leap_cli_data(int argc, char **argv) {
  /* Errors are reported once, on one line, from leap_error; HDF5's own stack printing would repeat them. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (argc < 2) return data_usage(stderr), 2;
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return data_usage(stdout), 0;
  if (!strcmp(argv[1], "make")) return data_make(argc, argv);
  if (!strcmp(argv[1], "text")) return data_text(argc, argv);
  if (!strcmp(argv[1], "info")) return data_info(argc, argv);
  return leap_cli_usage_error("data: unknown subcommand '%s' (make, text or info; leap data --help)", argv[1]);
}

#endif
