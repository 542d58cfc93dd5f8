/* The `leap` command's subcommands. Each returns the process exit status. */
#ifndef LEAP_TRAIN_CLI_CLI_H
#define LEAP_TRAIN_CLI_CLI_H

int leap_cli_bench(int argc, char **argv);
int leap_cli_demo(int argc, char **argv);
int leap_cli_data(int argc, char **argv);
int leap_cli_train(int argc, char **argv);
int leap_cli_eval(int argc, char **argv);
int leap_cli_compare(int argc, char **argv);

/* Prints "leap: <message>" on stderr and returns 2 (bad usage) for `return leap_cli_usage_error(...)`. */
int leap_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a positive int option value; on failure prints which option and returns false. */
#include <stdbool.h>
bool leap_cli_parse_int(const char *option, const char *value, int *out);

#endif
