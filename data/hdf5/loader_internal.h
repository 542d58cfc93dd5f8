/* The loader's internals, shared by loader.c (opening, checks, the public calls), dataset.c (HDF5 reads), and
 * producer.c (the prefetch thread). Not a public header: tests include it to check the order and the paths.
 *
 * Threads: the caller's thread opens the file and closes it; in between only the producer thread calls HDF5 (so
 * HDF5 calls never overlap, whatever HDF5's own locking). The producer runs fork-join rounds on the pool: workers
 * read raw chunks with pread, inflate them with libdeflate and convert samples into a queue slot. The queue's mutex
 * hands finished slots to the caller's thread. */
#ifndef LEAP_DATA_HDF5_LOADER_INTERNAL_H
#define LEAP_DATA_HDF5_LOADER_INTERNAL_H

#include <hdf5.h>
#include <libdeflate.h>
#include <pthread.h>

#include "data/hdf5/convert.h"
#include "data/hdf5/loader.h"
#include "data/hdf5/pool.h"

#define LEAP__PATH_MAX 1024
#define LEAP__NAME_MAX 256
/* A filter pipeline the raw path decodes: at most shuffle and deflate. */
#define LEAP__MAX_FILTERS 2

typedef enum leap__filter { LEAP__FILTER_DEFLATE = 1, LEAP__FILTER_SHUFFLE } leap__filter;

/* Where a stored chunk lies in the file, looked up once (by the producer) and kept. */
typedef struct leap__chunk {
  uint64_t offset, size; /* bytes in the file; size 0: not looked up yet */
  unsigned filter_mask;  /* bit i set: filter i of the pipeline was skipped for this chunk */
  bool missing;          /* never written: read through H5Dread, which supplies the fill value */
} leap__chunk;

/* One configured field: its dataset, types and shapes, and where its rows are held.
 *
 * Rows are held in blocks of block_rows samples, decoded to the stored type (little-endian): a resident field is
 * one block read whole at open; a streamed field's blocks are read by the producer when first needed and freed
 * after their last use in the epoch, unless `keep` (the field fits the cache), when they stay for later epochs. */
typedef struct leap__field {
  leap_field_spec spec;
  char name[LEAP__NAME_MAX]; /* the dataset's path in the file, for messages */
  hid_t dset;
  hid_t memtype; /* the stored type, little-endian */
  leap__src_type src;
  int ndim;
  int64_t dims[LEAP_MAX_DIMS];
  int64_t chunk_rows; /* the chunk's first dimension; 0 when not chunked */
  int64_t row_elems;  /* elements of one sample (1 for a token) */
  size_t row_bytes;
  int out_ndim; /* one delivered sample */
  int64_t out_shape[LEAP_MAX_DIMS];
  int64_t out_elems;
  size_t out_bytes;
  leap__norm norm;
  /* storage */
  bool resident, keep;
  int64_t block_rows, n_blocks;
  size_t block_bytes;
  uint8_t **blocks; /* (n_blocks): decoded rows, NULL while absent */
  uint8_t *arena;   /* a kept field's blocks, in one allocation */
  uint8_t **spare;  /* freed block buffers for reuse (producer only) */
  int64_t n_spare;
  /* raw path: a contiguous dataset read with pread, or one chunked along the sample dimension by block_rows with
   * whole samples per chunk and filters decoded here; otherwise a streamed field is read with H5Dread */
  bool raw, contiguous;
  uint64_t contiguous_offset; /* where a contiguous dataset's data starts in the file */
  int n_filters;
  leap__filter filters[LEAP__MAX_FILTERS]; /* in pipeline (write) order */
  leap__chunk *chunks;                     /* (n_blocks) */
} leap__field;

/* A queue slot: one batch's buffers, and its state. */
typedef enum leap__slot_state { LEAP__SLOT_FREE = 0, LEAP__SLOT_READY, LEAP__SLOT_HELD } leap__slot_state;

