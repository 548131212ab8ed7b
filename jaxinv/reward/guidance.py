"""Guidances G (`v1`) and G_loss (`v2`) and the guided DDPM sampler (GGDMOptim `diffusion.py`).

Notation: α_t = √ᾱ_t, h_t = 1 − ᾱ_t, s = −ε̂/√h_t, x̂₀ = (x_t + h_t s)/α_t (Tweedie, no clipping).
  G (v1):      G = s + c·β_t (y − gᵀx̂₀) g,             β_t = α_t/(σ² + h_t‖g‖²)
  G_loss (v2): G = s − c·β_t · 2(gᵀx̂₀ − y) ∇ₓ(gᵀx̂₀),  β_t = (α_t²/2)/(α_t²σ² + h_t‖∇ₓ(gᵀx̂₀)‖²)
(∇ through the score network; c = beta_coef; a constant `beta` replaces β_t). ε̂′ = −G√h_t feeds
the DDPM step x_{t−1} = c₁x̂₀ + c₂x_t + exp(½ log σ̃²_t)·noise (no noise at t = 0).
Everything is written for ONE sample; batches are `jax.vmap`s (each sample is its own chain).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxinv.reward.schedule import CosineSchedule

VERSIONS = ("none", "v1", "v2")


class GuidanceConfig(NamedTuple):
    version: str = "v2"          # "none" (unguided), "v1" = G, "v2" = G_loss
    sigma: float = 0.1
    beta_coef: float = 1.0
    beta: float | None = None    # constant β_t override


def _check(cfg: GuidanceConfig):
    if cfg.version not in VERSIONS:
        raise ValueError(f"unknown guidance version {cfg.version!r}; expected one of {VERSIONS}")


def guided_eps(eps_fn: Callable, params, x, t, g, y, sched: CosineSchedule, cfg: GuidanceConfig):
    """ε̂′(x_t) for one sample x (D,), its reward gradient g (D,) and target y (scalar).

    `eps_fn(params, x, t)` maps one sample (D,) and an integer step to ε̂ (D,).
    """
    _check(cfg)
    alpha = sched.sqrt_alphas_cumprod[t]
    sh = sched.sqrt_one_minus_alphas_cumprod[t]
    h = sh ** 2
    if cfg.version == "none":
        return eps_fn(params, x, t)
    if cfg.version == "v1":
        eps = eps_fn(params, x, t)
        score = -eps / sh
        beta = alpha / (cfg.sigma ** 2 + h * jnp.sum(g * g)) if not cfg.beta else jnp.asarray(cfg.beta, x.dtype)
        x0 = (x + h * score) / alpha
        G = score + beta * (y - jnp.dot(x0, g)) * g * cfg.beta_coef
        return -G * sh

    def lookahead(xi):
        e = eps_fn(params, xi, t)
        s = -e / sh
        return jnp.dot((xi + h * s) / alpha, g), s

    value, vjp, score = jax.vjp(lookahead, x, has_aux=True)
    grad = vjp(jnp.ones_like(value))[0]
    beta = ((alpha ** 2 / 2) / (alpha ** 2 * cfg.sigma ** 2 + h * jnp.sum(grad * grad))
            if cfg.beta is None else jnp.asarray(cfg.beta, x.dtype))
    G = score - beta * cfg.beta_coef * 2 * (value - y) * grad
    return -G * sh


def ddpm_step(sched: CosineSchedule, x, eps, t, noise):
    """x_{t−1} = c₁ₜ x̂₀ + c₂ₜ x_t + exp(½ log σ̃²_t) noise, x̂₀ = √(1/ᾱ)x_t − √(1/ᾱ − 1) ε̂; noise-free at t = 0."""
    x0 = sched.sqrt_recip_alphas_cumprod[t] * x - sched.sqrt_recipm1_alphas_cumprod[t] * eps
    mean = sched.posterior_mean_coef1[t] * x0 + sched.posterior_mean_coef2[t] * x
    std = jnp.exp(0.5 * sched.posterior_log_variance_clipped[t])
    return mean + jnp.where(t > 0, std, 0.0) * noise


def guided_sample(eps_fn: Callable, params, sched: CosineSchedule, cfg: GuidanceConfig,
                  x_T, noises, g, y):
    """One guided DDPM chain (one sample) as a `lax.scan` over t = T−1, …, 0.

    x_T (D,) is the start and noises (T, D) the per-step draws, noises[k] used at t = T−1−k
    (noises[T−1] at t = 0 is ignored). Returns x₀ (D,).
    """
    T = sched.num_steps
    if noises.shape[0] != T:
        raise ValueError(f"noises must have {T} steps on axis 0, got shape {noises.shape}")

    def step(x, inputs):
        t, noise = inputs
        eps = guided_eps(eps_fn, params, x, t, g, y, sched, cfg)
        return ddpm_step(sched, x, eps, t, noise), None

    ts = jnp.arange(T - 1, -1, -1)
    x0, _ = jax.lax.scan(step, x_T, (ts, noises))
    return x0


def guided_sample_batch(eps_fn, params, sched, cfg, x_T, noises, g, y):
    """`guided_sample` vmapped over a batch: x_T (B, D), noises (T, B, D), g (B, D), y (B,)."""
    return jax.vmap(lambda a, n, gi, yi: guided_sample(eps_fn, params, sched, cfg, a, n, gi, yi),
                    in_axes=(0, 1, 0, 0))(x_T, noises, g, y)
