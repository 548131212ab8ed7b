"""CoDPS / CoDPS+ replay: the original sampling loop from a fixture's x_T and recorded noise."""
from __future__ import annotations

from experiments.crosscheck.dps import THRESHOLD, replay
from experiments.crosscheck.dps import add_arguments as _dps_arguments

HELP = "replay a CoDPS/CoDPS+ fixture (x_T, recorded noise) with jaxinv.solvers.codps and compare `out`"


def add_arguments(parser) -> None:
    _dps_arguments(parser)


def run(args):
    from jaxinv.solvers import codps_plus_solver, codps_solver

    def make(eps_model, schedule, operator, y, spec):
        method = spec.get("conditioning")
        p = spec["params"]
        common = dict(noise_sigma=float(spec["noise_sigma"]), scale=float(p["scale"]), t_div=float(p["t_div"]),
                      div_ratio=float(p["div_ratio"]), inv_var=float(p["inv_var"]),
                      clip_denoised=bool(spec.get("clip_denoised", True)))
        if p.get("use_A_AT", True):
            likelihood = "gram"
        else:
            likelihood = "masked" if hasattr(operator, "mask") else "identity"
        if method == "CoDPS":
            if spec["sampler"] != "ddpm":
                raise ValueError("CoDPS fixtures use the DDPM sampler")
            return codps_solver(eps_model, schedule, operator, y, likelihood=likelihood,
                                var_type=spec.get("model_var_type", "learned_range"), **common)
        if method == "CoDPS+":
            if spec["sampler"] != "ddim":
                raise ValueError("CoDPS+ fixtures use the DDIM sampler")
            eta = spec.get("eta")
            return codps_plus_solver(eps_model, schedule, operator, y, likelihood=likelihood,
                                     eta=1.0 if eta is None else float(eta), **common)
        raise ValueError(f"not a CoDPS fixture: conditioning {method!r}")

    return replay(args, make), THRESHOLD
