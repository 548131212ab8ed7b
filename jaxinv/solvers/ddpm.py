"""Unconditional ancestral DDPM and DDIM samplers on the shared driver (guided-diffusion `p_sample`,
`ddim_sample`), and what every DDPM-family method shares: its schedule, start and step count."""
from __future__ import annotations

import jax

from jaxinv.diffusion import DiffusionSchedule, ddim_step, ddpm_step, make_schedule, p_mean_variance
from jaxinv.solvers.driver import Solver, reverse_steps, step_noise
from jaxinv.solvers.registry import Method, Sampler, register


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

    return Solver(step)


def ddim_solver(eps_model, schedule: DiffusionSchedule, eta: float = 0.0, clip_denoised: bool = True) -> Solver:
    """DDIM (Song et al. eq. 12) with eta; `var_type` is irrelevant (learn_sigma channels dropped)."""

    def step(x, xs):
        out = p_mean_variance(schedule, eps_model, x, xs["t"], "fixed_small", clip_denoised)
        return ddim_step(schedule, x, xs["t"], out["pred_xstart"], xs["z"], eta), {}

    return Solver(step)


def ddpm_schedule(config) -> DiffusionSchedule:
    """The respaced process of `config.diffusion` (guided-diffusion `create_gaussian_diffusion`)."""
    d = config.diffusion
    return make_schedule(int(d.steps), d.noise_schedule, str(d.respacing))


def gaussian_start(schedule: DiffusionSchedule, shape):
    """`start(key, hparams)`: x_T ~ N(0, I), then the respaced steps (t and one noise draw each)."""

    def start(key, hparams):
        key_start, key_steps = jax.random.split(key)
        return jax.random.normal(key_start, shape), sampling_xs(schedule, key_steps, shape)

    return start


def respaced_steps(config) -> int:
    return ddpm_schedule(config).num_steps


def set_ddpm_steps(config, num_steps: int) -> None:
    config.diffusion.respacing = str(int(num_steps))


def set_ddim_steps(config, num_steps: int) -> None:
    config.diffusion.respacing = f"ddim{int(num_steps)}"


def check_learned_variance(config, model_config) -> None:
    """`diffusion.var_type='learned_range'` needs a network with learned variance channels."""
    if config.diffusion.var_type == "learned_range" and not bool(getattr(model_config, "learn_sigma", True)):
        raise ValueError("diffusion.var_type 'learned_range' needs a model with learn_sigma=True; "
                         "use 'fixed_small' or 'fixed_large'")


def _ddpm_sampler(config, shape) -> Sampler:
    schedule = ddpm_schedule(config)
    d = config.diffusion

    def solver(prior, operator, y, hparams):
        return ddpm_solver(prior.eps, schedule, var_type=d.var_type, clip_denoised=bool(d.clip_denoised))

    return Sampler(gaussian_start(schedule, shape), solver)


register(Method("ddpm", "DDPM (unconditional)", make_sampler=_ddpm_sampler, steps=respaced_steps,
                set_steps=set_ddpm_steps, check=check_learned_variance))
