"""Diffusion Posterior Sampling (Chung et al., ICLR 2023; DPS2022/diffusion-posterior-sampling).

Per step (code, `p_sample_loop` + `PosteriorSampling`):
  out = p_theta(x_t): x0_hat = clip(sqrt(1/abar) x_t - sqrt(1/abar - 1) eps, -1, 1), learned-range variance
  x'_{t-1} = mu(x0_hat, x_t) + exp(log_var/2) z            (z dropped at t = 0)
  x_{t-1}  = x'_{t-1} - scale * grad_{x_t} ||y - A(x0_hat)||   (norm NOT squared; backprop through the network)
The output is x_{-1} = x0_hat(x_0) - scale * grad (the code's return value, not the clamped x0_hat).

Switches:
- `step_rule="code"` (default: the released code, which produced the paper's tables) or `"paper"`:
  Algorithm 1, x -= zeta_i grad ||r||^2 with zeta_i = scale / ||r|| (scale = zeta'); note the code's
  `scale` equals 2 zeta'.
- `noise_model="poisson"`: with `step_rule="code"` the code's Poisson loss ||r|| * mean(1/|y|) in place
  of ||r||; with `step_rule="paper"` the paper's weighted norm ||r||^2_Lambda, Lambda_jj = 1/(2 |y_j|)
  (section 3.2), stepped by zeta' / ||r||_Lambda.
- `batch_norm=True`: the code's norm over the whole batch residual (couples samples, DPS issue #12);
  needs `jax.vmap(..., axis_name=BATCH_AXIS)`. Default: per-sample norms.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.diffusion import DiffusionSchedule, ddpm_step, p_mean_variance
from jaxinv.solvers.ddpm import (check_learned_variance, ddpm_schedule, gaussian_start, respaced_steps,
                                 set_ddpm_steps)
from jaxinv.solvers.driver import BATCH_AXIS, Solver
from jaxinv.solvers.registry import Method, Sampler, register

STEP_RULES = ("code", "paper")
NOISE_MODELS = ("gaussian", "poisson")


def dps_solver(eps_model, schedule: DiffusionSchedule, operator, y, scale: float = 1.0,
               var_type: str = "learned_range", clip_denoised: bool = True, step_rule: str = "code",
               noise_model: str = "gaussian", batch_norm: bool = False) -> Solver:
    """DPS on one sample; `operator.forward` acts on one (H, W, C) image, `y` its measurement."""
    if step_rule not in STEP_RULES:
        raise ValueError(f"unknown DPS step_rule {step_rule!r}; expected one of {STEP_RULES}")
    if noise_model not in NOISE_MODELS:
        raise ValueError(f"unknown DPS noise_model {noise_model!r}; expected one of {NOISE_MODELS}")
    if batch_norm and (step_rule != "code" or noise_model != "gaussian"):
        raise ValueError("batch_norm reproduces the code's Gaussian-noise norm only (step_rule='code')")

    def squared_residual(x, t, z):
        out = p_mean_variance(schedule, eps_model, x, t, var_type, clip_denoised)
        x_prev = ddpm_step(out["mean"], out["log_variance"], t, z)
        r = y - operator.forward(out["pred_xstart"])
        if step_rule == "paper" and noise_model == "poisson":
            return jnp.sum(r ** 2 / (2.0 * jnp.abs(y))), jax.lax.stop_gradient(x_prev)
        return jnp.sum(r ** 2), jax.lax.stop_gradient(x_prev)

    def step(x, xs):
        t, z = xs["t"], xs["z"]
        if step_rule == "paper":
            (sq, x_prev), g = jax.value_and_grad(squared_residual, has_aux=True)(x, t, z)
            norm = jnp.sqrt(sq)
            return x_prev - scale / norm * g, {"residual_norm": norm}
        if batch_norm:
            (sq, x_prev), g = jax.value_and_grad(squared_residual, has_aux=True)(x, t, z)
            norm = jnp.sqrt(jax.lax.psum(sq, BATCH_AXIS))
            return x_prev - scale * g / (2.0 * norm), {"residual_norm": jnp.sqrt(sq)}

        def loss(x):
            sq, x_prev = squared_residual(x, t, z)
            norm = jnp.sqrt(sq)
            value = norm * jnp.mean(1.0 / jnp.abs(y)) if noise_model == "poisson" else norm
            return value, (x_prev, norm)

        g, (x_prev, norm) = jax.grad(loss, has_aux=True)(x)
        return x_prev - scale * g, {"residual_norm": norm}

    return Solver(step)


def make_sampler(config, shape) -> Sampler:
    """x_T ~ N(0, I), then the respaced DDPM steps of `config.diffusion` with DPS guidance."""
    schedule = ddpm_schedule(config)
    s, d = config.solver, config.diffusion

    def solver(prior, operator, y, hparams):
        return dps_solver(prior.eps, schedule, operator, y, scale=hparams.get("scale", float(s.scale)),
                          var_type=d.var_type, clip_denoised=bool(d.clip_denoised), step_rule=s.step_rule,
                          noise_model="poisson" if config.noise.name == "poisson" else "gaussian",
                          batch_norm=bool(s.batch_norm))

    return Sampler(gaussian_start(schedule, shape), solver)


METHOD = register(Method(
    "dps", "DPS",
    fields={"scale": (1.0, "guidance step size (dps, codps, codps_plus)"),
            "step_rule": ("code", 'dps: "code" (unsquared norm, the released code) | "paper" (Algorithm 1)'),
            "batch_norm": (False, "dps: the code's norm over the whole batch (DPS issue #12); compatibility only")},
    traced=("scale",), make_sampler=make_sampler, steps=respaced_steps, set_steps=set_ddpm_steps,
    network_gradient=True, check=check_learned_variance))
