"""RED-diff replay: `algos/reddiff.py` from a fixture's recorded draws (per step `noise_x0`, then `noise_xt`)
through jaxinv.solvers.reddiff (optax Adam), on jaxinv's `block_average` (the code's `sr<r>`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.crosscheck.dps import add_arguments, load_model, nhwc
from experiments.crosscheck.pgdm import reddiff_fixture

HELP = "replay a RED-diff fixture (z_*) with jaxinv.solvers.reddiff and compare `out` (the optimised mu)"
THRESHOLD_REL = 1e-4   # of max|out|

__all__ = ["HELP", "add_arguments", "run"]


def run(args):
    from jaxinv.solvers.ddrm import ddrm_alphas
    from jaxinv.solvers.driver import run as drive
    from jaxinv.solvers.reddiff import reddiff_solver

    spec, arrays, operator, y, pairs = reddiff_fixture(args, "RED-diff")
    algo = spec["algo"]
    if algo.get("cond_awd") or not algo.get("awd", True):
        raise ValueError("RED-diff replay supports awd = True, cond_awd = False")
    z = np.stack([[nhwc(arrays[f"z_{2 * k:03d}"]), nhwc(arrays[f"z_{2 * k + 1:03d}"])] for k in range(len(pairs))])
    module, params, eps_model_of = load_model(args.checkpoint, args.model_config)

    @jax.jit
    def replay(params, z):
        solver = reddiff_solver(eps_model_of(module, params), ddrm_alphas(1000, "linear"), operator, y,
                                lr=float(algo["lr"]), weight=float(algo["grad_term_weight"]),
                                obs_weight=float(algo["obs_weight"]), weighting=algo["denoise_term_weight"],
                                sigma_x0=float(algo["sigma_x0"]))
        return drive(solver, jnp.zeros(operator.image_shape), {"t": jnp.asarray(pairs[:, 0]), "z": z})["sample"]

    out = np.asarray(replay(params, jnp.asarray(z)))
    expected = nhwc(arrays["out"])
    print(f"max|out|={np.abs(expected).max():.6g}")
    return float(np.abs(out - expected).max()), THRESHOLD_REL * float(np.abs(expected).max())