typedef struct leap__slot {
  void *data[LEAP_LOADER_MAX_FIELDS];
  int64_t n, epoch, index;
  leap__slot_state state;
  leap_error error; /* status OK unless the producer failed making this batch */
} leap__slot;

/* Per-worker state: a decompressor and scratch buffers (sized at open). */
typedef struct leap__worker {
  struct libdeflate_decompressor *inflater;
  uint8_t *packed; /* a raw chunk as stored */
  size_t packed_bytes;
  uint8_t *scratch; /* a block, between two filters; a sample, for NCHW transposes */
  size_t scratch_bytes;
} leap__worker;

/* The producer's plan for the epoch in progress (rebuilt at each epoch start and seek). */
typedef struct leap__plan {
  int64_t epoch;                 /* -1: none */
  int64_t *order;                /* (n_used) samples in epoch order */
  int64_t *block_scratch;        /* (n_blocks) */
  int64_t *first_use, *last_use; /* (n_blocks) batch index of this rank; -1 if unused */
  int64_t *decode_order;         /* blocks by first use */
  int64_t n_decode, next_decode;
  int64_t *by_last_use; /* blocks by last use, for releasing */
  int64_t n_release, next_release;
} leap__plan;

struct leap_loader {
  leap_loader_config config;
  char path[LEAP__PATH_MAX], group[LEAP__NAME_MAX];
  hid_t file;
  int fd;             /* for pread of raw chunks */
  uint64_t base_addr; /* the file's user block: HDF5 addresses are relative to it */
  int n_fields;
  leap__field fields[LEAP_LOADER_MAX_FIELDS];
  bool tokens;
  int64_t n_total;  /* samples (tokens for a token stream) in the datasets */
  int64_t n_tokens; /* tokens used (fraction) of a token stream */
  int64_t n_used;   /* samples used (fraction), or windows per epoch */
  int64_t rank_lo, rank_hi, batches;
  int64_t block_rows; /* the blocks of the chunk-aware order; n_used when no field is streamed */
  int64_t n_blocks, group_blocks, lookahead, decode_cap;
  /* threads */
  leap__pool pool;
  bool pool_started;
  leap__worker *workers; /* (config.threads) */
  pthread_t producer;
  bool producer_running;
  int64_t start_epoch, start_batch; /* where the producer (re)starts */
  leap__plan plan;
  /* the queue; everything below is guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t slot_ready, slot_free;
  bool sync_started; /* mu and the conditions exist */
  bool stop;
  int n_slots, head, tail; /* head: next slot to hand out; tail: next slot to fill */
  leap__slot *slots;
  int n_held; /* slots the caller holds: the n_held slots before head, oldest first */
};

/* dataset.c */
leap_status leap__field_open(leap_loader *L, leap__field *f, leap_error *err);
leap_status leap__field_read_resident(leap_loader *L, leap__field *f, leap_error *err);
leap_status leap__field_plan_streaming(leap_loader *L, leap__field *f, int64_t block_rows, leap_error *err);
/* Reads block b of a streamed field with H5Dread (any layout, any filters). Producer thread. */
leap_status leap__field_read_block_h5(leap_loader *L, leap__field *f, int64_t b, uint8_t *dst, leap_error *err);
/* Looks up chunk b's place in the file (nothing to do for a contiguous dataset). Producer thread. */
leap_status leap__field_lookup_chunk(leap_loader *L, leap__field *f, int64_t b, leap_error *err);
/* Reads block b with pread (a chunk, decoded; or rows of a contiguous dataset) into dst. Any thread. */
leap_status leap__field_decode_chunk(const leap_loader *L, const leap__field *f, int64_t b, uint8_t *dst,
                                     leap__worker *w, leap_error *err);
/* Gives a kept field one allocation for all its blocks. */
leap_status leap__field_alloc_arena(leap_loader *L, leap__field *f, leap_error *err);
void leap__field_close(leap__field *f);

/* producer.c */
leap_status leap__producer_start(leap_loader *L, leap_error *err);
void leap__producer_stop(leap_loader *L);

#endif
