/* W6's data file (shared/BENCHMARKS.md): n synthetic 64x64x3 u8 images in chunks of 64 images, gzip level 4, as
 * /images (n,64,64,3), with f32 targets /targets (n,4) (each image's mean colour / 255 and i / n).
 *
 * The images are a colour gradient with a few discs and boxes and +-3 of pixel noise, deterministic per index
 * (Philox), so that gzip does with them about what it does with raw photos (it saves some 13%) rather than
 * squeezing them to nothing, which would make inflating unrealistically cheap. Chunks are compressed in parallel with
 * libdeflate at level 4 (a zlib stream, as HDF5's deflate filter writes and reads) and stored with H5Dwrite_chunk; the
 * file is written to PATH.tmp and renamed. */
#ifndef LEAP_DATA_HDF5_W6_DATA_H
#define LEAP_DATA_HDF5_W6_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "train/core/error.h"

#define LEAP_W6_IMAGES 20000
#define LEAP_W6_SIDE 64
#define LEAP_W6_CHUNK 64

leap_status leap__w6_make_file(const char *path, int64_t n, leap_error *err);
/* W6's file: $LEAP_BENCH_DIR (or /tmp) /leap_w6.h5, made if it is missing. The path goes to path (size bytes). */
leap_status leap__w6_ensure_file(char *path, size_t size, leap_error *err);

#endif
