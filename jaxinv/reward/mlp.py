"""A small MLP ε-network, the CPU stand-in for the 1-D U-Net.

ε̂(x_t, t) = skip·√h_t·x_t + MLP([x_t, emb(t)]) with the sinusoidal embedding of the integer step.
The optional skip (not in the reference, which uses the U-Net) makes ε̂ ≈ x_t at t ≈ T exact by
construction: ᾱ_{T−1} = 6e-8 amplifies ε-errors of the first reverse step ≈32×.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxinv.reward.unet1d import sinusoidal_embedding


class MLPScore(nn.Module):
    hidden: Sequence[int] = (512, 512, 512)
    temb_dim: int = 64
    skip: bool = True
    sqrt_one_minus_abar: Sequence[float] | None = None   # √h_t per step, needed when skip is on

    @nn.compact
    def __call__(self, x, t):
        squeeze = x.ndim == 1
        if squeeze:
            x, t = x[None], jnp.reshape(t, (1,))
        t = jnp.broadcast_to(t, x.shape[:1])
        h = jnp.concatenate([x, sinusoidal_embedding(t, self.temb_dim)], axis=-1)
        for w in self.hidden:
            h = nn.silu(nn.Dense(w)(h))
        out = nn.Dense(x.shape[-1], kernel_init=nn.initializers.zeros)(h)
        if self.skip:
            if self.sqrt_one_minus_abar is None:
                raise ValueError("MLPScore(skip=True) needs sqrt_one_minus_abar")
            out = out + jnp.asarray(self.sqrt_one_minus_abar, x.dtype)[t][:, None] * x
        return out[0] if squeeze else out
