/* Writes the seed tasks' datasets (data/gen_robot.h, gen_vqa.h, gen_speech.h) and byte-level text corpora as HDF5
 * files for the loader (data/hdf5/loader.h): what `leap data make` and `leap data text` run.
 *
 * A task file holds groups train/, val/ and test/, each with the task's per-sample datasets (first dimension N),
 * chunked by 64 samples and gzip-compressed (level 4). Attributes record how it was made, so the file explains
 * itself: on the file, `generator` (the task), `generator_version`, `seed`, `parameters` (a JSON object: sizes,
 * geometry, ranges), `n_train`/`n_val`/`n_test`, and for text tasks the vocabularies (one token per line, the line
 * number being the token id) so that a model trained on the file can decode its outputs; on each group, `split`
 * and `n`; on each dataset, `description`.
 *
 * A text file holds train/tokens and val/tokens: the bytes of the input files, concatenated in order, as u8 token
 * streams (vocabulary: the 256 byte values); val is the last fraction of the stream. */
#ifndef LEAP_DATA_HDF5_GEN_WRITE_H
#define LEAP_DATA_HDF5_GEN_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "train/core/error.h"

#define LEAP_GEN_CHUNK_ROWS 64
#define LEAP_GEN_GZIP_LEVEL 4
#define LEAP_GEN_TEXT_CHUNK 65536 /* tokens per chunk of a text stream */

typedef struct leap_gen_options {
  const char *task;                /* "robot", "vqa" or "speech" */
  const char *path;                /* the file to write */
  int64_t n_train, n_val, n_test;  /* samples per split, each >= 1 */
  uint64_t seed;
} leap_gen_options;

/* Whether task names a generator, and the list of them ("robot, vqa, speech") for messages. */
bool leap_gen_task_known(const char *task);
const char *leap_gen_task_list(void);

/* Generates the task's three splits into options->path (written as PATH.tmp, renamed when complete). */
leap_status leap_gen_write(const leap_gen_options *options, leap_error *err);

/* Byte-level token streams of the files in order; val gets the last val_fraction of the bytes (0 <= f < 1; with 0
 * there is no val group). Errors name the file that cannot be read. */
leap_status leap_gen_write_text(const char *path, const char *const *inputs, int n_inputs, double val_fraction,
                                leap_error *err);

#endif
