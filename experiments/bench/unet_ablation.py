"""Where the UNet's forward + input VJP goes outside the convolutions, JAX against torch.

    python -m experiments.bench.unet_ablation [--case ffhq_10m@64] [--batch 4] [--repeats 3]

Times the UNet forward + input VJP (batch 4, t = 500, one random cotangent) as built and with every
GroupNorm and SiLU replaced by the identity, in both frameworks on the same converted weights,
interleaved in one process. The difference is what normalisation and activation cost inside the
network (fused with their neighbours as each framework fuses them), which isolated timings of the
layers cannot show. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import contextlib
import json
from unittest import mock

import flax.linen as nn
import jax
import numpy as np

from experiments.bench import jax_side, torch_peer
from experiments.bench.timing import interleaved
from jaxinv.models import adm_layers

VARIANTS = ("full", "no_norm_silu")


def _jax_patches(variant: str):
    stack = contextlib.ExitStack()
    if variant != "full":
        stack.enter_context(mock.patch.object(adm_layers.GroupNorm32, "__call__", lambda self, x, *args: x))
        stack.enter_context(mock.patch.object(nn, "silu", lambda x: x))
    return stack


def jax_call(module, params, x, t, cotangent, variant: str):
    def vjp(params, x, t, cotangent):
        with _jax_patches(variant):   # active while jit traces
            _, pull = jax.vjp(lambda x: module.apply({"params": params}, x, t), x)
        return pull(cotangent)[0]

    fn = jax.jit(vjp)
    jax.block_until_ready(fn(params, x, t, cotangent))
    return lambda: jax.block_until_ready(fn(params, x, t, cotangent))


def torch_call(net, x, t, cotangent, variant: str):
    import torch

    replaced = {}
    for name, child in net.named_modules():
        if variant != "full" and isinstance(child, (torch.nn.GroupNorm, torch.nn.SiLU)):
            replaced[name] = child
    vjp = torch_peer.unet_vjp_fn(net)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ct = torch.from_numpy(np.ascontiguousarray(cotangent.transpose(0, 3, 1, 2)))
    tt = torch.from_numpy(t)

    def run():
        originals = {}
        for name in replaced:
            parent, _, leaf = name.rpartition(".")
            owner = net.get_submodule(parent) if parent else net
            originals[name] = (owner, leaf, getattr(owner, leaf))
            setattr(owner, leaf, torch.nn.Identity())
        try:
            return vjp(xt, tt, ct)
        finally:
            for owner, leaf, module in originals.values():
                setattr(owner, leaf, module)

    run()
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="ffhq_10m@64")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    layout, size = jax_side.parse_case(args.case)
    net = torch_peer.build_diffunet(layout)
    module, params = jax_side.module_and_params(layout, size, torch_peer.numpy_state_dict(net))
    x, t = jax_side.random_input(args.batch, size)
    t = np.full_like(np.asarray(t), 500)
    cotangent = np.random.default_rng(1).standard_normal((*x.shape[:3], module.config.out_channels)).astype(np.float32)
    calls = {}
    for variant in VARIANTS:
        calls[f"jax/{variant}"] = jax_call(module, params, jax.numpy.asarray(x), jax.numpy.asarray(t),
                                           jax.numpy.asarray(cotangent), variant)
        calls[f"torch/{variant}"] = torch_call(net, x, t, cotangent, variant)
    medians = {k: v["median_s"] for k, v in interleaved(calls, args.repeats, memory=False).items()}
    out = {"case": args.case, "batch": args.batch, "forward_vjp_s": medians}
    for fw in ("jax", "torch"):
        out[f"{fw}_norm_silu_s"] = medians[f"{fw}/full"] - medians[f"{fw}/no_norm_silu"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
