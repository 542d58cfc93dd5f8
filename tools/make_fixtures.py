#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that the C tests tests/kernels/*/test_*_torch.c compare against.

Rerun from the repository root with Debian's Python, which has torch and numpy (the `python3` first on PATH may
be another one without them):

    /usr/bin/python3 tools/make_fixtures.py            # writes tests/fixtures/*.safetensors
    /usr/bin/python3 tools/make_fixtures.py --out DIR  # somewhere else, e.g. to diff against the committed ones

Each file tests/fixtures/<op>.safetensors holds several cases. Tensor "<case>.<name>" is one input, output or
gradient of case <case>; metadata "cases" lists the case names (comma-separated) and "<case>.<attr>" gives the
case's attributes (stride, eps, ...) as decimal strings. Inputs are drawn in float32 from fixed seeds; every
reference is then computed by PyTorch in float64 from those float32 values and rounded to float32 once, so the
fixtures carry no float32 rounding of their own and the C tests' tolerances measure the kernel alone. Gradients
are for a fixed random upstream gradient "<case>.dout" (or a scalar "<case>.dloss" for losses).

Tensors are stored in leap's layouts, converted here rather than in C: images and feature maps NHWC (N,H,W,C),
convolution weights (K,R,S,C), linear weights (OUT,IN), attention tensors (B,T,H,D) with lse (B,H,Tq).

The safetensors files are written by this script itself (struct + json + numpy bytes), not by the safetensors
package: io_python.safetensors exists to check that leap's reader accepts a file written independently of leap's
writer. Outputs are deterministic: rerunning reproduces the same bytes on the same torch version.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------------------
# safetensors writing


class Fixture:
    """Collects named tensors and metadata for one file."""

    def __init__(self, op):
        self.op = op
        self.tensors = {}
        self.meta = {}
        self.cases = []

    def case(self, name, **attrs):
        assert name not in self.cases, name
        self.cases.append(name)
        for key, value in attrs.items():
            self.attr(name, key, value)
        return name

    def attr(self, case, key, value):
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, float):
            value = repr(value)
        self.meta[f"{case}.{key}"] = str(value)

    def put(self, case, name, value, dtype=np.float32):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(value).astype(dtype))
        key = f"{case}.{name}"
        assert key not in self.tensors, key
        self.tensors[key] = arr

    def write(self, out_dir):
        meta = dict(self.meta)
        meta["cases"] = ",".join(self.cases)
        meta["generator"] = "tools/make_fixtures.py"
        meta["torch"] = torch.__version__
        path = os.path.join(out_dir, f"{self.op}.safetensors")
        write_safetensors(path, self.tensors, meta)
        return path


_DTYPE_NAMES = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint8): "U8",
}


