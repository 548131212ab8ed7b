"""Unconditional DDPM / DDIM sampling with an ADM UNet: `python -m experiments.sample [--checkpoint DIR]`.

Without `--checkpoint` this is the smoke run of the README: a tiny randomly initialised UNet, so
the samples are structured noise. With a directory written by `python -m convert.adm` it samples
the converted model (e.g. `ffhq_10m.pt`). Writes a grid PNG and a summary into a fresh run directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import cli
from jaxinv.diffusion import flax_eps_model, make_schedule
from jaxinv.io import fresh_run_dir, save_grid
from jaxinv.models.adm import ADMConfig, ADMUNet, load_adm
from jaxinv.solvers import ddim_solver, ddpm_solver, run, sampling_xs
from jaxinv.solvers.driver import DivergenceError

SMOKE_MODEL = ADMConfig(
    image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1, 2, 2), learn_sigma=True,
    attention_resolutions=(8,), num_head_channels=16, use_scale_shift_norm=True, resblock_updown=True,
)


def sample(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="directory written by `python -m convert.adm` (default: tiny random UNet)")
    parser.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm")
    parser.add_argument("--steps", default="50", help="respacing: a count such as 50, or 'ddim50'")
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--output-root", default="runs")
    args = parser.parse_args(argv)

    key_init, key_sample = jax.random.split(jax.random.PRNGKey(args.seed))
    if args.checkpoint:
        module, params = load_adm(args.checkpoint, dtype=args.dtype)
    else:
        module = ADMUNet(SMOKE_MODEL, dtype=args.dtype)
        size = SMOKE_MODEL.image_size
        params = module.init(key_init, jnp.zeros((1, size, size, 3)), jnp.zeros((1,)))["params"]
    config = module.config
    shape = (config.image_size, config.image_size, 3)
    schedule = make_schedule(1000, "linear", args.steps)
    eps_model = flax_eps_model(module, params)
    if args.sampler == "ddpm":
        var_type = "learned_range" if config.learn_sigma else "fixed_large"
        solver = ddpm_solver(eps_model, schedule, var_type=var_type)
    else:
        solver = ddim_solver(eps_model, schedule, eta=0.0)

    def sample_one(key):
        k_start, k_steps = jax.random.split(key)
        x_T = jax.random.normal(k_start, shape)
        return run(solver, x_T, sampling_xs(schedule, k_steps, shape))["sample"]

    sample_batch = jax.jit(jax.vmap(sample_one))
    keys = jax.random.split(key_sample, args.num_samples)
    start = time.perf_counter()
    compiled = sample_batch.lower(keys).compile()
    compile_s = time.perf_counter() - start
    print(f"compiled {args.sampler} sampler ({schedule.num_steps} steps, batch {args.num_samples}) in {compile_s:.1f} s")
    start = time.perf_counter()
    samples = np.asarray(jax.block_until_ready(compiled(keys)))
    sample_s = time.perf_counter() - start
    if not np.all(np.isfinite(samples)):
        raise DivergenceError("the sampler produced NaN or inf; check the checkpoint and the dtype")

    out_dir = fresh_run_dir(args.output_root, "sample")
    save_grid(os.path.join(out_dir, "samples.png"), samples)
    summary = {
        "model": args.checkpoint or "tiny random ADM UNet (smoke run)",
        "model_config": config.to_dict(),
        "sampler": args.sampler, "steps": schedule.num_steps, "num_samples": args.num_samples, "seed": args.seed,
        "compile_s": compile_s, "sample_s": sample_s, "images_per_s": args.num_samples / sample_s,
        "devices": [str(d) for d in jax.devices()],
    }
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"sampled {args.num_samples} images in {sample_s:.2f} s ({args.num_samples / sample_s:.2f} images/s)")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    return cli.main(sample, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
