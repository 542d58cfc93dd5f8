/* leap: the command. Dispatches to one subcommand per file in train/cli/. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/cli.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} g_commands[] = {
    {"train", leap_cli_train, "train the model a config describes (leap train --help)"},
    {"compare", leap_cli_compare, "end-to-end versus pipeline on one config (leap compare --help)"},
    {"eval", leap_cli_eval, "evaluate saved weights on the test group (leap eval --help)"},
    {"bench", leap_cli_bench, "time the benchmark workloads W1-W5 (leap bench --help)"},
    {"data", leap_cli_data, "make, convert and inspect HDF5 datasets (leap data --help)"},
    {"demo", leap_cli_demo, "train a tiny GPT on a built-in sequence task (leap demo --help)"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: leap COMMAND [ARGS...]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
    fprintf(out, "  %-8s %s\n", g_commands[i].name, g_commands[i].summary);
}

int leap_cli_usage_error(const char *fmt, ...) {
  fprintf(stderr, "leap: ");
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 2;
}

bool leap_cli_parse_int(const char *option, const char *value, int *out) {
  char *end = NULL;
  long v = value ? strtol(value, &end, 10) : 0;
  if (!value || *end || v < 1 || v > 1000000000) {
    fprintf(stderr, "leap: %s needs a positive integer, got '%s'\n", option, value ? value : "");
    return false;
  }
  *out = (int)v;
  return true;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
    if (!strcmp(argv[1], g_commands[i].name)) return g_commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "leap: unknown command '%s' (leap --help lists them)\n", argv[1]);
  return 2;
}
