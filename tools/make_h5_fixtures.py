#!/usr/bin/python3
"""Writes the small HDF5 files that the loader tests (tests/data/test_loader_*.c) read back.

Rerun from the repository root with Debian's Python, which has h5py and numpy:

    /usr/bin/python3 tools/make_h5_fixtures.py            # writes tests/fixtures/h5/*.h5
    /usr/bin/python3 tools/make_h5_fixtures.py --out DIR  # somewhere else

The files are written by h5py, not by leap, so that the tests check leap against files as users make them. Every
value is a formula of its indices that the C tests recompute (tests/data/loader_fixtures.h holds the same
formulas); each formula is exact in the dataset's dtype and in the dtypes the tests deliver it as, so the tests
compare with ==. Keep the two in step.

  dtypes.h5   root datasets (37, 5) of every integer and float type h5py writes (u8..u64, i8..i64, f16, f32, f64),
              big-endian i32 and f64, a bool (an HDF5 enum), integral float64: all contiguous.
  layouts.h5  groups train (50 samples), val (13), test (11): images chunked+gzip, chunked+shuffle+gzip, NCHW,
              chunks that split a sample, chunked without filters, contiguous; labels of several types and
              chunkings, a big-endian chunked dataset.
  tokens.h5   1-D token streams (1000 tokens) of u8, u16 and i64, and a 5-token stream.
  ids.h5      1000 samples in chunks of 16 (an id, an image, a float): for order, shard and coverage tests.
  errors.h5   a value too big for i32, a negative value for u8, a fraction for i32, a float64 too big for f32,
              compound and string datasets, datasets of 10 and 11 samples, a scalar dataset.
  latest.h5   layouts.h5's 50 train images in a file of HDF5's newest format, whose chunk indexes differ: a fixed
              array (fixed shape), an extensible array (one unlimited dimension), a version-2 B-tree (two), each
              chunked by 8 with shuffle+gzip, and the same in chunks of 8 with the last chunk never written (its
              samples read as the fill value, 0).
"""

import argparse
import os

import h5py
import numpy as np


def base(n, row):
    """(n, row) array of i * row + j."""
    return np.arange(n * row, dtype=np.int64).reshape(n, row)


def dtype_values(b):
    """The dtypes.h5 datasets, from base values b = i * 5 + j (0..184)."""
    return {
        "u8": ((b * 7) % 256).astype(np.uint8),
        "i8": ((b * 7) % 256 - 128).astype(np.int8),
        "u16": ((b * 331) % 65536).astype(np.uint16),
        "i16": ((b * 331) % 65536 - 32768).astype(np.int16),
        "u32": (b * 100003).astype(np.uint32),
        "i32": (b * 100003 - 9000000).astype(np.int32),
        "u64": (b * 100003).astype(np.uint64),
        "i64": (b * 100003 - 9000000).astype(np.int64),
        "f16": ((b - 90) * 0.25).astype(np.float16),
        "f32": ((b - 90) * 0.1).astype(np.float32),
        "f64": ((b - 90) * 0.1).astype(np.float64),
        "f64_int": (b - 90).astype(np.float64),
        "be_i32": (b * 100003 - 9000000).astype(">i4"),
        "be_f64": ((b - 90) * 0.1).astype(">f8"),
        "bool": (b % 3 == 0),
    }


def image_value(i, y, x, c):
    return (i * 31 + y * 7 + x * 3 + c * 11) % 256


def images(n, h=6, w=5, c=3):
    i, y, x, ch = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return image_value(i, y, x, ch).astype(np.uint8)


def create(f, name, data, **kw):
    return f.create_dataset(name, data=data, track_times=False, **kw)


def write_dtypes(path):
    with h5py.File(path, "w", libver="earliest") as f:
        for name, data in dtype_values(base(37, 5)).items():
            create(f, name, data)


