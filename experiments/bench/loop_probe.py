"""CPU micro-benchmark behind docs/benchmarks.md: one gradient step of 8 conv3x3 layers (64 channels,
64x64, batch 4) at the top level of a jit, inside lax.scan / fori_loop, and in a fully unrolled scan.

    XLA_FLAGS=<flags> python -m experiments.bench.loop_probe

Prints seconds per step (medians, interleaved). The loop forms run the same HLO in a while loop.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench.timing import interleaved

STEPS = 4


def main():
    rng = np.random.default_rng(0)
    ws = [jnp.asarray(rng.standard_normal((3, 3, 64, 64)).astype(np.float32) * 0.05) for _ in range(8)]
    x = jnp.asarray(rng.standard_normal((4, 64, 64, 64)).astype(np.float32))

    def net(x, ws):
        for w in ws:
            x = jax.nn.silu(jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                                         dimension_numbers=("NHWC", "HWIO", "NHWC")))
        return jnp.sum(x ** 2)

    def step(x, ws):
        return x - 1e-4 * jax.grad(net)(x, ws)

    fns = {
        "top_level": jax.jit(step),
        "scan": jax.jit(lambda x, ws: jax.lax.scan(lambda c, _: (step(c, ws), None), x, None, length=STEPS)[0]),
        "fori_loop": jax.jit(lambda x, ws: jax.lax.fori_loop(0, STEPS, lambda i, c: step(c, ws), x)),
        "scan_unrolled": jax.jit(lambda x, ws: jax.lax.scan(lambda c, _: (step(c, ws), None), x, None,
                                                            length=STEPS, unroll=True)[0]),
    }
    calls = {k: (lambda f=f: jax.block_until_ready(f(x, ws))) for k, f in fns.items()}
    for call in calls.values():
        call()
    t = interleaved(calls, int(os.environ.get("REPS", "5")), memory=False)
    per_step = {k: v["median_s"] / (1 if k == "top_level" else STEPS) for k, v in t.items()}
    print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""), "per_step_s": per_step}))


if __name__ == "__main__":
    main()
