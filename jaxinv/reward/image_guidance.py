"""Reward guidance G / G_loss for pixel-space image priors (GGDM §5 and `image_generation/`).

Works with any batched ε-model `eps_fn(x, t)` (x NHWC, t integer steps (B,); an ADM model with
learned variance must be wrapped to return its first C channels) and any differentiable reward
`reward(image) -> scalar` on ONE image (H, W, C).

Two schemes:
* iterative linearised target (Algorithm 1 on images): per round g_i = ∇r(z_i), y_i = δ + ⟨g_i, z_i⟩,
  then a DDPM sample guided by G (v1) or G_loss (v2), exactly as `guidance.guided_eps`;
* fixed target (the Stable-Diffusion experiment of `gradguided_sdpipeline.py`, pixel space, no VAE):
  the linear model r̃_i(x) = ⟨g_i, x⟩ + b_i, b_i = r(z_i) − ⟨g_i, z_i⟩ from the previous round, and
  at every step ε̂ += √(1 − ᾱ_t)·strength·∇ₓₜ ½(r̃_i(x̂₀) − y*)². The original's (B,1)+(B,) broadcast
  makes that loss ½·mean_{i,j}(⟨g_j, x̂₀_j⟩ − ⟨g_j, z_j⟩ + r_i − y*)² (batch-mean reward, 1/B
  gradient); `batch_coupled=True` reproduces it, the default is the per-sample form.
Per-sample gradients come from one vjp over the batch: the network has no cross-sample operations.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class DDPMArrays(NamedTuple):
    """ᾱ at the kept steps (descending order of sampling is handled by the sampler)."""
    timesteps: jnp.ndarray   # (K,) model timesteps, increasing
    abar: jnp.ndarray        # (K,) ᾱ at those steps
    abar_prev: jnp.ndarray   # (K,) ᾱ at the previous kept step (1 for the first)


def ddpm_arrays(alphas_cumprod, timesteps=None) -> DDPMArrays:
    """From a full ᾱ table and an optional increasing subset of kept steps (respacing)."""
    abar = np.asarray(alphas_cumprod, np.float64)
    ts = np.arange(abar.shape[0]) if timesteps is None else np.asarray(timesteps)
    if np.any(np.diff(ts) <= 0):
        raise ValueError("timesteps must be strictly increasing")
    a = abar[ts]
    prev = np.concatenate([[1.0], a[:-1]])
    return DDPMArrays(jnp.asarray(ts), jnp.asarray(a, jnp.float32), jnp.asarray(prev, jnp.float32))


def _bsum(a, b):
    return jnp.sum(a * b, axis=tuple(range(1, a.ndim)))


def _col(v, x):
    return jnp.reshape(v, v.shape + (1,) * (x.ndim - v.ndim))


def guided_eps_images(eps_fn: Callable, x, t, abar, g, y, version: str = "v2", sigma: float = 0.1,
                      beta_coef: float = 1.0):
    """ε̂′ = −G√h for a batch x (B,H,W,C); G / G_loss as in `guidance.guided_eps` (σ, beta_coef)."""
    alpha, h = jnp.sqrt(abar), 1.0 - abar
    sh = jnp.sqrt(h)
    tb = jnp.full(x.shape[:1], t)
    if version == "v1":
        eps = eps_fn(x, tb)
        score = -eps / sh
        x0 = (x + h * score) / alpha
        beta = alpha / (sigma ** 2 + h * _bsum(g, g))
        G = score + _col(beta * beta_coef * (y - _bsum(x0, g)), x) * g
        return -G * sh
    if version != "v2":
        raise ValueError(f"unknown guidance version {version!r}; expected 'v1' or 'v2'")

    def lookahead(xi):
        s = -eps_fn(xi, tb) / sh
        return _bsum((xi + h * s) / alpha, g), s

    value, vjp, score = jax.vjp(lookahead, x, has_aux=True)
    grad = vjp(jnp.ones_like(value))[0]
    beta = (alpha ** 2 / 2) / (alpha ** 2 * sigma ** 2 + h * _bsum(grad, grad))
    G = score - _col(beta * beta_coef * 2 * (value - y), x) * grad
    return -G * sh


def fixed_target_eps(eps_fn: Callable, x, t, abar, g, bias, target, strength, batch_coupled: bool = False):
    """ε̂ + √(1−ᾱ)·strength·∇ₓ ½(⟨g, x̂₀⟩ + bias − y*)² (per sample, or the original's (B,B) mean)."""
    sh = jnp.sqrt(1.0 - abar)
    tb = jnp.full(x.shape[:1], t)

    def loss(xi):
        eps = eps_fn(xi, tb)
        x0 = (xi - sh * eps) / jnp.sqrt(abar)
        lin = _bsum(g, x0)
        if batch_coupled:   # bias = r_i − ⟨g_i, z_i⟩ split back into its two parts by the caller
            r, gz = bias
            out = lin[None, :] - gz[None, :] + r[:, None]
            return 0.5 * jnp.mean((out - target) ** 2), eps
        return 0.5 * jnp.sum((lin + bias - target) ** 2), eps

    grad, eps = jax.grad(loss, has_aux=True)(x)
    return eps + sh * strength * grad


def ddpm_sample(eps_with_guidance: Callable, arrays: DDPMArrays, x_T, noises, clip_denoised: bool = False):
    """Ancestral DDPM over the kept steps, last to first; `eps_with_guidance(x, t, abar)` → ε̂′.

    noises (K, *x.shape), noises[k] at the k-th step from the noisiest; none added at the last.
    `clip_denoised` clips the x̂₀ of the posterior mean to [−1, 1] (guided-diffusion's default for
    image priors; the guidance terms themselves use the unclipped Tweedie x̂₀).
    """
    K = arrays.timesteps.shape[0]

    def step(x, inp):
        t, a, ap, noise, last = inp
        eps = eps_with_guidance(x, t, a)
        beta = 1.0 - a / ap
        x0 = (x - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a)
        if clip_denoised:
            x0 = jnp.clip(x0, -1.0, 1.0)
        mean = beta * jnp.sqrt(ap) / (1 - a) * x0 + (1 - ap) * jnp.sqrt(1 - beta) / (1 - a) * x
        var = jnp.maximum(beta * (1 - ap) / (1 - a), 1e-20)
        return mean + jnp.where(last, 0.0, jnp.sqrt(var)) * noise, None

    rev = lambda a: a[::-1]
    last = jnp.arange(K)[::-1] == 0
    x, _ = jax.lax.scan(step, x_T, (rev(arrays.timesteps), rev(arrays.abar), rev(arrays.abar_prev), noises, last))
    return x


def unguided_sample(eps_fn: Callable, arrays: DDPMArrays, x_T, noises, clip_denoised: bool = False):
    """The prior's own ancestral DDPM (no reward term), with the same noise layout as the guided rounds."""
    return ddpm_sample(lambda x, t, a: eps_fn(x, jnp.full(x.shape[:1], t)), arrays, x_T, noises, clip_denoised)


def iterative_round(eps_fn, reward, arrays, z, delta, x_T, noises, version="v2", sigma=0.1, beta_coef=1.0,
                    clip_denoised: bool = False):
    """One round of the linearised-target scheme: g_i = ∇r(z_i), y_i = δ + ⟨g_i, z_i⟩, guided sample."""
    g = jax.vmap(jax.grad(reward))(z)
    y = delta + _bsum(g, z)
    return ddpm_sample(lambda x, t, a: guided_eps_images(eps_fn, x, t, a, g, y, version, sigma, beta_coef),
                       arrays, x_T, noises, clip_denoised)


def fixed_target_round(eps_fn, reward, arrays, z, target, strength, x_T, noises, batch_coupled=False,
                       first: bool = False, clip_denoised: bool = False):
    """One round of the fixed-target scheme with the linear reward model built on the previous batch z
    (round 0, `first=True`, has g = 0, bias = 0: unguided). Returns the new batch."""
    if first:
        g = jnp.zeros_like(z)
        r, gz = jnp.zeros(z.shape[:1]), jnp.zeros(z.shape[:1])
    else:
        r, g = jax.vmap(jax.value_and_grad(reward))(z)
        gz = _bsum(g, z)
    bias = (r, gz) if batch_coupled else r - gz
    return ddpm_sample(lambda x, t, a: fixed_target_eps(eps_fn, x, t, a, g, bias, target, strength, batch_coupled),
                       arrays, x_T, noises, clip_denoised)
