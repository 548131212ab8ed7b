"""Classical baselines for the linear tasks: bicubic upsampling, the pseudo-inverse, Wiener
deconvolution and mean fill. Each maps (operator, y) of ONE measurement to an image in [-1, 1].
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.operators import spectral
from jaxinv.solvers.registry import Method, register


def bicubic_upsample(operator, y):
    """y resized to the image shape with Keys' bicubic (a = -0.5), half-pixel centres."""
    return jnp.clip(jax.image.resize(y, operator.image_shape, "bicubic"), -1.0, 1.0)


def pseudo_inverse(operator, y):
    """x = A^+ y = A^T (A A^T)^{-1} y, the minimum-norm least-squares solution."""
    return jnp.clip(spectral.pseudo_inverse(operator, y, "the pseudo_inverse baseline"), -1.0, 1.0)


def wiener_deconvolution(operator, y, noise_sigma: float):
    """The linear MMSE estimate under a white Gaussian image prior x ~ N(m, s_x^2 I) (Wiener filter):

        x = m + A^T (A A^T + (sigma^2 / s_x^2) I)^{-1} (y - A m),

    with m the per-channel mean of y and s_x^2 = var(y) - sigma^2 estimated from y alone (for a
    blur, in Fourier: X = conj(K) Y / (|K|^2 + sigma^2 / s_x^2)).
    """
    mean = jnp.mean(y, axis=(0, 1), keepdims=True)
    signal_var = jnp.maximum(jnp.var(y) - noise_sigma**2, 1e-6)
    m = jnp.broadcast_to(mean, operator.image_shape).astype(y.dtype)
    residual = y - operator.forward(m)
    x = m + operator.adjoint(spectral.gram_solve(operator, residual, noise_sigma**2 / signal_var, 1.0,
                                                 "the wiener baseline"))
    return jnp.clip(x, -1.0, 1.0)


def mean_fill(operator, y):
    """Observed pixels kept, missing ones (mask 0) set to the per-channel mean of the observed ones."""
    mask = operator.mask.astype(y.dtype)
    mean = jnp.sum(y * mask, axis=(0, 1)) / jnp.maximum(jnp.sum(mask), 1.0)
    return jnp.clip(mask * y + (1.0 - mask) * mean, -1.0, 1.0)


def _wiener(config):
    if config.noise.name != "gaussian":
        raise ValueError(f"the wiener baseline assumes Gaussian noise, not {config.noise.name!r}")
    sigma = float(config.noise.params["sigma"])
    return lambda operator, y: wiener_deconvolution(operator, y, sigma)


register(Method("bicubic", "bicubic", estimate=lambda config: bicubic_upsample))
register(Method("pseudo_inverse", "pseudo-inverse", estimate=lambda config: pseudo_inverse))
register(Method("wiener", "Wiener", estimate=_wiener))
register(Method("mean_fill", "mean fill", estimate=lambda config: mean_fill))
