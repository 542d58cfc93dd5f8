#!/usr/bin/python3
"""W1-W5 of the benchmark table (/work/shared/BENCHMARKS.md) in PyTorch on the CPU, timed as `leap bench` times
them (train/cli/bench.c): 3 warm-up iterations, then at least 20 timed ones and at least 1 s, the median reported.
Same sizes and the same work as train/cli/bench_workloads.c, fp32, 2 threads unless --threads says otherwise.

Run with Debian's python, which has torch:  /usr/bin/python3 tools/bench_torch.py [--threads N] [--only W1,W3]
[--json]. Where PyTorch offers a choice a careful user would make (zero_grad(set_to_none=...), the AdamW
implementation, channels_last), every variant is timed and the fastest reported; the others are listed under the
table (text output) and the choice is in the JSON "variant" field."""
import argparse
import ctypes
import json
import math
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WARMUP, MIN_ITERS, MIN_SECONDS, MAX_ITERS = 3, 20, 1.0, 1000
SEED = 1234


def time_it(run):
    """Median seconds per call of run() and the number of timed calls, as leap bench's time_workload."""
    for _ in range(WARMUP):
        run()
    times, start = [], time.perf_counter()
    while len(times) < MAX_ITERS and (len(times) < MIN_ITERS or time.perf_counter() - start < MIN_SECONDS):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def adamw(model):
    """AdamW(lr 3e-4, wd 0.1, torch defaults otherwise) decaying weights (dim >= 2) but not biases or LayerNorm
    gains, as leap's optimizer does (its weight_decay flag); no gradient clipping (leap bench turns it off)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, foreach):
    return torch.optim.AdamW(adamw(model), lr=3e-4, betas=(0.9, 0.999), eps=1e-8, foreach=foreach)


# ---------------------------------------------------------------------------------------------------------------- W1
class Block(nn.Module):
    def __init__(self, C, H, T):
        super().__init__()
        self.H = H
        self.ln_1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.gelu = nn.GELU(approximate="tanh")
        self.mlp_proj = nn.Linear(4 * C, C)
        self.register_buffer("masked", ~torch.tril(torch.ones(T, T, dtype=torch.bool)), persistent=False)

    def attn(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.H, C // self.H).transpose(1, 2)
        k = k.view(B, T, self.H, C // self.H).transpose(1, 2)
        v = v.view(B, T, self.H, C // self.H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.masked[:T, :T], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(self.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=512, context=128, layers=4, heads=4, channels=256):
        super().__init__()
        self.wte = nn.Embedding(vocab, channels)
        self.wpe = nn.Embedding(context, channels)
        self.h = nn.ModuleList([Block(channels, heads, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(channels)
        self.lm_head = nn.Linear(channels, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        self.register_buffer("pos", torch.arange(context), persistent=False)
        for name, p in self.named_parameters():  # GPT-2's init, as models/gpt.c
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(self.pos[:T])
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def w1_variant(set_to_none, foreach):
    model = GPT()
    opt = make_optimizer(model, foreach)
    x = torch.randint(0, 512, (8, 128))
    y = torch.randint(0, 512, (8, 128))

    def run():
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)

    return run


def w1_variants():
    for set_to_none in (False, True):
        for foreach in (False, True):
            yield f"zero_grad(set_to_none={set_to_none}), AdamW foreach={foreach}", w1_variant(set_to_none, foreach)


# ---------------------------------------------------------------------------------------------------------------- W2
class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.ModuleList([nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1),
                                   nn.Conv2d(64, 128, 3, padding=1)])
        self.fc1 = nn.Linear(128 * 8 * 8, 256)
        self.fc2 = nn.Linear(256, 3)

    def forward(self, x):
        for conv in self.conv:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def w2_variant(channels_last, set_to_none, foreach):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = ConvNet().to(memory_format=fmt)
    opt = make_optimizer(model, foreach)
    x = torch.rand(64, 3, 64, 64).contiguous(memory_format=fmt)
    y = torch.rand(64, 3)

    def run():
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)

    return run


def w2_variants():
    for channels_last in (False, True):
        for set_to_none in (False, True):
            for foreach in (False, True):
                name = (f"{'channels_last' if channels_last else 'NCHW contiguous'}, "
                        f"zero_grad(set_to_none={set_to_none}), AdamW foreach={foreach}")
                yield name, w2_variant(channels_last, set_to_none, foreach)


# ---------------------------------------------------------------------------------------------------------------- W3
def w3_variants():
    """leap_attention takes q, k, v as (B, T, H*D) and returns (B, T, H*D): the head split and merge are part of the
    op, so they are here too."""
    B, H, T, D = 4, 8, 512, 64
    C = H * D
    q, k, v = (torch.rand(B, T, C, requires_grad=True) for _ in range(3))
    dout = torch.rand(B, T, C)
    masked = ~torch.tril(torch.ones(T, T, dtype=torch.bool))

    def run():
        qh, kh, vh = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        att = (qh @ kh.transpose(-2, -1)) * (1.0 / math.sqrt(D))
        att = att.masked_fill(masked, float("-inf"))
        att = F.softmax(att, dim=-1)
        out = (att @ vh).transpose(1, 2).reshape(B, T, C)
        torch.autograd.grad(out, (q, k, v), dout)

    yield "(B,T,H*D) in and out, materialised scores", run


# ---------------------------------------------------------------------------------------------------------------- W4
def w4_variant(channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.rand(16, 64, 32, 32).contiguous(memory_format=fmt).requires_grad_()
    w = torch.rand(64, 64, 3, 3).contiguous(memory_format=fmt).requires_grad_()
    dout = torch.rand(16, 64, 32, 32).contiguous(memory_format=fmt)

    def run():
        out = F.conv2d(x, w, None, stride=1, padding=1)
        torch.autograd.grad(out, (x, w), dout)

    return run


def w4_variants():
    yield "NCHW contiguous", w4_variant(False)
    yield "channels_last", w4_variant(True)


# ---------------------------------------------------------------------------------------------------------------- W5
def w5_variants():
    a = torch.rand(1024, 1024) * 2 - 1
    b = torch.rand(1024, 1024) * 2 - 1
    c = torch.empty(1024, 1024)
    yield "torch.mm(out=)", lambda: torch.mm(a, b, out=c)


W3_FWD_FLOPS = 0.5 * 4.0 * 4 * 8 * 512.0 * 512.0 * 64
W4_FWD_FLOPS = 2.0 * 16 * 64 * 64 * 9 * 32 * 32
WORKLOADS = [  # id, name, unit, items per iteration, FLOPs per iteration (0: not counted, as leap bench), variants
    ("W1", "GPT training step (4L 4H 256C, B8 T128)", "tokens/s", 8 * 128, 0, w1_variants),
    ("W2", "conv net training step (B64 64x64x3)", "images/s", 64, 0, w2_variants),
    ("W3", "causal attention fwd+bwd (B4 H8 T512 D64)", "iters/s", 1, 3.5 * W3_FWD_FLOPS, w3_variants),
    ("W4", "conv2d fwd+bwd (N16 C64 32x32 K64 3x3)", "iters/s", 1, 3.0 * W4_FWD_FLOPS, w4_variants),
    ("W5", "sgemm 1024x1024x1024", "iters/s", 1, 2.0 * 1024 ** 3, w5_variants),
]


class CpuShare:
    """The share of the machine's CPU time that other processes took between start() and stop(): the benchmark
    owns the cores only when this is near 0 (the figures are not to be trusted when it is not)."""

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = sum(v) - v[3] - v[4]  # all but idle and iowait, in clock ticks
        t = os.times()
        return busy, sum(v), (t.user + t.system) * os.sysconf("SC_CLK_TCK")

    def start(self):
        self.t0 = self._read()

    def stop(self):
        b0, a0, o0 = self.t0
        b1, a1, o1 = self._read()
        return max(0.0, 100.0 * ((b1 - b0) - (o1 - o0)) / max(1, a1 - a0))


def blas_description():
    """Which BLAS library torch's process loaded, and OpenBLAS's own account of itself when it is OpenBLAS."""
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if re.search(r"lib(open)?blas|libmkl|libblis|libdnnl", path) and path not in libs:
                libs.append(path)
    desc = ", ".join(libs) or "unknown"
    openblas = next((p for p in libs if "openblas" in p), None)
    if openblas:
        try:
            lib = ctypes.CDLL(openblas)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            desc += (f"; OpenBLAS config '{lib.openblas_get_config().decode()}', core "
                     f"{lib.openblas_get_corename().decode()}, openblas_get_num_threads()={lib.openblas_get_num_threads()}")
        except (OSError, AttributeError):
            pass
    return desc


def header(threads):
    info = torch.__config__.parallel_info()
    pick = lambda pat: next((l.strip() for l in info.splitlines() if re.search(pat, l)), "?")
    print(f"torch {torch.__version__} bench: device cpu, {threads} threads, fp32")
    print(f"  {pick('at::get_num_threads')}; {pick('get_num_interop_threads')}; {pick('ATen parallel backend')}; "
          f"{pick('OpenMP')}; {pick('omp_get_max_threads')}")
    print(f"  {pick('MKL-DNN|oneDNN')}; {pick('^MKL')}; mkldnn available: {torch.backends.mkldnn.is_available()}; "
          f"{next((l.strip(' -') for l in torch.__config__.show().splitlines() if 'CPU capability' in l), '?')}")
    print(f"  BLAS: {blas_description()}")
    print(f"  load average at start: {open('/proc/loadavg').read().strip()}")
    env = {k: v for k, v in os.environ.items() if re.match(r"(OPENBLAS|OMP|MKL|GOMP|KMP|DNNL|ONEDNN)_", k)}
    print(f"  environment: {' '.join(f'{k}={v}' for k, v in sorted(env.items())) or '(no BLAS/OpenMP variables)'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None, help="comma-separated ids, e.g. W1,W3")
    ap.add_argument("--json", action="store_true", help="one JSON object per line, the keys of leap bench --json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    only = set(args.only.split(",")) if args.only else None
    selected = [w for w in WORKLOADS if only is None or w[0] in only]
    if not selected:
        print(f"bench_torch: --only '{args.only}' matches no workload", file=sys.stderr)
        return 2
    if not args.json:
        header(args.threads)
        print(f"{'id':<4} {'workload':<44} {'median_ms':>10} {'throughput':>14} {'unit':<10} {'GFLOP/s':>10}")
    notes = []
    for wid, name, unit, items, flops, variants in selected:
        results = []
        share = CpuShare()
        share.start()
        for vname, run in variants():
            sec, iters = time_it(run)
            results.append((sec, iters, vname))
            del run
        sec, iters, vname = min(results)
        other = share.stop()
        throughput, gflops = items / sec, flops / sec * 1e-9
        if args.json:
            print(json.dumps({"workload": wid, "device": "cpu", "threads": args.threads,
                              "median_ms": round(sec * 1e3, 4), "throughput": round(throughput, 2), "unit": unit,
                              "gflops": round(gflops, 2), "iterations": iters, "framework": f"torch {torch.__version__}",
                              "variant": vname, "other_cpu_pct": round(other, 1)}))
        else:
            print(f"{wid:<4} {name:<44} {sec * 1e3:10.3f} {throughput:14.1f} {unit:<10} {gflops:10.1f}")
            if len(results) > 1:
                notes.append(f"  {wid}: reported {vname}; other processes {other:.0f}% of the CPUs" + "".join(
                    f"\n      {s * 1e3:9.3f} ms  ({n:4d} iters)  {v}" for s, n, v in results))
            else:
                notes.append(f"  {wid}: {vname} ({iters} iters); other processes {other:.0f}% of the CPUs")
        sys.stdout.flush()
    if notes:
        print("variants (median ms each; the fastest is reported):")
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
