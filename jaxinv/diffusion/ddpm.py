"""DDPM / DDIM reverse steps on ONE image (guided-diffusion `p_mean_variance`, `p_sample`, `ddim_sample`).

`t` is the respaced step index (0 = last sampling step); the network sees `schedule.timestep_map[t]`
(guided-diffusion `_WrappedModel`, `rescale_timesteps=False`). A network is an `eps_model(x, t)`
returning eps (C channels) or eps and the variance interpolation v (2C channels, learn_sigma).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.diffusion.schedules import VARIANCE_TYPES, DiffusionSchedule


def q_sample(schedule: DiffusionSchedule, x0, t, noise):
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
    abar = schedule.alphas_cumprod[t]
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * noise


def predict_x0_from_eps(schedule: DiffusionSchedule, x, t, eps, clip=False):
    """x0_hat = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps, optionally clamped to [-1, 1].

    `clip` is a bool, or a function `(x0_hat, t) -> x0_hat` that replaces the clamp (a replay's
    clamp that follows a recording at near ties, experiments/crosscheck/dps.py).
    """
    x0 = schedule.sqrt_recip_alphas_cumprod[t] * x - schedule.sqrt_recipm1_alphas_cumprod[t] * eps
    if callable(clip):
        return clip(x0, t)
    return jnp.clip(x0, -1.0, 1.0) if clip else x0


def predict_eps_from_x0(schedule: DiffusionSchedule, x, t, x0):
    """eps = (sqrt(1/abar_t) x_t - x0) / sqrt(1/abar_t - 1)."""
    return (schedule.sqrt_recip_alphas_cumprod[t] * x - x0) / schedule.sqrt_recipm1_alphas_cumprod[t]


def q_posterior_mean(schedule: DiffusionSchedule, x0, x, t):
    """mu~_t(x_t, x_0) = coef1_t x_0 + coef2_t x_t (Ho et al. eq. 7)."""
    return schedule.posterior_mean_coef1[t] * x0 + schedule.posterior_mean_coef2[t] * x


def model_log_variance(schedule: DiffusionSchedule, t, var_values=None, var_type: str = "learned_range"):
    """log Sigma_theta(x_t, t) for guided-diffusion's ModelVarType.

    learned_range: frac = (v + 1)/2, log var = frac log beta_t + (1 - frac) log beta~_t (clipped);
    learned: v itself; fixed_small: log beta~_t (clipped); fixed_large: log of [beta~_1, beta_1..].
    """
    if var_type not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance type {var_type!r}; expected one of {VARIANCE_TYPES}")
    if var_type in ("learned_range", "learned") and var_values is None:
        raise ValueError(f"variance type {var_type!r} needs a network with 2C output channels (learn_sigma)")
    if var_type == "learned":
        return var_values
    if var_type == "learned_range":
        frac = (var_values + 1.0) / 2.0
        return frac * schedule.log_betas[t] + (1.0 - frac) * schedule.posterior_log_variance_clipped[t]
    if var_type == "fixed_small":
        return schedule.posterior_log_variance_clipped[t]
    return schedule.fixed_large_log_variance[t]


def split_model_output(out, channels: int):
    """(eps, v) of a learn_sigma network (2C channels, eps first), or (out, None)."""
    if out.shape[-1] == 2 * channels:
        return out[..., :channels], out[..., channels:]
    if out.shape[-1] != channels:
        raise ValueError(f"network output has {out.shape[-1]} channels; expected {channels} or {2 * channels}")
    return out, None


def p_mean_variance(schedule: DiffusionSchedule, eps_model, x, t, var_type: str = "learned_range",
                    clip_denoised=True):
    """One network call: dict(mean, log_variance, pred_xstart, eps) of p_theta(x_{t-1} | x_t).

    pred_xstart = clip(x0_hat) when `clip_denoised` (or its function, `predict_x0_from_eps`);
    mean = mu~_t(x_t, pred_xstart).
    """
    out = eps_model(x, schedule.timestep_map[t].astype(jnp.float32))
    eps, var_values = split_model_output(out, x.shape[-1])
    x0 = predict_x0_from_eps(schedule, x, t, eps, clip=clip_denoised)
    return {
        "mean": q_posterior_mean(schedule, x0, x, t),
        "log_variance": model_log_variance(schedule, t, var_values, var_type),
        "pred_xstart": x0,
        "eps": eps,
    }


def ddpm_step(mean, log_variance, t, noise):
    """Ancestral step x_{t-1} = mean + exp(log_var / 2) z, with no noise at t == 0."""
    return mean + jnp.where(t != 0, 1.0, 0.0) * jnp.exp(0.5 * log_variance) * noise


def ddim_step(schedule: DiffusionSchedule, x, t, pred_xstart, noise, eta: float = 0.0):
    """DDIM (Song et al. eq. 12) with eps recomputed from the (clamped) pred_xstart.

    sigma = eta sqrt((1 - abar_prev)/(1 - abar)) sqrt(1 - abar/abar_prev);
    x_{t-1} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z (z dropped at t == 0).
    """
    eps = predict_eps_from_x0(schedule, x, t, pred_xstart)
    abar = schedule.alphas_cumprod[t]
    abar_prev = schedule.alphas_cumprod_prev[t]
    sigma = eta * jnp.sqrt((1.0 - abar_prev) / (1.0 - abar)) * jnp.sqrt(1.0 - abar / abar_prev)
    mean = pred_xstart * jnp.sqrt(abar_prev) + jnp.sqrt(1.0 - abar_prev - sigma ** 2) * eps
    return mean + jnp.where(t != 0, 1.0, 0.0) * sigma * noise


def no_network_gradient(out: dict) -> dict:
    """Network outputs as constants (CoDPS runs the UNet under `torch.no_grad`)."""
    return jax.tree_util.tree_map(jax.lax.stop_gradient, out)
