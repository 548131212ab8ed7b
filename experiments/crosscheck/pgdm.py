"""PiGDM replay: RED-diff's `algos/pgdm.py` (noiseless form) from a fixture's recorded draws (`z_000` the
start, then one per step) through jaxinv.solvers.pgdm, on jaxinv's `block_average` (the code's `sr<r>`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.crosscheck.dps import add_arguments, load_fixture, load_model, nhwc

HELP = "replay a PiGDM fixture (RED-diff's pgdm; z_*) with jaxinv.solvers.pgdm and compare `out`"
THRESHOLD_REL = 1e-4   # of max|out| (random weights reach |x| ~ 200)

__all__ = ["HELP", "add_arguments", "run", "reddiff_fixture"]


def reddiff_fixture(args, method: str):
    """(spec, arrays, operator, y, pairs) of a RED-diff-code fixture on deg sr<r>."""
    from jaxinv.operators import make_operator

    spec, arrays = load_fixture(args)
    if not str(spec.get("method", "")).startswith(method):
        raise ValueError(f"{args.fixture} is not a {method} fixture (method {spec.get('method')!r})")
    deg = spec["algo"]["deg"]
    if not (deg.startswith("sr") and deg[2:].isdigit()):
        raise ValueError(f"{method} replay supports deg sr<r> (block average), got {deg!r}")
    if spec.get("batch", 1) != 1:
        raise ValueError(f"{method} replay supports batch 1 fixtures")
    channels, size = arrays["x0"].shape[1:3]
    operator = make_operator("block_average", (size, size, channels), scale=int(deg[2:]))
    out_h, out_w, _ = operator.measurement_shape
    y = np.moveaxis(arrays["y_0"].reshape(channels, out_h, out_w), 0, -1)
    seq = np.asarray(arrays["timesteps"], np.int64)
    pairs = np.stack([seq[::-1], np.concatenate([[-1], seq[:-1]])[::-1]], axis=1).astype(np.int32)
    return spec, arrays, operator, jnp.asarray(y, jnp.float32), pairs


def run(args):
    from jaxinv.solvers.ddrm import ddrm_alphas
    from jaxinv.solvers.driver import run as drive
    from jaxinv.solvers.pgdm import pgdm_solver, pgdm_start

    spec, arrays, operator, y, pairs = reddiff_fixture(args, "PiGDM")
    algo = spec["algo"]
    if algo.get("mcg") or algo.get("cond_awd"):
        raise ValueError("PiGDM replay supports mcg = cond_awd = False")
    alphas = ddrm_alphas(1000, "linear")
    z = jnp.asarray(np.stack([nhwc(arrays[f"z_{k + 1:03d}"]) for k in range(len(pairs))]))
    module, params, eps_model_of = load_model(args.checkpoint, args.model_config)

    @jax.jit
    def replay(params, z_start, z):
        solver = pgdm_solver(eps_model_of(module, params), alphas, operator, y, float(algo["sigma_y"]),
                             eta=float(algo["eta"]), weight=float(algo["grad_term_weight"]), awd=bool(algo["awd"]))
        x_T = pgdm_start(alphas, operator, y, int(pairs[0, 0]), z_start)
        return drive(solver, x_T, {"t": jnp.asarray(pairs[:, 0]), "t_next": jnp.asarray(pairs[:, 1]), "z": z})["sample"]

    out = np.asarray(replay(params, jnp.asarray(nhwc(arrays["z_000"])), z))
    expected = nhwc(arrays["out"])
    print(f"max|out|={np.abs(expected).max():.6g}")
    return float(np.abs(out - expected).max()), THRESHOLD_REL * float(np.abs(expected).max())
