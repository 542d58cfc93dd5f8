/* W6's data file; see w6_data.h. */
#define _GNU_SOURCE
#include "data/hdf5/w6_data.h"

#include <errno.h>
#include <hdf5.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/common/kernel_common.h"
#include "kernels/rng/philox.h"

#define W6_SEED 6
#define W6_CHANNELS 3
#define W6_TARGETS 4
#define W6_LEVEL 4
#define W6_SHAPES 4
#define W6_NOISE 3
#define IMAGE_BYTES ((size_t)LEAP_W6_SIDE * LEAP_W6_SIDE * W6_CHANNELS)
/* Chunks made (in parallel) before they are written (in order). */
#define CHUNKS_PER_ROUND 32

static float unit(uint32_t bits) { return (float)(bits >> 8) * LEAP_RNG_INV_2POW24; }

/* Image i: a gradient between four random corner colours, W6_SHAPES discs or boxes, pixel noise. mean gets the
 * mean of each channel / 255. */
static void synth_image(uint8_t *img, int64_t i, float *mean) {
  uint64_t stream = (uint64_t)i;
  float corner[4][W6_CHANNELS], shape[W6_SHAPES][7];
  for (int k = 0; k < 4 * W6_CHANNELS; k++)
    corner[k / W6_CHANNELS][k % W6_CHANNELS] = 255.0f * unit(leap_rng_bits(W6_SEED, stream, (uint64_t)k));
  for (int s = 0; s < W6_SHAPES; s++)
    for (int k = 0; k < 7; k++) shape[s][k] = unit(leap_rng_bits(W6_SEED, stream, (uint64_t)(16 + 8 * s + k)));
  double sum[W6_CHANNELS] = {0};
  for (int y = 0; y < LEAP_W6_SIDE; y++) {
    leap_philox4 noise = {{0}};
    for (int x = 0; x < LEAP_W6_SIDE; x++) {
      float u = (float)x / (LEAP_W6_SIDE - 1), v = (float)y / (LEAP_W6_SIDE - 1);
      if (x % 4 == 0) noise = leap_rng_block(W6_SEED ^ 0x5eed, stream, (uint64_t)(y * LEAP_W6_SIDE + x) / 4);
      for (int c = 0; c < W6_CHANNELS; c++) {
        float value = (1 - u) * (1 - v) * corner[0][c] + u * (1 - v) * corner[1][c] + (1 - u) * v * corner[2][c] +
                      u * v * corner[3][c];
        for (int s = 0; s < W6_SHAPES; s++) {
          float dx = (float)x - 64.0f * shape[s][0], dy = (float)y - 64.0f * shape[s][1],
                r = 4.0f + 14.0f * shape[s][2];
          bool inside = shape[s][3] < 0.5f ? dx * dx + dy * dy <= r * r : dx * dx <= r * r && dy * dy <= 0.5f * r * r;
          if (inside) value = 255.0f * shape[s][4 + c];
        }
        int n = (int)((noise.x[x % 4] >> (8 * c)) & 0xffu) % (2 * W6_NOISE + 1) - W6_NOISE;
        int q = (int)value + n;
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        img[((size_t)y * LEAP_W6_SIDE + (size_t)x) * W6_CHANNELS + (size_t)c] = (uint8_t)q;
        sum[c] += q;
      }
    }
  }
  for (int c = 0; c < W6_CHANNELS; c++) mean[c] = (float)(sum[c] / (LEAP_W6_SIDE * LEAP_W6_SIDE * 255.0));
}

typedef struct w6_chunk {
  uint8_t *packed;
  size_t bytes;
} w6_chunk;

/* Makes chunk k (images k*64 ..) compressed, and its targets; false when memory runs out. */
static bool make_chunk(w6_chunk *out, int64_t k, int64_t n, float *targets, uint8_t *raw) {
  int64_t first = k * LEAP_W6_CHUNK;
  memset(raw, 0, IMAGE_BYTES * LEAP_W6_CHUNK);
  for (int64_t i = first; i < first + LEAP_W6_CHUNK && i < n; i++) {
    synth_image(raw + (size_t)(i - first) * IMAGE_BYTES, i, targets + i * W6_TARGETS);
    targets[i * W6_TARGETS + 3] = (float)i / (float)n;
  }
  struct libdeflate_compressor *z = libdeflate_alloc_compressor(W6_LEVEL);
  size_t bound = z ? libdeflate_zlib_compress_bound(z, IMAGE_BYTES * LEAP_W6_CHUNK) : 0;
  out->packed = z ? malloc(bound) : NULL;
  out->bytes = out->packed ? libdeflate_zlib_compress(z, raw, IMAGE_BYTES * LEAP_W6_CHUNK, out->packed, bound) : 0;
  if (z) libdeflate_free_compressor(z);
  return out->bytes > 0;
}

