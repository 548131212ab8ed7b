"""PSNR and SSIM in JAX, numerically equal to scikit-image's defaults.

Images are single (H, W, C) arrays; batch with `jax.vmap`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def psnr(image_true: jax.Array, image_test: jax.Array, data_range: float = 1.0) -> jax.Array:
    """Peak signal-to-noise ratio, PSNR = 10 log10(data_range² / MSE) (skimage `peak_signal_noise_ratio`)."""
    _check_pair(image_true, image_test)
    mse = jnp.mean(jnp.square(image_true.astype(jnp.float32) - image_test.astype(jnp.float32)))
    return 10.0 * jnp.log10(data_range**2 / mse)


def ssim(
    image_true: jax.Array,
    image_test: jax.Array,
    data_range: float = 1.0,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> jax.Array:
    """Mean structural similarity (Wang et al. 2004) with skimage's defaults.

    SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1 = (k1 L)², C2 = (k2 L)²,
    local statistics from a `win_size`² uniform window with the unbiased covariance N/(N−1),
    averaged over channels and over the pixels whose window lies inside the image — exactly
    `structural_similarity(channel_axis=-1, data_range=L)`. Because skimage crops the
    (win_size−1)/2 border before averaging, its reflect padding never enters the mean, so valid
    box sums suffice.
    """
    _check_pair(image_true, image_test)
    h, w = image_true.shape[:2]
    if win_size % 2 != 1 or win_size > min(h, w):
        raise ValueError(f"win_size must be odd and at most the image side {min(h, w)}, got {win_size}")
    x = image_true.astype(jnp.float32)
    y = image_test.astype(jnp.float32)
    n = win_size * win_size
    mean = lambda a: _box_sum(a, win_size) / n
    ux, uy = mean(x), mean(y)
    cov_norm = n / (n - 1.0)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return jnp.mean(s)


def _box_sum(a: jax.Array, size: int) -> jax.Array:
    """Sum over every `size`×`size` window fully inside the image (per channel), 'VALID'."""
    a = a[None].transpose(0, 3, 1, 2)  # (1, C, H, W) so each channel is its own reduce window
    out = jax.lax.reduce_window(a, 0.0, jax.lax.add, (1, 1, size, size), (1, 1, 1, 1), "VALID")
    return out[0].transpose(1, 2, 0)


def _check_pair(a: jax.Array, b: jax.Array) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim != 3:
        raise ValueError(f"expected one (H, W, C) image, got shape {a.shape}; vmap over a batch")
