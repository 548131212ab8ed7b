"""Measurement noise models (DPS `guided_diffusion/measurements.py` noise classes), explicit keys.

- gaussian: y + sigma * n, n ~ N(0, I); sigma in [-1, 1] units (DPS 0.05 = 0.025 on [0, 1]).
- poisson (DPS "version 3"): u = clip((y + 1) / 2, 0, 1); u' = Poisson(255 * rate * u) / (255 * rate);
  y' = clip(2 u' - 1, -1, 1).
- clean: y.
"""
from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class CleanNoise:
    """No noise: y."""

    def sample(self, key, y):
        del key
        return y


@struct.dataclass
class GaussianNoise:
    """y + sigma * N(0, I)."""

    sigma: float = 0.05

    def sample(self, key, y):
        return y + self.sigma * jax.random.normal(key, y.shape, y.dtype)


@struct.dataclass
class PoissonNoise:
    """DPS `PoissonNoise`: Poisson counts of 255 * rate * (y + 1) / 2, mapped back to [-1, 1] and clipped."""

    rate: float = 1.0

    def sample(self, key, y):
        unit = jnp.clip((y + 1.0) / 2.0, 0.0, 1.0)
        counts = jax.random.poisson(key, unit * 255.0 * self.rate, y.shape)
        noisy = counts.astype(y.dtype) / 255.0 / self.rate
        return jnp.clip(noisy * 2.0 - 1.0, -1.0, 1.0)


NOISES = {"clean": CleanNoise, "gaussian": GaussianNoise, "poisson": PoissonNoise}


def make_noise(name: str, **params):
    """Build the noise model `name` ('clean', 'gaussian' (sigma) or 'poisson' (rate))."""
    if name not in NOISES:
        raise ValueError(f"unknown noise {name!r}; available noises: {sorted(NOISES)}")
    cls = NOISES[name]
    accepted = list(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"bad parameters for noise {name!r}: {unknown}; accepted parameters: {accepted}")
    if "sigma" in params and not params["sigma"] >= 0:
        raise ValueError(f"noise {name!r}: sigma must be >= 0, got {params['sigma']!r}")
    if "rate" in params and not params["rate"] > 0:
        raise ValueError(f"noise {name!r}: rate must be positive, got {params['rate']!r}")
    return cls(**params)


def measure(op, noise, key, x):
    """y = noise(A(x)) for one image x, with an explicit PRNG key."""
    return noise.sample(key, op.forward(x))
