"""DDNM replay: `ddnm_diffusion` from a fixture's x_T and recorded noise (`z_000`, ... one per step pair),
through jaxinv.solvers.ddnm on jaxinv's own operator (the original's `sr_averagepooling` is `block_average`).

DDNM+ recordings are refused: on `deblur_gauss` the original's `Deblurring` pairs singular values with
the wrong coordinates (its A^+ tiles them over the channels, its Lambda takes the unsorted, untruncated
grid in sorted positions) and every DDNM+ operator applies V to raw pixels of eps in its noise term;
docs/baselines.md has the details and what a replay of jaxinv's DDNM+ on that recording measures.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.crosscheck.dps import add_arguments, load_fixture, load_model, nhwc

HELP = "replay a DDNM fixture (x_T, z_*) with jaxinv.solvers.ddnm and compare `out`"
THRESHOLD_REL = 1e-4   # of max|out| (random weights reach |x| of 80-220)

__all__ = ["HELP", "add_arguments", "run"]


def fixture_operator(spec: dict, image_shape):
    from jaxinv.operators import make_operator

    deg = spec["deg"]
    if not deg.startswith("sr_averagepooling"):
        raise ValueError(f"DDNM replay supports deg sr_averagepooling<r> (DDNM, sigma_y = 0), got {deg!r}")
    return make_operator("block_average", image_shape, scale=int(deg[len("sr_averagepooling"):]))


def run(args):
    from jaxinv.solvers.ddnm import ddnm_solver
    from jaxinv.solvers.ddrm import ddrm_alphas
    from jaxinv.solvers.driver import run as drive

    spec, arrays = load_fixture(args)
    if spec.get("method") == "DDNM+":
        raise ValueError(f"{args.fixture}: DDNM+ recordings cannot be replayed (the original's operators pair "
                         f"singular values and noise differently from the paper; see docs/baselines.md)")
    if spec.get("method") != "DDNM":
        raise ValueError(f"{args.fixture} is not a DDNM fixture (method {spec.get('method')!r})")
    if spec.get("batch", 1) != 1:
        raise ValueError("DDNM replay supports batch 1 fixtures")
    channels, size = arrays["x_T"].shape[1:3]
    operator = fixture_operator(spec, (size, size, channels))
    out_h, out_w, _ = operator.measurement_shape
    y = np.moveaxis(arrays["y"].reshape(channels, out_h, out_w), 0, -1)
    skip = int(spec["skip"])
    times = np.asarray(arrays["times"], np.int64)
    pairs = np.asarray([(i * skip, max(j * skip, -1)) for i, j in zip(times[:-1], times[1:])], np.int32)
    z = np.stack([nhwc(arrays[f"z_{k:03d}"]) for k in range(len(pairs))])
    alphas = ddrm_alphas(1000, "linear")
    module, params, eps_model_of = load_model(args.checkpoint, args.model_config)

    @jax.jit
    def replay(params, y, x_T, z):
        solver = ddnm_solver(eps_model_of(module, params), alphas, operator, y, float(spec["sigma_y"]),
                             eta=float(spec["eta"]))
        xs = {"t": jnp.asarray(pairs[:, 0]), "t_next": jnp.asarray(pairs[:, 1]), "z": z}
        return drive(solver, x_T, xs)["sample"]

    out = np.asarray(replay(params, jnp.asarray(y), jnp.asarray(nhwc(arrays["x_T"])), jnp.asarray(z)))
    expected = nhwc(arrays["out"])
    print(f"max|out|={np.abs(expected).max():.6g}")
    return float(np.abs(out - expected).max()), THRESHOLD_REL * float(np.abs(expected).max())