/* Makes chunks [first, first + count) in parallel and writes them in order. */
static leap_status write_chunks(hid_t images, int64_t first, int64_t count, int64_t n, float *targets,
                                leap_error *err) {
  w6_chunk chunks[CHUNKS_PER_ROUND] = {{0}};
  int ok = 1;
#ifdef LEAP_WITH_OPENMP
#pragma omp parallel for schedule(dynamic) reduction(&& : ok)
#endif
  for (int64_t k = 0; k < count; k++) {
    uint8_t *raw = malloc(IMAGE_BYTES * LEAP_W6_CHUNK);
    ok = ok && raw && make_chunk(&chunks[k], first + k, n, targets, raw);
    free(raw);
  }
  leap_status st = ok ? LEAP_OK : leap_error_set(err, LEAP_ERR_MEMORY, "W6: out of memory making the images");
  for (int64_t k = 0; !st && k < count; k++) {
    hsize_t offset[4] = {(hsize_t)((first + k) * LEAP_W6_CHUNK), 0, 0, 0};
    if (H5Dwrite_chunk(images, H5P_DEFAULT, 0, offset, chunks[k].bytes, chunks[k].packed) < 0)
      st = leap_error_set(err, LEAP_ERR_IO, "W6: cannot write chunk %lld", (long long)(first + k));
  }
  for (int64_t k = 0; k < count; k++) free(chunks[k].packed);
  return st;
}

/* A chunked, gzip-4 dataset of the given shape and type. */
static hid_t create_dataset(hid_t file, const char *name, hid_t type, int ndim, const hsize_t *dims,
                            const hsize_t *chunk) {
  hid_t space = H5Screate_simple(ndim, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), dset = H5I_INVALID_HID;
  if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, ndim, chunk) >= 0 && H5Pset_deflate(dcpl, W6_LEVEL) >= 0)
    dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if ((dcpl >= 0 && H5Pclose(dcpl) < 0) || (space >= 0 && H5Sclose(space) < 0)) {
    if (dset >= 0) (void)H5Dclose(dset); /* already failing: the caller reports it */
    dset = H5I_INVALID_HID;
  }
  return dset;
}

static leap_status write_file(hid_t file, int64_t n, leap_error *err) {
  hsize_t dims[4] = {(hsize_t)n, LEAP_W6_SIDE, LEAP_W6_SIDE, W6_CHANNELS};
  hsize_t chunk[4] = {LEAP_W6_CHUNK, LEAP_W6_SIDE, LEAP_W6_SIDE, W6_CHANNELS};
  hsize_t tdims[2] = {(hsize_t)n, W6_TARGETS}, tchunk[2] = {LEAP_W6_CHUNK, W6_TARGETS};
  hid_t images = create_dataset(file, "images", H5T_STD_U8LE, 4, dims, chunk);
  hid_t targets = create_dataset(file, "targets", H5T_IEEE_F32LE, 2, tdims, tchunk);
  float *t = calloc((size_t)n * W6_TARGETS, sizeof(float));
  leap_status st = images < 0 || targets < 0 ? leap_error_set(err, LEAP_ERR_IO, "W6: cannot create the datasets")
                   : !t                      ? leap_error_set(err, LEAP_ERR_MEMORY, "W6: out of memory")
                                             : LEAP_OK;
  int64_t n_chunks = (n + LEAP_W6_CHUNK - 1) / LEAP_W6_CHUNK;
  for (int64_t k = 0; !st && k < n_chunks; k += CHUNKS_PER_ROUND)
    st = write_chunks(images, k, n_chunks - k < CHUNKS_PER_ROUND ? n_chunks - k : CHUNKS_PER_ROUND, n, t, err);
  if (!st && H5Dwrite(targets, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t) < 0)
    st = leap_error_set(err, LEAP_ERR_IO, "W6: cannot write the targets");
  free(t);
  if ((images >= 0 && H5Dclose(images) < 0) || (targets >= 0 && H5Dclose(targets) < 0))
    st = leap_error_set(err, LEAP_ERR_IO, "W6: cannot close the datasets");
  return st;
}

leap_status leap__w6_make_file(const char *path, int64_t n, leap_error *err) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return leap_error_set(err, LEAP_ERR_IO, "%s: path too long", path);
  hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) return leap_error_set(err, LEAP_ERR_IO, "%s: cannot create it", tmp);
  leap_status st = write_file(file, n, err);
  if (H5Fclose(file) < 0 && !st) st = leap_error_set(err, LEAP_ERR_IO, "%s: cannot close it", tmp);
  if (!st && rename(tmp, path) != 0)
    st = leap_error_set(err, LEAP_ERR_IO, "%s: cannot rename it: %s", tmp, strerror(errno));
  if (st) unlink(tmp);
  return st;
}

leap_status leap__w6_ensure_file(char *path, size_t size, leap_error *err) {
  const char *dir = getenv("LEAP_BENCH_DIR");
  if (snprintf(path, size, "%s/leap_w6.h5", dir && dir[0] ? dir : "/tmp") >= (int)size)
    return leap_error_set(err, LEAP_ERR_IO, "W6: the bench directory's path is too long");
  if (access(path, R_OK) == 0) return LEAP_OK;
  return leap__w6_make_file(path, LEAP_W6_IMAGES, err);
}
