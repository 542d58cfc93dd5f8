/* What the training loop's files share (internal: leap__ names). */
#ifndef LEAP_TRAIN_LOOP_LOOP_INTERNAL_H
#define LEAP_TRAIN_LOOP_LOOP_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "train/core/error.h"
#include "train/loop/chain.h"

/* out = "a/b"; a path that does not fit in size is an error naming it. */
leap_status leap__path_join(char *out, size_t size, const char *a, const char *b, leap_error *err);
/* Creates path and every missing parent directory (as mkdir -p). */
leap_status leap__make_dirs(const char *path, leap_error *err);
/* Creates the directory a file will be written in (nothing when the path has no directory part). */
leap_status leap__make_parent_dirs(const char *file, leap_error *err);
/* Writes len bytes to path atomically: a temporary file beside it, fsync, rename, then the directory synced. */
leap_status leap__write_file_atomic(const char *path, const void *data, size_t len, leap_error *err);
/* Writes s as a JSON string literal (quoted, escaped). */
void leap__loop_json_string(FILE *out, const char *s);
/* Writes a finite number so that it reads back to the same float, or null for NaN and infinities. */
void leap__loop_json_number(FILE *out, double v);

/* Writes ',\n  "vocabularies": {NAME: [token, ...], ...}' for every root attribute of the HDF5 file at path named vocab
 * or *_vocab (a string, one token per line); nothing when there is none or the file cannot be read. */
void leap__write_vocabularies(FILE *out, const char *path);

#endif
