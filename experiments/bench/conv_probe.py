"""CPU micro-benchmark behind docs/benchmarks.md: 8 conv3x3 + SiLU layers, 64 channels, 64x64, batch 4.

    XLA_FLAGS=<flags> LAYOUT=NHWC|NCHW python -m experiments.bench.conv_probe

Times the forward and the forward + input gradient in JAX and in torch (oneDNN), interleaved in
one process, and prints one JSON line (medians in seconds). Every XLA flag needs its own process.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import torch

from experiments.bench.timing import interleaved


def main():
    batch, channels, size, layers = 4, 64, 64, 8
    layout = os.environ.get("LAYOUT", "NHWC")
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((3, 3, channels, channels)).astype(np.float32) * 0.05 for _ in range(layers)]
    x = rng.standard_normal((batch, size, size, channels)).astype(np.float32)
    nhwc = layout == "NHWC"
    dn = ("NHWC", "HWIO", "NHWC") if nhwc else ("NCHW", "OIHW", "NCHW")
    jws = [jnp.asarray(w if nhwc else w.transpose(3, 2, 0, 1)) for w in ws]
    jx = jnp.asarray(x if nhwc else x.transpose(0, 3, 1, 2))

    def net(x, ws):
        for w in ws:
            x = jax.nn.silu(jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=dn))
        return jnp.sum(x ** 2)

    fwd, grad = jax.jit(net), jax.jit(jax.grad(net))
    tws = [torch.tensor(w.transpose(3, 2, 0, 1)) for w in ws]
    tx = torch.tensor(x.transpose(0, 3, 1, 2))

    def torch_net(h):
        for w in tws:
            h = torch.nn.functional.silu(torch.nn.functional.conv2d(h, w, padding=1))
        return (h ** 2).sum()

    def torch_grad():
        xx = tx.clone().requires_grad_(True)
        return torch.autograd.grad(torch_net(xx), xx)[0]

    def torch_fwd():
        with torch.no_grad():
            return torch_net(tx)

    calls = {"jax_fb": lambda: jax.block_until_ready(grad(jx, jws)), "torch_fb": torch_grad,
             "jax_f": lambda: jax.block_until_ready(fwd(jx, jws)), "torch_f": torch_fwd}
    for call in calls.values():
        call()
    t = {k: v["median_s"] for k, v in interleaved(calls, int(os.environ.get("REPS", "7")), memory=False).items()}
    print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""), "layout": layout, **t,
                      "ratio_fb": t["jax_fb"] / t["torch_fb"], "ratio_f": t["jax_f"] / t["torch_f"]}))


if __name__ == "__main__":
    main()
