#!/usr/bin/python3
"""Writes tests/fixtures/gpt.safetensors: a tiny GPT-2 computed by PyTorch, for tests/models/test_gpt_torch.c.

Rerun from the repository root with Debian's Python, which has torch and numpy:

    /usr/bin/python3 tools/make_gpt_fixture.py            # writes tests/fixtures/gpt.safetensors
    /usr/bin/python3 tools/make_gpt_fixture.py --out DIR  # somewhere else
    /usr/bin/python3 tools/make_gpt_fixture.py --debug    # also stores intermediate activations ("act.*")

The model is written out op by op rather than with torch.nn modules, so that every detail of leap's GPT
(models/gpt.h) is visible here: learned token and position embeddings, pre-LayerNorm blocks (eps 1e-5) of causal
multi-head attention (one qkv Linear of 3C outputs laid out [q | k | v], each of H heads of D = C/H contiguous
channels, scale 1/sqrt(D)) and a 4x MLP with tanh-GELU, a final LayerNorm, and an LM head tied to wte. The loss is
the mean cross-entropy over targets that are not -1.

The file holds every parameter under leap's name (float32, drawn from a fixed seed), "tokens" and "targets" (i32
(B,T); some targets are -1), "logits" (B,T,V), "loss" (1), and "grad.<name>" for every parameter. The references
are computed in float64 from the float32 parameters and rounded to float32 once. Metadata gives the config.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # importing make_fixtures leaves no __pycache__ in tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_safetensors  # noqa: E402

torch.set_num_threads(1)

VOCAB, CONTEXT, LAYERS, HEADS, CHANNELS = 37, 16, 2, 2, 24
BATCH, TIME = 3, 11
LN_EPS = 1e-5
SEED = 2024


def param_shapes():
    """Leap's parameters in leap's order (models/gpt.c), name -> shape."""
    c = CHANNELS
    shapes = {"wte.weight": (VOCAB, c), "wpe.weight": (CONTEXT, c)}
    for i in range(LAYERS):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (c,), p + "ln_1.bias": (c,),
            p + "attn.qkv.weight": (3 * c, c), p + "attn.qkv.bias": (3 * c,),
            p + "attn.proj.weight": (c, c), p + "attn.proj.bias": (c,),
            p + "ln_2.weight": (c,), p + "ln_2.bias": (c,),
            p + "mlp.fc.weight": (4 * c, c), p + "mlp.fc.bias": (4 * c,),
            p + "mlp.proj.weight": (c, 4 * c), p + "mlp.proj.bias": (c,),
        })
    shapes.update({"ln_f.weight": (c,), "ln_f.bias": (c,)})
    return shapes


def make_params(gen):
    """Float32 parameters: weights N(0, 0.1), biases N(0, 0.05), LayerNorm gains 1 + N(0, 0.1), so that no value
    is trivially 0 or 1."""
    params = {}
    for name, shape in param_shapes().items():
        noise = torch.randn(*shape, generator=gen, dtype=torch.float32)
        if ".ln_" in name or name.startswith("ln_f."):
            value = 1.0 + 0.1 * noise if name.endswith(".weight") else 0.05 * noise
        elif name.endswith(".bias"):
            value = 0.05 * noise
        else:
            value = 0.1 * noise
        params[name] = value.to(torch.float32)
    return params


def make_batch(gen):
    tokens = torch.randint(0, VOCAB, (BATCH, TIME), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, VOCAB, (BATCH, TIME), generator=gen, dtype=torch.int64)
    for b, t in [(0, 0), (0, 7), (1, 10), (2, 3), (2, 4), (2, 9)]:
        targets[b, t] = -1
    return tokens, targets


def attention(qkv, heads):
    """Causal multi-head attention on qkv (B,T,3C) laid out [q | k | v], each (B,T,H,D) inside -> (B,T,C)."""
    b, t, c3 = qkv.shape
    c = c3 // 3
    d = c // heads
    q, k, v = (qkv[..., i * c:(i + 1) * c].reshape(b, t, heads, d).permute(0, 2, 1, 3) for i in range(3))
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, -math.inf)
    out = torch.matmul(torch.softmax(scores, -1), v)  # (B,H,T,D)
    return out.permute(0, 2, 1, 3).reshape(b, t, c)


def forward(p, tokens, acts):
    """Logits (B,T,V); intermediate activations go into acts (name -> tensor) for debugging."""
    t = tokens.shape[1]
    x = F.embedding(tokens, p["wte.weight"]) + p["wpe.weight"][:t].unsqueeze(0)
    acts["embed"] = x
    for i in range(LAYERS):
        pre = f"h.{i}."
        h = F.layer_norm(x, (CHANNELS,), p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], LN_EPS)
        acts[pre + "ln_1"] = h
        h = F.linear(h, p[pre + "attn.qkv.weight"], p[pre + "attn.qkv.bias"])
        acts[pre + "qkv"] = h
        h = attention(h, HEADS)
        acts[pre + "attn"] = h
        h = F.linear(h, p[pre + "attn.proj.weight"], p[pre + "attn.proj.bias"])
        x = x + h
        acts[pre + "res_1"] = x
        h = F.layer_norm(x, (CHANNELS,), p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], LN_EPS)
        h = F.linear(h, p[pre + "mlp.fc.weight"], p[pre + "mlp.fc.bias"])
        h = F.gelu(h, approximate="tanh")
        acts[pre + "gelu"] = h
        h = F.linear(h, p[pre + "mlp.proj.weight"], p[pre + "mlp.proj.bias"])
        x = x + h
        acts[pre + "res_2"] = x
    x = F.layer_norm(x, (CHANNELS,), p["ln_f.weight"], p["ln_f.bias"], LN_EPS)
    acts["ln_f"] = x
    return F.linear(x, p["wte.weight"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures"))
    parser.add_argument("--debug", action="store_true", help="also store intermediate activations as act.<name>")
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(SEED)
    params32 = make_params(gen)
    tokens, targets = make_batch(gen)
    params = {name: v.to(torch.float64).requires_grad_(True) for name, v in params32.items()}
    acts = {}
    logits = forward(params, tokens, acts)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-1, reduction="mean")
    loss.backward()

    tensors = {}

    def put(name, value, dtype=np.float32):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        tensors[name] = np.ascontiguousarray(np.asarray(value).astype(dtype))

    for name, value in params32.items():
        put(name, value)
        put("grad." + name, params[name].grad)
    put("tokens", tokens, np.int32), put("targets", targets, np.int32)
    put("logits", logits), put("loss", loss.reshape(1))
    if args.debug:
        for name, value in acts.items():
            put("act." + name, value)
    meta = {"vocab": str(VOCAB), "context": str(CONTEXT), "layers": str(LAYERS), "heads": str(HEADS),
            "channels": str(CHANNELS), "batch": str(BATCH), "time": str(TIME), "params": str(len(params32)),
            "generator": "tools/make_gpt_fixture.py", "torch": torch.__version__}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gpt.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes, loss {loss.item():.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
