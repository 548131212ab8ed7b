"""DAPS replay: `sampler.DAPS.sample` (pixel, prior_solver gaussian) from a fixture's x_start and recorded
draws (`z_langevin`, `z_forward`, HMC's `z_velocity`) through jaxinv.solvers.daps."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.crosscheck.dps import load_fixture, load_model
from experiments.crosscheck.spgd import add_arguments, spgd_operator

HELP = "replay a DAPS fixture (x_start, z_langevin, z_forward[, z_velocity]) with jaxinv.solvers.daps"
RELATIVE_THRESHOLD = 1e-4   # of max|out|

__all__ = ["HELP", "add_arguments", "run"]


def run(args):
    from jaxinv.diffusion import VPPrecond
    from jaxinv.solvers.daps import daps_sigmas, daps_solver, daps_xs
    from jaxinv.solvers.driver import check_finite
    from jaxinv.solvers.driver import run as drive

    spec, arrays = load_fixture(args)
    if spec.get("method") != "DAPS":
        raise ValueError(f"{args.fixture} is not a DAPS fixture (method {spec.get('method')!r})")
    ann, ode, mc = spec["annealing_scheduler"], spec["diffusion_scheduler"], spec["mcmc_sampler"]
    if mc.get("prior_solver", "gaussian") != "gaussian" or ann.get("name", "edm") != "edm" or ode.get("name", "edm") != "edm":
        raise ValueError("DAPS replay supports the EDM schedulers with prior_solver gaussian")
    n, j = int(ann["num_steps"]), int(mc["num_steps"])
    sigmas = daps_sigmas(n, float(ann["sigma_max"]), float(ann["sigma_min"]), ann.get("timestep", "poly-7"))
    if not np.allclose(sigmas, arrays["annealing_sigma_steps"], rtol=1e-6):
        raise ValueError("the annealing sigmas differ from the fixture's `annealing_sigma_steps`")
    xs = daps_xs(n, float(ann["sigma_max"]), float(ann["sigma_min"]), int(ode["num_steps"]), float(ode["sigma_min"]),
                 float(mc["lr"]), float(mc.get("lr_min_ratio", 0.01)), ann.get("timestep", "poly-7"))
    x_start, y = np.moveaxis(arrays["x_start"], 1, -1), np.moveaxis(arrays["y"], 1, -1)   # (B, H, W, C)
    operator = spgd_operator({"operator": {"name": spec["task"], **(spec.get("operator_params") or {})}}, arrays,
                             x_start.shape[-3:])
    lang = np.moveaxis(arrays["z_langevin"], -3, -1)                 # (N, J, B, H, W, C)
    fwd = np.moveaxis(arrays["z_forward"], -3, -1)[:, None]          # (N, 1, B, H, W, C)
    vel = np.moveaxis(arrays["z_velocity"], -3, -1)[:, None] if "z_velocity" in arrays else np.zeros_like(fwd)
    z = np.moveaxis(np.concatenate([lang, fwd, vel], axis=1), 2, 0)  # (B, N, J + 2, H, W, C)
    module, params, flax_eps_model = load_model(args.checkpoint, args.model_config)

    @jax.jit
    def sample(params, x_start, y, z):
        denoiser = VPPrecond().denoiser(flax_eps_model(module, params))

        def one(x, y, z):
            solver = daps_solver(denoiser, operator, y, num_mcmc=j, tau=float(mc["tau"]),
                                 mc_algo=mc.get("mc_algo", "langevin"), momentum=float(mc.get("momentum", 0.9)))
            return drive(solver, x, {**xs, "z": z})

        return jax.vmap(one)(x_start, y, z)

    result = sample(params, jnp.asarray(x_start), jnp.asarray(y), jnp.asarray(z))
    check_finite(jax.tree.map(lambda a: a.all(axis=0), result["diagnostics"]))
    out, expected = np.asarray(result["sample"]), np.moveaxis(arrays["out"], 1, -1)
    print(f"max|out|={np.abs(expected).max():.6g}")
    return float(np.abs(out - expected).max()), RELATIVE_THRESHOLD * float(np.abs(expected).max())
