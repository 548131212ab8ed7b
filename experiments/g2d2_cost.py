"""Time and memory of G2D2 on this machine: `python -m experiments.g2d2_cost {tiny,ithq_inner}`.

tiny:       the whole sampler (prior passes + K inner RAdam iterations through the decoder per
            outer step) on the fixture models in fixtures/vq (8x8 latents, 16x16 images, 32 codes),
            Resizer x2; time per outer step after compilation, the compiled executable's
            `memory_analysis()` and the process's peak RSS.
ithq_inner: ONE inner iteration (Gumbel relaxation, softmax over 4096 codes, soft codebook mixture
            of a 32x32 grid, ITHQ VQ-VAE decoder to 256x256, Resizer x4 norm + KL, gradient, RAdam
            step) with randomly initialised float32 ITHQ decoder weights (real arrays).
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import cli


def _memory(compiled) -> dict:
    m = compiled.memory_analysis()
    if m is None:
        return {}
    gib = 2.0**30
    return {f"{k}_gib": getattr(m, f"{k}_size_in_bytes") / gib
            for k in ("argument", "output", "temp", "generated_code") if hasattr(m, f"{k}_size_in_bytes")}


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2.0**20  # kB on Linux


def _timed(compiled, args, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        out.append(time.perf_counter() - t0)
    return out


def tiny(fixtures: str, num_steps: int, num_inner: int, repeats: int) -> dict:
    from convert.torch_io import load_state_dict
    from convert.vq_transformer import convert_vq_transformer
    from convert.vqvae import convert_vqvae
    from jaxinv.diffusion.vq_scheduler import make_vq_schedule
    from jaxinv.models.vq_transformer import VQTransformer, VQTransformerConfig
    from jaxinv.models.vqvae import VQModel
    from jaxinv.operators import make_operator
    from jaxinv.solvers.g2d2 import G2D2Settings, make_g2d2_sampler, vq_transformer_prior, vqvae_decoders
    from jaxinv.solvers.g2d2_inner import norm_likelihood

    d = os.path.join(fixtures, "vq")
    vq_cfg = json.load(open(os.path.join(d, "vqvae_config.json")))
    tr_cfg = json.load(open(os.path.join(d, "transformer_config.json")))
    vq, tr = VQModel.from_diffusers(vq_cfg), VQTransformer(VQTransformerConfig.from_diffusers(tr_cfg))
    vq_params = convert_vqvae(load_state_dict(os.path.join(d, "vqvae.pt")), vq_cfg)
    tr_params = convert_vq_transformer(load_state_dict(os.path.join(d, "transformer.pt")), tr_cfg)
    op = make_operator("super_resolution", (16, 16, 3), scale=2)
    settings = G2D2Settings(num_steps=num_steps, num_inner=num_inner)
    schedule = make_vq_schedule(33)  # host arrays: built outside the trace

    def run(tr_params, vq_params, y, key, cond):
        decode_weights, decode_tokens = vqvae_decoders(vq, vq_params, (8, 8))
        sample = make_g2d2_sampler(vq_transformer_prior(tr, tr_params, 5.0), decode_weights, decode_tokens,
                                   lambda y: norm_likelihood(op, y), schedule, settings, 64)
        return sample(y, key, cond)[0]

    rng = np.random.default_rng(0)
    args = (tr_params, vq_params, jnp.asarray(rng.normal(size=(8, 8, 3)), jnp.float32), jax.random.PRNGKey(0),
            tuple(jnp.asarray(rng.normal(size=(2, 77, 24)), jnp.float32)))
    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    times = _timed(compiled, args, repeats)
    return {"what": "tiny sampler (fixtures/vq: 8x8 latents, 32 codes, 16x16 images, Resizer x2)",
            "num_steps": num_steps, "num_inner": num_inner, "compile_s": compile_s,
            "run_s": times, "per_outer_step_s": min(times) / num_steps,
            "per_inner_iteration_s (upper bound: step time / K)": min(times) / num_steps / num_inner,
            "compiled_memory": _memory(compiled), "peak_rss_gib": _peak_rss_gib()}


def ithq_inner(repeats: int) -> dict:
    from jaxinv.models.vqvae import ITHQ_VQVAE, VQModel
    from jaxinv.operators import make_operator
    from jaxinv.solvers.g2d2 import vqvae_decoders
    from jaxinv.solvers.g2d2_inner import norm_likelihood, optimize_logits_kl

    vq = VQModel(ITHQ_VQVAE)
    # parameter shapes do not depend on the image size: initialise on a small input
    small = jnp.zeros((1, 2 * ITHQ_VQVAE.downsampling_factor, 2 * ITHQ_VQVAE.downsampling_factor, 3), jnp.float32)
    params = jax.jit(lambda k: vq.init(k, small))(jax.random.PRNGKey(0))["params"]
    n_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    op = make_operator("super_resolution", (256, 256, 3), scale=4)
    classes, tokens = ITHQ_VQVAE.num_vq_embeddings, 32 * 32

    def one_iteration(params, y, prior, init, key):
        decode_weights, _ = vqvae_decoders(vq, params, (32, 32))
        phi, trace = optimize_logits_kl(decode_weights, norm_likelihood(op, y), prior, init, None, 10.0, 3e-4,
                                        keys=key[None])
        return phi, trace.total_loss

    rng = np.random.default_rng(0)
    prior = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(classes, tokens)), jnp.float32), axis=0)
    args = (params, jnp.asarray(rng.normal(size=(64, 64, 3)), jnp.float32), prior, prior, jax.random.PRNGKey(1))
    t0 = time.perf_counter()
    compiled = jax.jit(one_iteration).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    times = _timed(compiled, args, repeats)
    return {"what": "ONE G2D2 inner iteration at ITHQ size (4096 codes x 32x32 tokens -> 256x256, float32, "
                    "random decoder weights, Resizer x4)", "vqvae_params_m": n_params / 1e6,
            "compile_s": compile_s, "run_s": times, "per_inner_iteration_s": min(times),
            "compiled_memory": _memory(compiled), "peak_rss_gib": _peak_rss_gib()}


def g2d2_cost(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.g2d2_cost", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("tiny", "ithq_inner"))
    parser.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures"))
    parser.add_argument("--num_steps", type=int, default=4)
    parser.add_argument("--num_inner", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    out = tiny(args.fixtures, args.num_steps, args.num_inner, args.repeats) if args.what == "tiny" \
        else ithq_inner(args.repeats)
    out.update(devices=[str(d) for d in jax.devices()], jax=jax.__version__, cpu_count=os.cpu_count())
    print(json.dumps(out, indent=2))
    return 0


def main(argv=None) -> int:
    return cli.main(g2d2_cost, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
