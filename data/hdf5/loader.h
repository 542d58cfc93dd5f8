/* The HDF5 data loader: shuffled, sharded, prefetched batches of per-sample datasets from files users make with h5py
 * or any HDF5 tool.
 *
 * A loader reads one group of a file (the root, "train", "val", "test", ...). Each field names one dataset of that
 * group whose first dimension is the sample index N (shared by every per-sample field), says which engine dtype it
 * becomes (integer and float datasets of any width are converted with a range check), and how it is prepared
 * (uint8 images to f32 with a per-channel mean/std; NCHW files converted to NHWC). A token-stream field instead is
 * 1-D and yields random windows of window+1 tokens (language models).
 *
 * Every epoch is a permutation drawn from (seed, epoch): the same on any machine. With world W, rank r gets a
 * disjoint 1/W of each epoch; the union over ranks is every sample once. Chunked, compressed datasets are read in a
 * chunk-aware order (docs/data.md says how). A background thread fills a bounded queue of ready batches. */
#ifndef LEAP_DATA_HDF5_LOADER_H
#define LEAP_DATA_HDF5_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train/core/error.h"
#include "train/core/tensor.h"

#define LEAP_LOADER_MAX_FIELDS 8
#define LEAP_LOADER_MAX_CHANNELS 4

typedef enum leap_field_kind {
  LEAP_FIELD_SAMPLES = 0, /* (N, ...) per-sample dataset */
  LEAP_FIELD_TOKENS,      /* 1-D token stream read as windows of window+1 tokens */
} leap_field_kind;

typedef struct leap_field_spec {
  const char *dataset;    /* name inside the group, e.g. "image", "pose" */
  leap_field_kind kind;
  leap_dtype dtype;       /* LEAP_F32, LEAP_I32 or LEAP_U8 delivered to the training loop */
  bool normalize;         /* u8 -> f32: (x / 255 - mean[c]) / std[c] over the last dim (channels) */
  float mean[LEAP_LOADER_MAX_CHANNELS], std[LEAP_LOADER_MAX_CHANNELS];
  bool nchw;              /* stored (N,C,H,W): delivered as (N,H,W,C) */
  int64_t window;         /* tokens: the window length T (each sample is T+1 tokens) */
} leap_field_spec;

typedef struct leap_loader_config {
  const char *path;       /* the HDF5 file */
  const char *group;      /* "" or "/" for the root */
  int n_fields;
  leap_field_spec fields[LEAP_LOADER_MAX_FIELDS];
  int64_t batch;          /* samples per batch (per rank) */
  bool shuffle;
  uint64_t seed;
  bool drop_last;         /* drop an epoch's last incomplete batch */
  int rank, world;        /* sharding; world 1 for a single process */
  int prefetch;           /* ready batches kept in the queue (>= 1) */
  int threads;            /* threads reading, inflating and converting, the prefetch thread included (>= 1) */
  double fraction;        /* use only the first fraction of the samples (data efficiency); 1 for all */
  int64_t token_windows_per_epoch; /* tokens: how many windows make an epoch (0: N / window) */
  /* Added with the implementation (docs/data.md, "Order" and "Reading"): */
  int64_t shuffle_buffer; /* chunk-aware shuffle: samples (whole chunks) mixed together; 0: the default, 2048 */
  int64_t resident_bytes; /* a field stored in at most this many bytes is read whole at open; default 64 MiB */
  int64_t cache_bytes;    /* decoded chunks of streamed fields that fit in this total stay after their first
                             epoch; default 4 GiB; 0: every epoch decodes again */
  /* Added for pinned prefetch (docs/data.md, "Pinned prefetch"): */
  int held_batches;       /* batches the caller uses at once: a batch stays valid until this many more
                             leap_loader_next calls (0: the default, 1; 2 lets a device copy of one batch run
                             while the next is handed out) */
  /* Where the batch buffers handed to the caller live, e.g. page-locked memory a GPU copies from asynchronously:
   * host_alloc(bytes, host_ctx) returns NULL when out of memory, host_free(ptr, host_ctx) frees. Both are called
   * on the caller's thread, at open and close only. Both NULL (the default): malloc and free. The loader's own
   * scratch (decoded chunks, the order) always uses malloc. */
  void *(*host_alloc)(size_t bytes, void *host_ctx);
  void (*host_free)(void *ptr, void *host_ctx);
  void *host_ctx;
} leap_loader_config;

/* A batch on the host, valid until held_batches more leap_loader_next calls (the next one by default), a seek or
 * leap_loader_close. field[i] holds n samples of
 * fields[i] as its delivered dtype, shaped (n, sample dims...); tokens give (n, window+1). */
typedef struct leap_batch {
  int64_t n;
  int64_t epoch, index_in_epoch; /* which batch this is */
  void *field[LEAP_LOADER_MAX_FIELDS];
  int ndim[LEAP_LOADER_MAX_FIELDS];
  int64_t shape[LEAP_LOADER_MAX_FIELDS][LEAP_MAX_DIMS];
  leap_dtype dtype[LEAP_LOADER_MAX_FIELDS];
} leap_batch;

typedef struct leap_loader leap_loader;

leap_loader_config leap_loader_config_default(void);
/* Opens the file, checks every field (exists, per-sample first dims agree, dtype convertible, window fits) and
 * starts the prefetch thread. Errors name the file and the dataset. */
leap_status leap_loader_open(leap_loader **out, const leap_loader_config *config, leap_error *err);
/* Samples this rank sees per epoch, and batches per epoch. */
int64_t leap_loader_samples_per_epoch(const leap_loader *loader);
int64_t leap_loader_batches_per_epoch(const leap_loader *loader);
/* Total samples in the group (before sharding and fraction); for a token stream, its tokens. */
int64_t leap_loader_total_samples(const leap_loader *loader);
/* The next batch (waits for the prefetch thread); epochs roll over by themselves. */
leap_status leap_loader_next(leap_loader *loader, leap_batch *batch, leap_error *err);
/* Restarts at (epoch, batch index): for exact resume. The batch last returned becomes invalid. */
leap_status leap_loader_seek(leap_loader *loader, int64_t epoch, int64_t batch_index, leap_error *err);
/* Stops the prefetch thread cleanly and frees everything. */
void leap_loader_close(leap_loader *loader);

#endif
