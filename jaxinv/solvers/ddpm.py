"""Unconditional ancestral DDPM and DDIM samplers on the shared driver (guided-diffusion `p_sample`, `ddim_sample`)."""
from __future__ import annotations

import jax

from jaxinv.diffusion import DiffusionSchedule, ddim_step, ddpm_step, p_mean_variance
from jaxinv.solvers.driver import Solver, reverse_steps, step_noise


def sampling_xs(schedule: DiffusionSchedule, key_or_noise, shape) -> dict:
    """Per-step inputs: respaced t (N-1 .. 0) and one noise draw z per step (row k for step k)."""
    n = schedule.num_steps
    return {"t": reverse_steps(n), "z": step_noise(key_or_noise, n, shape)}


def ddpm_solver(eps_model, schedule: DiffusionSchedule, var_type: str = "learned_range",
                clip_denoised: bool = True) -> Solver:
    """x_{t-1} = mu_theta(x_t, t) + exp(log Sigma_theta / 2) z, z dropped at t = 0 (Ho et al. Alg. 2)."""

    def step(x, xs):
        out = p_mean_variance(schedule, eps_model, x, xs["t"], var_type, clip_denoised)
        return ddpm_step(out["mean"], out["log_variance"], xs["t"], xs["z"]), {}

    return Solver(init=lambda x: x, step=step, output=lambda x: x)


def ddim_solver(eps_model, schedule: DiffusionSchedule, eta: float = 0.0, clip_denoised: bool = True) -> Solver:
    """DDIM (Song et al. eq. 12) with eta; `var_type` is irrelevant (learn_sigma channels dropped)."""

    def step(x, xs):
        out = p_mean_variance(schedule, eps_model, x, xs["t"], "fixed_small", clip_denoised)
        return ddim_step(schedule, x, xs["t"], out["pred_xstart"], xs["z"], eta), {}

    return Solver(init=lambda x: x, step=step, output=lambda x: x)


def no_network_gradient(out: dict) -> dict:
    """Network outputs as constants (CoDPS runs the UNet under `torch.no_grad`)."""
    return jax.tree_util.tree_map(jax.lax.stop_gradient, out)