def write_split(g, n, full):
    img = images(n)
    create(g, "index", np.arange(n, dtype=np.int32), chunks=(8,), compression="gzip")
    create(g, "image", img, chunks=(8, 6, 5, 3), compression="gzip", compression_opts=4)
    create(g, "pose", np.arange(n)[:, None] * 0.5 + np.arange(3)[None, :] * 0.125 - 3.0,
           chunks=(7, 3), shuffle=True, compression="gzip")
    create(g, "label", np.arange(n, dtype=np.int64) % 7)
    if not full:
        return
    create(g, "image_shuf", img, chunks=(8, 6, 5, 3), shuffle=True, compression="gzip")
    create(g, "image_nchw", np.ascontiguousarray(img.transpose(0, 3, 1, 2)), chunks=(8, 3, 6, 5), shuffle=True,
           compression="gzip")
    create(g, "image_split", img, chunks=(4, 3, 5, 3), compression="gzip")
    create(g, "image_plain", img, chunks=(8, 6, 5, 3))
    create(g, "image_contig", img)
    create(g, "f16", ((base(n, 4) - 100) * 0.25).astype(np.float16), chunks=(8, 4), shuffle=True,
           compression="gzip")
    create(g, "u16", (base(n, 2) * 600 + 7).astype(np.uint16), chunks=(8, 2), shuffle=True, compression="gzip")
    create(g, "i64", base(n, 3) * 100003 - 7000000, chunks=(8, 3), shuffle=True, compression="gzip")
    create(g, "be_f32", (base(n, 2) * 0.5).astype(">f4"), chunks=(8, 2), compression="gzip")


def write_layouts(path):
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["made_by"] = "tools/make_h5_fixtures.py"
        write_split(f.create_group("train"), 50, True)
        write_split(f.create_group("val"), 13, False)
        write_split(f.create_group("test"), 11, False)


def write_tokens(path):
    i = np.arange(1000, dtype=np.int64)
    with h5py.File(path, "w", libver="earliest") as f:
        create(f, "u16", ((i * 37) % 50000).astype(np.uint16), chunks=(128,), compression="gzip")
        create(f, "u8", ((i * 13) % 256).astype(np.uint8))
        create(f, "i64", (i * 37) % 50000, chunks=(100,), shuffle=True, compression="gzip")
        create(f, "short", np.arange(5, dtype=np.uint8))


def write_ids(path):
    n = 1000
    p = np.arange(4 * 4 * 3).reshape(4, 4, 3)
    img = ((np.arange(n)[:, None, None, None] + p[None] * 17) % 256).astype(np.uint8)
    with h5py.File(path, "w", libver="earliest") as f:
        create(f, "id", np.arange(n, dtype=np.int32), chunks=(16,), compression="gzip")
        create(f, "img", img, chunks=(16, 4, 4, 3), shuffle=True, compression="gzip")
        create(f, "x", np.arange(n, dtype=np.float32))


def write_errors(path):
    with h5py.File(path, "w", libver="earliest") as f:
        big = np.arange(10, dtype=np.int64)
        big[4] = 3000000000
        create(f, "big", big)
        neg = np.arange(10, dtype=np.int16)
        neg[6] = -1
        create(f, "neg", neg)
        frac = np.arange(10, dtype=np.float64)
        frac[3] = 2.5
        create(f, "frac", frac)
        huge = np.arange(10, dtype=np.float64)
        huge[8] = 1e300
        create(f, "huge", huge)
        create(f, "compound", np.zeros(10, dtype=[("a", "<i4"), ("b", "<f4")]))
        create(f, "string", np.array([b"s%d" % k for k in range(10)], dtype="S8"))
        create(f, "vstring", np.array(["s%d" % k for k in range(10)], dtype=object), dtype=h5py.string_dtype())
        create(f, "n10", np.arange(10, dtype=np.float32))
        create(f, "n11", np.arange(11, dtype=np.float32))
        create(f, "scalar", np.float32(1.5))


def write_latest(path):
    img = images(50)
    # The newest format records times on the root group unless its creation list says not to (h5py.File has no
    # option for it), which would make the file differ from run to run.
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    with h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)) as f:
        kw = dict(chunks=(8, 6, 5, 3), shuffle=True, compression="gzip")
        create(f, "index", np.arange(50, dtype=np.int32))
        create(f, "fixed", img, **kw)
        create(f, "extensible", img, maxshape=(None, 6, 5, 3), **kw)
        create(f, "btree2", img, maxshape=(None, None, 5, 3), **kw)
        holes = f.create_dataset("holes", shape=(50, 6, 5, 3), dtype=np.uint8, track_times=False, **kw)
        holes[:48] = img[:48]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/h5")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, fn in [("dtypes", write_dtypes), ("layouts", write_layouts), ("tokens", write_tokens),
                     ("ids", write_ids), ("errors", write_errors), ("latest", write_latest)]:
        path = os.path.join(args.out, name + ".h5")
        fn(path)
        print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
