"""Per-shape profile of the ADM UNet's 3x3 convolutions on the CPU, JAX algorithms against torch.

    python -m experiments.bench.conv_shapes [--case ffhq_10m@64] [--batch 4] [--repeats 15]

Records every `Conv3x3` call of one UNet forward (shape, stride), then times each distinct shape
alone: the forward and the forward + input VJP (what DPS backpropagates) of `lax.conv` ("direct"),
Winograd F(2x2, 3x3) (`jaxinv.models.winograd`) and the matmul of 9 shifted copies ("shifted"),
against torch's `conv2d` on NCHW (deepinv's layout), interleaved in one process. Prints a markdown
table (median ms per call and count x time per forward) and one JSON line; the UNet's choice per
shape (`adm_layers.conv_algorithm`) is printed beside the measurements.
"""
from __future__ import annotations

import argparse
import collections
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench.jax_side import adm_config, parse_case
from experiments.bench.timing import interleaved
from jaxinv.models import winograd
from jaxinv.models.adm import ADMUNet
from jaxinv.models.adm_layers import Conv3x3, conv_algorithm, direct_conv3x3, shifted_conv3x3

ALGORITHMS = ("direct", "winograd", "shifted")


def conv_calls(case: str, batch: int) -> collections.Counter:
    """(N, H, W, C_in, C_out, stride) of every Conv3x3 call in one forward, with its count."""
    layout, size = parse_case(case)
    module = ADMUNet(adm_config(layout, size))
    x, t = jnp.zeros((batch, size, size, 3)), jnp.zeros((batch,), jnp.int32)
    calls = collections.Counter()

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, Conv3x3) and context.method_name == "__call__":
            h = args[0]
            calls[(*h.shape, context.module.features, context.module.stride)] += 1
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, t))
    return calls


def jax_calls(algorithm: str, x, kernel, cotangent, stride: int):
    conv = {"direct": lambda x, k: direct_conv3x3(x, k, stride), "winograd": winograd.conv3x3,
            "shifted": shifted_conv3x3}[algorithm]
    forward = jax.jit(conv)

    @jax.jit
    def forward_vjp(x, k, ct):
        y, pull = jax.vjp(lambda x: conv(x, k), x)
        return y, pull(ct)[0]

    return (lambda: jax.block_until_ready(forward(x, kernel)),
            lambda: jax.block_until_ready(forward_vjp(x, kernel, cotangent)))


def torch_calls(x, kernel, cotangent, stride: int):
    import torch

    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    tk = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    tct = torch.from_numpy(np.ascontiguousarray(cotangent.transpose(0, 3, 1, 2)))

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tk, stride=stride, padding=1)

    def forward_vjp():
        xx = tx.detach().requires_grad_(True)
        y = torch.nn.functional.conv2d(xx, tk, stride=stride, padding=1)
        return torch.autograd.grad(y, xx, tct)[0]

    return forward, forward_vjp


def profile(case: str, batch: int, repeats: int, with_torch: bool = True) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for (n, h, w, cin, cout, stride), count in sorted(conv_calls(case, batch).items(), key=lambda kv: -kv[0][1]):
        x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
        kernel = (rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32)
        ct = rng.standard_normal((n, h // stride, w // stride, cout)).astype(np.float32)
        algorithms = ["direct"]
        if stride == 1:
            algorithms += ["shifted"] + (["winograd"] if h % 2 == 0 and w % 2 == 0 else [])
        calls = {}
        for algorithm in algorithms:
            f, fb = jax_calls(algorithm, jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(ct), stride)
            calls[f"{algorithm}_f"], calls[f"{algorithm}_fb"] = f, fb
        if with_torch:
            calls["torch_f"], calls["torch_fb"] = torch_calls(x, kernel, ct, stride)
        for call in calls.values():
            call()
        medians = {k: v["median_s"] for k, v in interleaved(calls, repeats, memory=False).items()}
        rows.append({"shape": [n, h, w, cin, cout], "stride": stride, "count": count,
                     "chosen": conv_algorithm(h, w, cin, cout, stride), **medians})
    return rows


def markdown(rows: list[dict]) -> str:
    def ms(row, key):
        return f"{1e3 * row[key]:.2f}" if key in row else "–"

    lines = ["| N×H×W×Cin→Cout, stride | calls | chosen | fwd ms: direct / winograd / shifted / torch "
             "| fwd+VJP ms: direct / winograd / shifted / torch |", "|---|---|---|---|---|"]
    for r in rows:
        n, h, w, cin, cout = r["shape"]
        fwd = " / ".join(ms(r, f"{a}_f") for a in (*ALGORITHMS, "torch"))
        fb = " / ".join(ms(r, f"{a}_fb") for a in (*ALGORITHMS, "torch"))
        lines.append(f"| {n}×{h}×{w}×{cin}→{cout}, {r['stride']} | {r['count']} | {r['chosen']} | {fwd} | {fb} |")
    totals = {}
    for suffix in ("f", "fb"):
        for a in (*ALGORITHMS, "torch", "chosen"):
            if a == "torch" and "torch_f" not in rows[0]:
                continue
            totals[f"{a}_{suffix}"] = sum(
                r["count"] * r.get(f"{r['chosen'] if a == 'chosen' else a}_{suffix}", r[f"direct_{suffix}"]) for r in rows)
    lines.append("")
    lines.append("Per UNet forward (count × median; direct where an algorithm does not apply), ms: "
                 + ", ".join(f"{k} {1e3 * v:.1f}" for k, v in totals.items()))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="ffhq_10m@64")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    rows = profile(args.case, args.batch, args.repeats, with_torch=not args.no_torch)
    print(markdown(rows))
    print(json.dumps({"case": args.case, "batch": args.batch, "rows": rows}))


if __name__ == "__main__":
    main()
