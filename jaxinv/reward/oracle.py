"""The exact ε of the linear-latent Gaussian, used as a score "network".

x₀ = Aᵀz, z ~ N(0, I_d), so x₀ ~ N(0, P), P = AᵀA (a projector). With x_t = √ᾱ x₀ + √h ε,
h = 1 − ᾱ, Cov(x_t) = ᾱP + h I and E[ε | x_t] = √h Cov(x_t)⁻¹ x_t. On range(P) the eigenvalue is
ᾱ + h = 1, off it h, hence ε*(x_t) = √h P x_t + (I − P) x_t / √h. Its ε-MSE at step t is
tr(I − h Cov⁻¹)/D = (d/D)·ᾱ_t, so the Bayes bound of the training loss is (d/D)·mean_t ᾱ_t.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def oracle_params(A) -> dict:
    """The oracle's only "parameter": the projector P = AᵀA (float32)."""
    A = np.asarray(A, np.float64)
    return {"P": jnp.asarray(A.T @ A, jnp.float32)}


def oracle_eps(params, x, t, sched):
    """ε*(x_t, t) = √h_t P x_t + (I − P) x_t / √h_t for x of shape (..., D), integer t."""
    sh = sched.sqrt_one_minus_alphas_cumprod[t]
    sh = jnp.reshape(sh, jnp.shape(sh) + (1,) * (x.ndim - jnp.ndim(sh)))
    px = x @ params["P"]
    return sh * px + (x - px) / sh


def bayes_eps_mse(A, sched) -> float:
    """(d/D)·mean_t ᾱ_t: the smallest ε-MSE any network can reach on linear-latent data."""
    d, D = np.shape(A)
    return float(d / D * np.mean(np.asarray(sched.alphas_cumprod, np.float64)))