def write_safetensors(path, tensors, meta, raw=None):
    """Writes tensors (name -> numpy array) and meta (str -> str) as safetensors, names in sorted order.

    raw maps a name to (dtype name, shape, bytes) for dtypes numpy lacks (BF16)."""
    entries = {name: (_DTYPE_NAMES[a.dtype], list(a.shape), a.astype(a.dtype.newbyteorder("<")).tobytes())
               for name, a in tensors.items()}
    entries.update(raw or {})
    header = {"__metadata__": meta} if meta else {}
    blobs, offset = [], 0
    for name in sorted(entries):
        dtype, shape, data = entries[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------------
# helpers


def f32(x):
    """A float32 value as a Python float, so that C (which takes float) and torch see the same number."""
    return float(np.float32(x))


def randn(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).to(torch.float32)


def leaf(x):
    """A float64 copy of a float32 tensor that records gradients."""
    return x.detach().to(torch.float64).requires_grad_(True)


def backward(out, dout):
    out.backward(dout.to(torch.float64))


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


# ---------------------------------------------------------------------------------------------------------------
# dense ops


def make_linear(fx, gen):
    for name, n, d_in, d_out, bias in [("a", 5, 7, 3, True), ("b", 1, 13, 9, False), ("c", 33, 64, 17, True)]:
        fx.case(name, N=n, IN=d_in, OUT=d_out, bias=bias)
        x, w, b = randn(gen, n, d_in), randn(gen, d_out, d_in, scale=0.3), randn(gen, d_out)
        dout = randn(gen, n, d_out)
        xl, wl, bl = leaf(x), leaf(w), leaf(b)
        out = F.linear(xl, wl, bl if bias else None)
        backward(out, dout)
        fx.put(name, "x", x), fx.put(name, "w", w), fx.put(name, "out", out), fx.put(name, "dout", dout)
        fx.put(name, "dx", xl.grad), fx.put(name, "dw", wl.grad)
        if bias:
            fx.put(name, "b", b), fx.put(name, "db", bl.grad)


def make_matmul(fx, gen):
    """C (batch,M,N) = op(A) op(B); A is stored (batch,K,M) when trans_a, B (K,N) or (N,K) when trans_b, and a
    broadcast B has no batch dimension."""
    cases = [("nn", 3, 5, 4, 7, False, False, False), ("tn", 3, 5, 4, 7, True, False, False),
             ("nt", 2, 6, 9, 3, False, True, False), ("tt", 2, 4, 5, 6, True, True, False),
             ("bcast", 4, 5, 3, 7, False, False, True), ("bcast_t", 3, 2, 6, 5, False, True, True),
             ("single", 1, 17, 19, 33, False, False, False)]
    for name, batch, m, n, k, ta, tb, bcast in cases:
        fx.case(name, batch=batch, M=m, N=n, K=k, trans_a=ta, trans_b=tb, broadcast_b=bcast)
        a = randn(gen, batch, *((k, m) if ta else (m, k)))
        b_shape = (n, k) if tb else (k, n)
        b = randn(gen, *b_shape) if bcast else randn(gen, batch, *b_shape)
        dout = randn(gen, batch, m, n)
        al, bl = leaf(a), leaf(b)
        opa = al.transpose(-1, -2) if ta else al
        opb = bl.transpose(-1, -2) if tb else bl
        out = torch.matmul(opa, opb)
        backward(out, dout)
        for key, value in [("a", a), ("b", b), ("out", out), ("dout", dout), ("da", al.grad), ("db", bl.grad)]:
            fx.put(name, key, value)


def make_layernorm(fx, gen):
    eps = f32(1e-5)
    for name, n, c, shift in [("a", 6, 11, 0.0), ("b", 3, 64, 5.0), ("c", 17, 3, -2.0)]:
        fx.case(name, N=n, C=c, eps=eps)
        x = randn(gen, n, c, scale=2.0) + shift
        w, b = 1.0 + randn(gen, c, scale=0.2), randn(gen, c, scale=0.2)
        dout = randn(gen, n, c)
        xl, wl, bl = leaf(x), leaf(w), leaf(b)
        out = F.layer_norm(xl, (c,), wl, bl, eps)
        backward(out, dout)
        xd = x.to(torch.float64)
        mean = xd.mean(-1)
        rstd = 1.0 / torch.sqrt(xd.var(-1, unbiased=False) + eps)
        for key, value in [("x", x), ("w", w), ("b", b), ("out", out), ("mean", mean), ("rstd", rstd),
                           ("dout", dout), ("dx", xl.grad), ("dw", wl.grad), ("db", bl.grad)]:
            fx.put(name, key, value)


def make_activation(fx, gen):
    """gelu (tanh approximation) and relu, on values spread over where each function bends and saturates."""
    x = torch.cat([torch.linspace(-6, 6, 121), randn(gen, 100, scale=3.0), torch.tensor([-20.0, -9.0, 9.0, 20.0])])
    x = x.to(torch.float32)
    for name, fn in [("gelu", lambda t: F.gelu(t, approximate="tanh")), ("relu", F.relu)]:
        xs = x.clone()
        if name == "relu":
            xs[xs.abs() < 1e-3] = 0.5  # the kink at 0 has no defined gradient
        fx.case(name, n=xs.numel())
        dout = randn(gen, xs.numel())
        xl = leaf(xs)
        out = fn(xl)
        backward(out, dout)
        fx.put(name, "x", xs), fx.put(name, "out", out), fx.put(name, "dout", dout), fx.put(name, "dx", xl.grad)


def make_softmax(fx, gen):
    for name, n, c, scale in [("a", 4, 10, 1.0), ("b", 3, 257, 4.0), ("wide", 2, 1000, 30.0), ("one", 5, 1, 1.0)]:
        fx.case(name, N=n, C=c)
        x, dout = randn(gen, n, c, scale=scale), randn(gen, n, c)
        xl = leaf(x)
        out = torch.softmax(xl, -1)
        backward(out, dout)
        fx.put(name, "x", x), fx.put(name, "out", out), fx.put(name, "dout", dout), fx.put(name, "dx", xl.grad)


def make_cross_entropy(fx, gen):
    """Mean cross-entropy over the rows whose target is not ignore_index. leap defines the loss of a batch with no
    counted row as 0 with zero gradients, where PyTorch gives NaN; the all-ignored case stores leap's values."""
    cases = [("a", 7, 11, -100, [2, 0]), ("b", 9, 512, -100, [3]), ("ignore0", 6, 5, 0, []),
             ("none_ignored", 4, 33, -100, []), ("all_ignored", 3, 8, -100, [0, 1, 2])]
    for name, n, v, ignore_index, ignored in cases:
        fx.case(name, N=n, V=v, ignore_index=ignore_index)
        logits = randn(gen, n, v, scale=3.0)
        low = 1 if ignore_index == 0 else 0
        targets = torch.randint(low, v, (n,), generator=gen, dtype=torch.int64)
        if ignore_index == 0:
            targets[1] = 0
            targets[4] = 0
        for i in ignored:
            targets[i] = ignore_index
        count = int((targets != ignore_index).sum())
        dloss = torch.tensor(f32(0.75), dtype=torch.float64)
        ll = leaf(logits)
        if count > 0:
            loss = F.cross_entropy(ll, targets, ignore_index=ignore_index, reduction="mean")
            loss.backward(dloss)
            dlogits = ll.grad
        else:
            loss, dlogits = torch.zeros((), dtype=torch.float64), torch.zeros(n, v, dtype=torch.float64)
        lse = torch.logsumexp(logits.to(torch.float64), -1)
        fx.put(name, "logits", logits), fx.put(name, "targets", targets, np.int32)
        fx.put(name, "loss", loss), fx.put(name, "count", count, np.int32), fx.put(name, "lse", lse)
        fx.put(name, "dloss", dloss), fx.put(name, "dlogits", dlogits)


def make_mse(fx, gen):
    for name, shape in [("a", (5, 7)), ("b", (1, 1)), ("c", (3, 4, 9))]:
        fx.case(name, n=int(np.prod(shape)))
        pred, target = randn(gen, *shape), randn(gen, *shape)
        dloss = torch.tensor(f32(1.5), dtype=torch.float64)
        pl, tl = leaf(pred), leaf(target)
        loss = F.mse_loss(pl, tl)
        loss.backward(dloss)
        for key, value in [("pred", pred), ("target", target), ("loss", loss), ("dloss", dloss),
                           ("dpred", pl.grad), ("dtarget", tl.grad)]:
            fx.put(name, key, value)


def make_embedding(fx, gen):
    for name, v, c, ids in [("a", 13, 6, [3, 0, 12, 3, 3, 7, 1, 12, 5]), ("b", 50, 17, list(range(0, 50, 7)) * 2),
                            ("one", 4, 1, [2])]:
        fx.case(name, V=v, C=c, N=len(ids))
        table = randn(gen, v, c)
        ids_t = torch.tensor(ids, dtype=torch.int64)
        dout = randn(gen, len(ids), c)
        tl = leaf(table)
        out = F.embedding(ids_t, tl)
        backward(out, dout)
        fx.put(name, "table", table), fx.put(name, "ids", ids_t, np.int32), fx.put(name, "out", out)
        fx.put(name, "dout", dout), fx.put(name, "dtable", tl.grad)


# ---------------------------------------------------------------------------------------------------------------
# convolution family (NHWC)


def make_conv2d(fx, gen):
    cases = [  # name, N, H, W, C, K, R, S, stride_h, stride_w, pad_h, pad_w, bias
        ("c3x3", 2, 7, 9, 3, 5, 3, 3, 1, 1, 1, 1, True),
        ("stride2", 2, 8, 10, 4, 6, 3, 3, 2, 2, 1, 1, True),
        ("k5s2p2", 1, 9, 7, 5, 4, 5, 5, 2, 2, 2, 2, False),
        ("pointwise", 2, 5, 6, 8, 7, 1, 1, 1, 1, 0, 0, True),
        ("stem7x7", 1, 12, 11, 3, 8, 7, 7, 2, 2, 3, 3, True),
        ("valid", 2, 6, 5, 3, 4, 3, 3, 1, 1, 0, 0, True),
        ("asym", 1, 7, 8, 3, 5, 3, 2, 1, 2, 0, 1, True),
    ]
    for name, n, h, w, c, k, r, s, sh, sw, ph, pw, bias in cases:
        x, wt, b = randn(gen, n, h, w, c), randn(gen, k, r, s, c, scale=0.3), randn(gen, k)
        xl, wl, bl = leaf(x), leaf(wt), leaf(b)
        out = nhwc(F.conv2d(nchw(xl), nchw(wl), bl if bias else None, stride=(sh, sw), padding=(ph, pw)))
        fx.case(name, N=n, H=h, W=w, C=c, K=k, R=r, S=s, stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, bias=bias,
                P=out.shape[1], Q=out.shape[2])
        dout = randn(gen, *out.shape)
        backward(out, dout)
        for key, value in [("x", x), ("w", wt), ("out", out), ("dout", dout), ("dx", xl.grad), ("dw", wl.grad)]:
            fx.put(name, key, value)
        if bias:
            fx.put(name, "b", b), fx.put(name, "db", bl.grad)


def make_pool(fx, gen):
    """maxpool (argmax = h*W + w, the index into the input plane PyTorch returns), avgpool with
    count_include_pad=False, and global average pooling (N,H,W,C) -> (N,C)."""
    windows = [  # name, N, H, W, C, kh, kw, sh, sw, ph, pw
        ("k3s2p1", 2, 7, 9, 3, 3, 3, 2, 2, 1, 1), ("k2s2", 1, 8, 8, 5, 2, 2, 2, 2, 0, 0),
        ("k3s1p1", 1, 5, 6, 4, 3, 3, 1, 1, 1, 1), ("asym", 2, 7, 6, 3, 3, 2, 1, 2, 1, 0)]
    for kind in ("max", "avg"):
        for base, n, h, w, c, kh, kw, sh, sw, ph, pw in windows:
            name = f"{kind}_{base}"
            x = randn(gen, n, h, w, c)
            xl = leaf(x)
            if kind == "max":
                out, idx = F.max_pool2d(nchw(xl), (kh, kw), (sh, sw), (ph, pw), return_indices=True)
                fx.put(name, "argmax", nhwc(idx), np.int32)
            else:
                out = F.avg_pool2d(nchw(xl), (kh, kw), (sh, sw), (ph, pw), count_include_pad=False)
            out = nhwc(out)
            fx.case(name, N=n, H=h, W=w, C=c, kh=kh, kw=kw, stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw,
                    P=out.shape[1], Q=out.shape[2])
            dout = randn(gen, *out.shape)
            backward(out, dout)
            fx.put(name, "x", x), fx.put(name, "out", out), fx.put(name, "dout", dout), fx.put(name, "dx", xl.grad)
    for name, n, h, w, c in [("gap_a", 3, 5, 7, 6), ("gap_b", 1, 1, 1, 4), ("gap_c", 2, 9, 3, 65)]:
        fx.case(name, N=n, H=h, W=w, C=c)
        x, dout = randn(gen, n, h, w, c), randn(gen, n, c)
        xl = leaf(x)
        out = xl.mean(dim=(1, 2))
        backward(out, dout)
        fx.put(name, "x", x), fx.put(name, "out", out), fx.put(name, "dout", dout), fx.put(name, "dx", xl.grad)


def make_batchnorm(fx, gen):
    """Training mode: batch statistics over (N,H,W) per channel, saved mean and invstd, running statistics updated
    with momentum (running_var from the unbiased variance). Eval mode: the running statistics as constants."""
    momentum, eps = f32(0.1), f32(1e-5)
    for name, n, h, w, c, training in [("train_a", 4, 5, 3, 6, True), ("train_b", 2, 3, 3, 5, True),
                                       ("train_c", 3, 1, 1, 7, True), ("eval", 2, 4, 3, 5, False)]:
        fx.case(name, N=n, H=h, W=w, C=c, momentum=momentum, eps=eps, training=training)
        x = randn(gen, n, h, w, c, scale=1.5) + 0.5
        gamma, beta = 1.0 + randn(gen, c, scale=0.2), randn(gen, c, scale=0.2)
        rmean, rvar = randn(gen, c, scale=0.3), 0.5 + torch.rand(c, generator=gen)
        dout = randn(gen, n, h, w, c)
        xl, gl, bl = leaf(x), leaf(gamma), leaf(beta)
        rm, rv = rmean.to(torch.float64), rvar.to(torch.float64)
        out = nhwc(F.batch_norm(nchw(xl), rm, rv, gl, bl, training=training, momentum=momentum, eps=eps))
        backward(out, dout)
        for key, value in [("x", x), ("gamma", gamma), ("beta", beta), ("running_mean_in", rmean),
                           ("running_var_in", rvar), ("out", out), ("dout", dout), ("dx", xl.grad),
                           ("dgamma", gl.grad), ("dbeta", bl.grad)]:
            fx.put(name, key, value)
        if training:
            xd = x.to(torch.float64).reshape(-1, c)
            fx.put(name, "mean", xd.mean(0))
            fx.put(name, "invstd", 1.0 / torch.sqrt(xd.var(0, unbiased=False) + eps))
            fx.put(name, "running_mean_out", rm), fx.put(name, "running_var_out", rv)


def make_groupnorm(fx, gen):
    eps = f32(1e-5)
    for name, n, h, w, c, g in [("a", 2, 4, 5, 12, 3), ("instance", 3, 3, 3, 8, 8), ("one_group", 2, 2, 3, 6, 1),
                                ("wide", 1, 5, 5, 32, 4)]:
        fx.case(name, N=n, H=h, W=w, C=c, G=g, eps=eps)
        x = randn(gen, n, h, w, c, scale=2.0) - 1.0
        gamma, beta = 1.0 + randn(gen, c, scale=0.2), randn(gen, c, scale=0.2)
        dout = randn(gen, n, h, w, c)
        xl, gl, bl = leaf(x), leaf(gamma), leaf(beta)
        out = nhwc(F.group_norm(nchw(xl), g, gl, bl, eps))
        backward(out, dout)
        grouped = x.to(torch.float64).reshape(n, h * w, g, c // g).permute(0, 2, 1, 3).reshape(n, g, -1)
        mean = grouped.mean(-1)
        rstd = 1.0 / torch.sqrt(grouped.var(-1, unbiased=False) + eps)
        for key, value in [("x", x), ("gamma", gamma), ("beta", beta), ("out", out), ("mean", mean),
                           ("rstd", rstd), ("dout", dout), ("dx", xl.grad), ("dgamma", gl.grad),
                           ("dbeta", bl.grad)]:
            fx.put(name, key, value)


# ---------------------------------------------------------------------------------------------------------------
# attention


def attention_reference(q, k, v, key_len, causal, scale):
    """Explicit softmax in float64 over leap-layout (B,T,H,D) tensors. Returns out (B,Tq,H,D) and lse (B,H,Tq);
    a query that sees no key gets out = 0 and lse = -inf."""
    tq, tk = q.shape[1], k.shape[1]
    qh, kh, vh = (t.permute(0, 2, 1, 3) for t in (q, k, v))  # (B,H,T,D)
    scores = torch.matmul(qh, kh.transpose(-1, -2)) * scale
    i = torch.arange(tq).view(tq, 1)
    j = torch.arange(tk).view(1, tk)
    visible = torch.ones(q.shape[0], 1, tq, tk, dtype=torch.bool)
    if causal:
        visible = visible & (j <= i + (tk - tq))
    if key_len is not None:
        visible = visible & (j.view(1, 1, 1, tk) < key_len.view(-1, 1, 1, 1))
    scores = scores.masked_fill(~visible, -math.inf)
    lse = torch.logsumexp(scores, -1)
    finite = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)
    probs = torch.where(visible, torch.exp(scores - finite.unsqueeze(-1)), torch.zeros_like(scores))
    out = torch.matmul(probs, vh).permute(0, 2, 1, 3)
    return out, lse


def make_attention(fx, gen):
    cases = [  # name, B, H, Tq, Tk, D, causal, key_len
        ("self", 2, 3, 9, 9, 8, False, None), ("causal", 2, 2, 17, 17, 16, True, None),
        ("cross", 2, 2, 5, 11, 8, False, None), ("cross_causal", 1, 3, 7, 12, 8, True, None),
        ("padded", 3, 2, 10, 10, 8, False, [10, 4, 0]), ("padded_causal", 2, 2, 9, 9, 8, True, [3, 9]),
        ("short_causal", 2, 1, 8, 5, 8, True, [5, 2]), ("d64", 1, 2, 33, 33, 64, True, None),
        ("d80", 1, 1, 6, 6, 80, False, None)]
    for name, b, h, tq, tk, d, causal, key_len in cases:
        scale = f32(1.0 / math.sqrt(d))
        fx.case(name, B=b, H=h, Tq=tq, Tk=tk, D=d, causal=causal, scale=scale, key_padding=key_len is not None)
        q, k, v = randn(gen, b, tq, h, d), randn(gen, b, tk, h, d), randn(gen, b, tk, h, d)
        dout = randn(gen, b, tq, h, d)
        lens = torch.tensor(key_len, dtype=torch.int64) if key_len is not None else None
        ql, kl, vl = leaf(q), leaf(k), leaf(v)
        out, lse = attention_reference(ql, kl, vl, lens, causal, scale)
        backward(out, dout)
        for key, value in [("q", q), ("k", k), ("v", v), ("out", out), ("lse", lse.detach()), ("dout", dout),
                           ("dq", ql.grad), ("dk", kl.grad), ("dv", vl.grad)]:
            fx.put(name, key, value)
        if lens is not None:
            fx.put(name, "key_len", lens, np.int32)


# ---------------------------------------------------------------------------------------------------------------
# optimizers


OPTIM_STEPS = 3


def make_optim(fx, gen):
    """Three steps of torch.optim.AdamW and torch.optim.SGD (float64 state from float32 inputs). "param" holds the
    parameter after each step (steps, n); "m"/"v" (AdamW) and "buf" (SGD) the optimizer state after each step."""
    n = 37
    adamw = [("adamw", 1e-3, 0.9, 0.999, 1e-8, 0.01), ("adamw_nowd", 3e-2, 0.8, 0.95, 1e-6, 0.0),
             ("adamw_wd", 1e-2, 0.9, 0.99, 1e-8, 0.1)]
    for name, lr, b1, b2, eps, wd in adamw:
        lr, b1, b2, eps, wd = f32(lr), f32(b1), f32(b2), f32(eps), f32(wd)
        fx.case(name, n=n, steps=OPTIM_STEPS, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd)
        p0, grads = randn(gen, n), randn(gen, OPTIM_STEPS, n, scale=0.5)
        p = p0.to(torch.float64).clone().requires_grad_(True)
        opt = torch.optim.AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
        params, ms, vs = [], [], []
        for step in range(OPTIM_STEPS):
            p.grad = grads[step].to(torch.float64).clone()
            opt.step()
            state = opt.state[p]
            params.append(p.detach().clone()), ms.append(state["exp_avg"].clone())
            vs.append(state["exp_avg_sq"].clone())
        fx.put(name, "param0", p0), fx.put(name, "grad", grads), fx.put(name, "param", torch.stack(params))
        fx.put(name, "m", torch.stack(ms)), fx.put(name, "v", torch.stack(vs))
    sgd = [("sgd", 0.1, 0.9, 0.0, False), ("sgd_wd", 0.05, 0.9, 0.01, False), ("sgd_nesterov", 0.1, 0.8, 0.01, True),
           ("sgd_plain", 0.2, 0.0, 0.0, False)]
    for name, lr, momentum, wd, nesterov in sgd:
        lr, momentum, wd = f32(lr), f32(momentum), f32(wd)
        fx.case(name, n=n, steps=OPTIM_STEPS, lr=lr, momentum=momentum, weight_decay=wd, nesterov=nesterov)
        p0, grads = randn(gen, n), randn(gen, OPTIM_STEPS, n, scale=0.5)
        p = p0.to(torch.float64).clone().requires_grad_(True)
        opt = torch.optim.SGD([p], lr=lr, momentum=momentum, weight_decay=wd, nesterov=nesterov)
        params, bufs = [], []
        for step in range(OPTIM_STEPS):
            p.grad = grads[step].to(torch.float64).clone()
            opt.step()
            params.append(p.detach().clone())
            buf = opt.state[p].get("momentum_buffer")
            bufs.append(buf.clone() if buf is not None else torch.zeros(n, dtype=torch.float64))
        fx.put(name, "param0", p0), fx.put(name, "grad", grads), fx.put(name, "param", torch.stack(params))
        fx.put(name, "buf", torch.stack(bufs))


# ---------------------------------------------------------------------------------------------------------------
# a file for the safetensors reader's own test


def write_io_fixture(out_dir):
    """io_python.safetensors: one tensor of each dtype the reader converts, each with its expected values, so that
    tests/train/io/test_safetensors_torch.c checks leap's reader on a file it did not write."""
    bf16 = torch.tensor([1.0, -2.5, 0.1, 3.0e38, -1e-30, 0.0], dtype=torch.float32).to(torch.bfloat16)
    f16 = torch.tensor([1.0, -0.0, 65504.0, 6e-8, 1e-5, -3.140625, float("inf")], dtype=torch.float16)
    f64 = np.array([0.1, -2.5, 1e300, 1e-50, 123456789.123], dtype=np.float64)
    with np.errstate(over="ignore"):  # 1e300 becomes inf, as the C reader's cast does
        f64_expect = f64.astype(np.float32)
    tensors = {
        "f32": (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1.0),
        "f64": f64,
        "f64_expect": f64_expect,
        "f16": f16.numpy(),
        "f16_expect": f16.to(torch.float32).numpy(),
        "bf16_expect": bf16.to(torch.float32).numpy(),
        "i64": np.array([0, -5, 2147483647, -2147483648], dtype=np.int64),
        "i64_big": np.array([1, 1 << 40], dtype=np.int64),
        "i32": np.array([[-7, 0, 7]], dtype=np.int32),
        "i16": np.array([-300, 300], dtype=np.int16),
        "u8": np.array([0, 255, 17], dtype=np.uint8),
        "scalar": np.array(42.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    raw = {"bf16": ("BF16", [2, 3], bf16.view(torch.int16).numpy().astype("<i2").tobytes())}
    # json.dumps writes non-ASCII as \u escapes (a surrogate pair for U+1F600), which the reader must decode.
    meta = {"format": "pt", "generator": "tools/make_fixtures.py", "number": "12", "quote": "a \"b\" \\ c",
            "unicode": "\u00e9\u2211\U0001F600"}
    path = os.path.join(out_dir, "io_python.safetensors")
    write_safetensors(path, tensors, meta, raw)
    return path


# ---------------------------------------------------------------------------------------------------------------


MAKERS = [("linear", make_linear), ("matmul", make_matmul), ("layernorm", make_layernorm),
          ("activation", make_activation), ("softmax", make_softmax), ("cross_entropy", make_cross_entropy),
          ("mse", make_mse), ("embedding", make_embedding), ("conv2d", make_conv2d), ("pool", make_pool),
          ("batchnorm", make_batchnorm), ("groupnorm", make_groupnorm), ("attention", make_attention),
          ("optim", make_optim)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    paths = [write_io_fixture(args.out)]
    for seed, (op, maker) in enumerate(MAKERS):
        gen = torch.Generator().manual_seed(1000 + seed)
        fx = Fixture(op)
        maker(fx, gen)
        paths.append(fx.write(args.out))
    total = 0
    for path in paths:
        size = os.path.getsize(path)
        total += size
        print(f"{os.path.relpath(path)}: {size} bytes")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
