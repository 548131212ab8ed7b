"""One denoiser interface for every prior.

Two call signatures, both on ONE image x of shape (H, W, C):
- `eps_model(x, t) -> eps` or `[eps, v]` (2C channels): a DDPM-family network at (original,
  possibly fractional) timestep t, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps;
- `edm_denoiser(x, sigma) -> D(x; sigma) = E[x0 | x0 + sigma n = x]`.
Closed-form priors are written as EDM denoisers and turned into eps models with
`eps_model_from_denoiser`; networks become EDM denoisers with `VPPrecond.denoiser`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion.schedules import named_beta_schedule


def flax_eps_model(module, params, remat: bool = False):
    """eps_model(x, t) = module.apply({'params': params}, x[None], t[None])[0] (NHWC, t as float).

    `remat=True` wraps the network in `jax.checkpoint` (recompute activations in the backward pass).
    """

    def apply(x, t):
        t = jnp.broadcast_to(jnp.asarray(t, jnp.float32), (1,))
        return module.apply({"params": params}, x[None], t)[0]

    return jax.checkpoint(apply) if remat else apply


class Prior(NamedTuple):
    """A diffusion prior in both interfaces, for the methods to take what they need:
    `eps(x, t)` (DDPM timesteps) and `denoiser(x, sigma)` (EDM)."""
    eps: Callable
    denoiser: Callable


def network_prior(module, params) -> Prior:
    """A DDPM-family network (ADM UNet) as a `Prior`: its eps model, and the EDM denoiser of VP preconditioning."""
    from jaxinv.diffusion.edm import VPPrecond

    eps = flax_eps_model(module, params)
    return Prior(eps, VPPrecond().denoiser(eps))


def denoiser_prior(denoiser, alphas_cumprod) -> Prior:
    """A closed-form denoiser D(x; sigma) as a `Prior` (its eps model indexes `alphas_cumprod` by integer t)."""
    return Prior(eps_model_from_denoiser(denoiser, alphas_cumprod), denoiser)


def base_alphas_cumprod(num_diffusion_steps: int = 1000, noise_schedule: str = "linear") -> np.ndarray:
    """abar of the original (not respaced) process, float64."""
    return np.cumprod(1.0 - named_beta_schedule(noise_schedule, num_diffusion_steps))


def eps_model_from_denoiser(denoiser, alphas_cumprod):
    """eps(x_t, t) = (x_t / sqrt(abar_t) - D(x_t / sqrt(abar_t); sigma_t)) / sigma_t, sigma_t = sqrt((1-abar_t)/abar_t).

    `t` indexes `alphas_cumprod` (the original process; integer timesteps).
    """
    abar_table = jnp.asarray(alphas_cumprod, jnp.float32)

    def eps_model(x, t):
        abar = abar_table[jnp.asarray(t).astype(jnp.int32)]
        sigma = jnp.sqrt((1.0 - abar) / abar)
        x_ve = x / jnp.sqrt(abar)
        return (x_ve - denoiser(x_ve, sigma)) / sigma

    return eps_model


def gaussian_denoiser(mean, var):
    """Prior x0 ~ N(mean, diag(var)): D(x; sigma) = mean + var / (var + sigma^2) (x - mean)."""
    mean = jnp.asarray(mean, jnp.float32)
    var = jnp.asarray(var, jnp.float32)

    def denoiser(x, sigma):
        return mean + var / (var + sigma ** 2) * (x - mean)

    return denoiser


def gaussian_mixture_denoiser(weights, means, variances):
    """Prior sum_k w_k N(m_k, diag(c_k)) (means/variances stacked on axis 0, image-shaped after it).

    D(x; sigma) = sum_k r_k(x) (m_k + c_k/(c_k + sigma^2) (x - m_k)),
    r_k proportional to w_k N(x; m_k, c_k + sigma^2).
    """
    logw = jnp.log(jnp.asarray(weights, jnp.float32))
    means = jnp.asarray(means, jnp.float32)
    variances = jnp.asarray(variances, jnp.float32)
    if means.shape != variances.shape or means.shape[0] != logw.shape[0]:
        raise ValueError("gaussian mixture: weights (K,), means and variances (K, ...) must agree in K and shape")

    def denoiser(x, sigma):
        total = variances + sigma ** 2
        axes = tuple(range(1, means.ndim))
        loglik = -0.5 * jnp.sum((x - means) ** 2 / total + jnp.log(total), axis=axes)
        resp = jax.nn.softmax(logw + loglik)
        comp = means + variances / total * (x - means)
        return jnp.tensordot(resp, comp, axes=1)

    return denoiser
