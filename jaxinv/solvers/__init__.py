"""Posterior samplers: each is a `Solver(init, step, output)` run by `driver.run` (one lax.scan)."""
from jaxinv.solvers.codps import codps_plus_solver, codps_solver
from jaxinv.solvers.ddpm import ddim_solver, ddpm_solver, no_network_gradient, sampling_xs
from jaxinv.solvers.dps import dps_solver
from jaxinv.solvers.driver import BATCH_AXIS, Solver, reverse_steps, run, step_noise
from jaxinv.solvers.spgd import check_finite, spgd_solver, spgd_xs

__all__ = ["BATCH_AXIS", "Solver", "check_finite", "codps_plus_solver", "codps_solver", "ddim_solver",
           "ddpm_solver", "dps_solver", "no_network_gradient", "reverse_steps", "run", "sampling_xs",
           "spgd_solver", "spgd_xs", "step_noise"]
