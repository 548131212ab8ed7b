"""How far images are from a diffusion prior, and the naive pixel-space reward ascent to compare with.

* re-noised ε-MSE: x_t = √ᾱ_t x + √(1−ᾱ_t) n, E‖ε_θ(x_t, t) − n‖² / (HWC) at a few t — the prior's
  own denoising loss on the images (lower = the prior recognises them as its own);
* high-frequency energy: mean of squared horizontal and vertical neighbour differences;
* saturation: fraction of pixel values outside [−1, 1].
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def renoised_eps_mse(eps_fn: Callable, alphas_cumprod, x, timesteps, key):
    """(len(timesteps),) ε-MSE over the batch x (N, H, W, C); the same noise n for every t (paired)."""
    noise = jax.random.normal(key, x.shape, x.dtype)
    abar = jnp.asarray(alphas_cumprod, jnp.float32)

    def at(t):
        a = abar[t]
        xt = jnp.sqrt(a) * x + jnp.sqrt(1.0 - a) * noise
        return jnp.mean((eps_fn(xt, jnp.full(x.shape[:1], t)) - noise) ** 2)

    return jnp.stack([at(int(t)) for t in timesteps])


def high_frequency_energy(x):
    """Mean over the batch of the squared neighbour differences (H and W directions, averaged)."""
    dh = jnp.mean((x[:, 1:] - x[:, :-1]) ** 2)
    dw = jnp.mean((x[:, :, 1:] - x[:, :, :-1]) ** 2)
    return 0.5 * (dh + dw)


def saturation(x):
    return jnp.mean((jnp.abs(x) > 1.0).astype(jnp.float32))


def pixel_gradient_ascent(reward: Callable, x0, lr: float, steps: int):
    """x_{k+1} = x_k + lr ∇r(x_k) per image (no prior); returns every iterate (steps+1, N, ...) and
    the batch-mean reward of each."""
    grad = jax.vmap(jax.grad(reward))

    def step(x, _):
        x = x + lr * grad(x)
        return x, x

    _, xs = jax.lax.scan(step, x0, None, length=steps)
    xs = jnp.concatenate([x0[None], xs])
    return xs, jax.vmap(lambda b: jnp.mean(jax.vmap(reward)(b)))(xs)
