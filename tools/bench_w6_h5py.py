#!/usr/bin/python3
"""W6's baseline: h5py reading the same shuffled batches as leap's loader, by fancy indexing.

Run from the repository root with Debian's Python (h5py, numpy):

    /usr/bin/python3 tools/bench_w6_h5py.py                 # h5py on W6's file (make it first: leap bench --only W6)
    /usr/bin/python3 tools/bench_w6_h5py.py --leap build/train/leap   # and leap's two W6 figures, in one table
    /usr/bin/python3 tools/bench_w6_h5py.py --self-test     # checks this script's order against leap's pinned values

The file is W6's: /images (20000, 64, 64, 3) u8 in chunks of 64 images, gzip level 4, and /targets (20000, 4) f32,
made by `leap bench --only W6` under $LEAP_BENCH_DIR (default /tmp) as leap_w6.h5. This script computes the epoch
order exactly as leap's loader does (data/hdf5/order.h: Philox4x32-10 draws, blocks of one chunk, groups of
shuffle_buffer / 64 chunks, Fisher-Yates) so that h5py reads the very batches leap delivers: for each batch it
reads the 64 indices with one fancy-indexing read (h5py wants them increasing, so it sorts them and puts the rows
back in batch order), then normalises the images to f32 as leap does ((x / 255 - 0.5) / 0.25). That is the work
W6 times for leap: one shuffled, normalised f32 batch of 64 delivered to the caller.

h5py has no memory of earlier epochs beyond HDF5's 1 MiB chunk cache, so its later epochs cost what its first does;
the script reports the first epoch and, with --epochs 2, the second. An epoch is cut short after --max-seconds and
the rate so far is reported (samples / wall-clock seconds).
"""

import argparse
import json
import os
import subprocess
import sys
import time

M32 = 0xFFFFFFFF
BATCH = 64
SEED = 1  # train/cli/bench_w6.c
SHUFFLE_BUFFER = 2048  # the loader's default
MEAN, STD = 0.5, 0.25

# Pinned in tests/data/test_loader_order.c: order (1000 samples, blocks of 16, groups of 4, seed 42, epoch 0)
# positions 0..7, and draw 5 of (seed 42, stream 1).
PINNED_ORDER = [428, 893, 892, 888, 884, 740, 425, 737]
PINNED_DRAW = 6263075227364423622


def philox4x32_10(ctr, k0, k1):
    """kernels/rng/philox.h: ten rounds, the key bumped by the Weyl constants between rounds."""
    x0, x1, x2, x3 = ctr
    for r in range(10):
        if r > 0:
            k0 = (k0 + 0x9E3779B9) & M32
            k1 = (k1 + 0xBB67AE85) & M32
        p0 = 0xD2511F53 * x0
        p1 = 0xCD9E8D57 * x2
        x0, x1, x2, x3 = ((p1 >> 32) ^ x1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ x3 ^ k1) & M32, p0 & M32
    return x0, x1, x2, x3


def draw(seed, stream, k):
    """data/hdf5/order.c leap__order_draw: 64 bits from lanes 2(k%2), 2(k%2)+1 of block k/2."""
    block = k >> 1
    r = philox4x32_10((block & M32, block >> 32, stream & M32, stream >> 32), seed & M32, seed >> 32)
    lane = 2 * (k & 1)
    return r[lane] | r[lane + 1] << 32


def below(seed, stream, k, m):
    return (draw(seed, stream, k) * m) >> 64


def permute(a, lo, hi, seed, stream, first_draw):
    """Fisher-Yates from the back over a[lo:hi], draw first_draw + k for position k."""
    for k in range(hi - lo - 1, 0, -1):
        j = below(seed, stream, first_draw + k, k + 1)
        a[lo + k], a[lo + j] = a[lo + j], a[lo + k]


