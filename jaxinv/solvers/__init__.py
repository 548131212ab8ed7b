"""Posterior samplers: each method is one module registering a `Method` (`registry.py`); its steps are
a `Solver(step, init, output)` run by `driver.run` (one lax.scan). Importing this package imports
every module in it, so a method module added here is registered without further wiring."""
import importlib as _importlib
import pkgutil as _pkgutil

from jaxinv.solvers.codps import codps_plus_solver, codps_solver
from jaxinv.solvers.ddpm import ddim_solver, ddpm_solver, sampling_xs
from jaxinv.solvers.dps import dps_solver
from jaxinv.solvers.driver import BATCH_AXIS, DivergenceError, Solver, check_finite, reverse_steps, run, step_noise
from jaxinv.solvers.registry import METHODS, Method, Sampler, register
from jaxinv.solvers.spgd import spgd_solver, spgd_xs

for _module in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BATCH_AXIS", "DivergenceError", "METHODS", "Method", "Sampler", "Solver", "check_finite", "codps_plus_solver",
           "codps_solver", "ddim_solver", "ddpm_solver", "dps_solver", "register",
           "reverse_steps", "run", "sampling_xs", "spgd_solver", "spgd_xs", "step_noise"]
