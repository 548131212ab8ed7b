"""SPGD replay: the original `RUN.sample` (EDM annealing, SPGD warm-up, Euler step) from a fixture's x_start."""
from __future__ import annotations

import jax
import numpy as np

from experiments.crosscheck.dps import build_operator, load_fixture, load_model, nhwc

HELP = "replay an SPGD fixture (x_start, y) with jaxinv.solvers.spgd and compare `out` (relative to max|out|)"
RELATIVE_THRESHOLD = 1e-4

# SPGD/DAPS `forward_operator` names -> (registry name, how the fixture's params map onto it)
_SPGD_NAMES = {"down_sampling": "super_resolution", "high_dynamic_range": "hdr"}


def add_arguments(parser) -> None:
    parser.add_argument("--fixture", required=True, help="npz with x_start, y, out (NCHW), sigma_steps, factor_steps")
    parser.add_argument("--spec", required=True, help="the fixture's JSON (operator, annealing, spgd, variant)")
    parser.add_argument("--checkpoint", required=True, help="guided-diffusion state dict (.pt) the fixture used")
    parser.add_argument("--model-config", required=True, help="its create_model kwargs (JSON) or preset name")


def spgd_operator(spec: dict, arrays, image_shape):
    """The SPGD/DAPS operator of a fixture (DPS Resizer/blurs with reflect padding; phase retrieval on [0,1])."""
    from jaxinv.operators import make_operator

    op = spec["operator"]
    name = op["name"] if isinstance(op, dict) else op
    params = ({k: v for k, v in op.items() if k != "name"} if isinstance(op, dict)
              else dict(spec.get("operator_params") or {}))
    if name == "phase_retrieval":
        return make_operator("phase_retrieval", image_shape, oversample=float(params.get("oversample", 2.0)),
                             resolution=int(params.get("resolution", image_shape[0])), input_range="[0,1]")
    if name in ("high_dynamic_range", "hdr"):
        return make_operator("hdr", image_shape, **{k: v for k, v in params.items() if k == "scale"})
    if name == "nonlinear_blur":
        return make_operator("nonlinear_blur", image_shape, **{k: v for k, v in params.items() if k != "opt_yml_path"})
    spec = dict(spec, operator={"name": _SPGD_NAMES.get(name, name), **params}, conditioning="spgd")
    return build_operator(spec, arrays, image_shape)


def replay_spgd(args, variant: str | None = None):
    """Replay one fixture; returns (max_abs_err, max|out|)."""
    from jaxinv.diffusion import VPPrecond, annealing_schedule
    from jaxinv.solvers import run
    from jaxinv.solvers.driver import check_finite
    from jaxinv.solvers.spgd import spgd_solver, spgd_xs

    spec, arrays = load_fixture(args)
    ann = dict(spec["annealing"])
    ann["sigma_final"] = 0  # RUN._check forces it
    schedule = annealing_schedule(**ann)
    for key in ("sigma_steps", "factor_steps"):
        if key in arrays and not np.allclose(getattr(schedule, key), arrays[key], rtol=1e-10, atol=1e-10):
            raise ValueError(f"annealing {key} differs from the fixture's")
    x_start = nhwc(arrays["x_start"])
    y = nhwc(arrays["y"])
    operator = spgd_operator(spec, arrays, x_start.shape)
    module, params, flax_eps_model = load_model(args.checkpoint, args.model_config)
    cfg = spec["spgd"]
    variant = variant or spec.get("variant", "code")
    xs = spgd_xs(schedule, float(cfg["lr"]), float(cfg.get("lr_min_ratio", 0.01)))

    @jax.jit
    def sample(params, x_start, y):
        denoiser = VPPrecond().denoiser(flax_eps_model(module, params))
        solver = spgd_solver(denoiser, operator, y, num_inner=int(cfg["num_steps"]),
                             beta=float(cfg.get("beta", 0.9)), variant=variant)
        return run(solver, x_start, xs)

    result = sample(params, x_start, y)
    check_finite(result["diagnostics"])
    ref = nhwc(arrays["out"])
    return float(np.abs(np.asarray(result["sample"]) - ref).max()), float(np.abs(ref).max())


def run(args):
    err, scale = replay_spgd(args)
    return err, RELATIVE_THRESHOLD * scale