def epoch_order(n, block_rows, group_blocks, seed, epoch):
    """data/hdf5/order.c leap__epoch_order (shuffled)."""
    n_blocks = (n + block_rows - 1) // block_rows
    blocks = list(range(n_blocks))
    permute(blocks, 0, n_blocks, seed, epoch << 2 | 0, 0)
    order = []
    for g in range(0, n_blocks, group_blocks):
        start = len(order)
        for b in blocks[g:g + group_blocks]:
            order.extend(range(b * block_rows, min((b + 1) * block_rows, n)))
        permute(order, start, len(order), seed, epoch << 2 | 1, start)
    return order


def self_test():
    got = epoch_order(1000, 16, 4, 42, 0)[:8]
    ok = got == PINNED_ORDER and draw(42, 1, 5) == PINNED_DRAW
    print("order self-test:", "ok" if ok else "MISMATCH got %s, draw %d" % (got, draw(42, 1, 5)))
    return 0 if ok else 1


def h5py_epoch(f, order, max_seconds):
    """Reads and normalises the epoch's batches; returns (samples, seconds)."""
    import numpy as np
    images, targets = f["images"], f["targets"]
    samples, start = 0, time.perf_counter()
    for b in range(0, len(order), BATCH):
        idx = np.asarray(order[b:b + BATCH])
        by_index = np.argsort(idx)
        rows = np.empty((len(idx),) + images.shape[1:], dtype=np.uint8)
        rows[by_index] = images[idx[by_index]]
        y = np.empty((len(idx),) + targets.shape[1:], dtype=np.float32)
        y[by_index] = targets[idx[by_index]]
        x = (rows.astype(np.float32) * np.float32(1.0 / (255.0 * STD)) - np.float32(MEAN / STD))
        samples += len(idx)
        if time.perf_counter() - start > max_seconds:
            break
    return samples, time.perf_counter() - start, x.shape, y.shape


def leap_figures(leap):
    """leap bench --only W6 --json, first epoch and later epochs (LEAP_W6_EPOCH)."""
    out = {}
    for mode in ("first", "later"):
        env = dict(os.environ, LEAP_W6_EPOCH=mode)
        res = subprocess.run([leap, "bench", "--only", "W6", "--json"], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit("leap bench failed: " + res.stderr.strip())
        out[mode] = json.loads(res.stdout.strip().splitlines()[-1])["throughput"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=os.path.join(os.environ.get("LEAP_BENCH_DIR", "/tmp"), "leap_w6.h5"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=20.0)
    ap.add_argument("--leap", help="the leap binary: also run `leap bench --only W6` and print one table")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if self_test():
        return 1
    leap = leap_figures(args.leap) if args.leap else None  # makes the file if missing
    import h5py
    if not os.path.exists(args.file):
        sys.exit("%s: missing; `leap bench --only W6` makes it" % args.file)
    with h5py.File(args.file, "r") as f:
        n = f["images"].shape[0]
        chunk = f["images"].chunks[0]
        rates = []
        for epoch in range(args.epochs):
            order = epoch_order(n, chunk, max(1, SHUFFLE_BUFFER // chunk), SEED, epoch)
            samples, seconds, xs, ys = h5py_epoch(f, order, args.max_seconds)
            rates.append(samples / seconds)
            print("h5py epoch %d: %d samples in %.2f s: %.0f samples/s (batches %s f32, targets %s)"
                  % (epoch, samples, seconds, rates[-1], xs, ys))
    if leap:
        print("\n| reader | first epoch (samples/s) | later epoch (samples/s) |")
        print("| --- | ---: | ---: |")
        print("| leap loader (2 threads) | %.0f | %.0f |" % (leap["first"], leap["later"]))
        print("| h5py fancy indexing | %.0f | %s |" % (rates[0], "%.0f" % rates[1] if len(rates) > 1 else "same"))
        print("| ratio | %.1fx | %.1fx |" % (leap["first"] / rates[0], leap["later"] / rates[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
