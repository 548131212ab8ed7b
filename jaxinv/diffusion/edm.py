"""EDM view of a VP (DDPM) network and the annealing sigma schedules of DAPS/SPGD.

`VPPrecond` follows EDM `training/networks.py` as used by DAPS/SPGD `model/precond.py`:
sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1), and D(x; sigma) = x - sigma F(c_in x, c_noise)
with c_in = 1/sqrt(1 + sigma^2), c_noise = (M - 1) sigma^{-1}(sigma) (a fractional timestep).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class VPPrecond:
    """VP preconditioning constants (EDM defaults used by DAPS/SPGD)."""

    beta_d: float = struct.field(pytree_node=False, default=19.9)
    beta_min: float = struct.field(pytree_node=False, default=0.1)
    M: int = struct.field(pytree_node=False, default=1000)

    def sigma(self, t):
        """sigma(t) = sqrt(exp(beta_d t^2/2 + beta_min t) - 1)."""
        t = jnp.asarray(t, jnp.float32)
        return jnp.sqrt(jnp.exp(0.5 * self.beta_d * t ** 2 + self.beta_min * t) - 1.0)

    def sigma_inv(self, sigma):
        """t(sigma) = (sqrt(beta_min^2 + 2 beta_d log(1 + sigma^2)) - beta_min) / beta_d."""
        sigma = jnp.asarray(sigma, jnp.float32)
        return (jnp.sqrt(self.beta_min ** 2 + 2.0 * self.beta_d * jnp.log1p(sigma ** 2)) - self.beta_min) / self.beta_d

    def c_noise(self, sigma):
        """The network's (fractional) timestep (M - 1) t(sigma)."""
        return (self.M - 1) * self.sigma_inv(sigma)

    def denoiser(self, eps_model):
        """D(x, sigma) = x - sigma eps_model(x / sqrt(1 + sigma^2), c_noise(sigma))[..., :C] (no clamp).

        The learn_sigma variance channels are dropped.
        """

        def edm_denoiser(x, sigma):
            sigma = jnp.asarray(sigma, jnp.float32)
            c_in = 1.0 / jnp.sqrt(sigma ** 2 + 1.0)
            out = eps_model(c_in * x, self.c_noise(sigma))
            return x - sigma * out[..., : x.shape[-1]]

        return edm_denoiser


def poly_time_steps(num_steps: int, sigma_max: float, sigma_min: float, rho: float = 7.0) -> np.ndarray:
    """(sigma_max^{1/rho} + r (sigma_min^{1/rho} - sigma_max^{1/rho}))^rho, r = linspace(0, 1, N) (EDM / 'poly-rho')."""
    r = np.linspace(0, 1, num_steps)
    return np.array([(sigma_max ** (1 / rho) + ri * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho for ri in r])


def log_time_steps(num_steps: int, sigma_max: float, sigma_min: float) -> np.ndarray:
    """sigma_max^2 (sigma_min^2 / sigma_max^2)^r, r = linspace(0, 1, N) (DAPS 'log')."""
    r = np.linspace(0, 1, num_steps)
    return np.array([sigma_max ** 2 * (sigma_min ** 2 / sigma_max ** 2) ** ri for ri in r])


@struct.dataclass
class AnnealingSchedule:
    """DAPS/SPGD `Scheduler` arrays: sigma_steps (N+1), time_steps (N+1), factor_steps (N).

    factor_i = max(2 sigma(t_i) sigma'(t_i) (t_i - t_{i+1}), 0).
    """

    sigma_steps: np.ndarray
    time_steps: np.ndarray
    factor_steps: np.ndarray

    @property
    def num_steps(self) -> int:
        return int(len(self.factor_steps))


def annealing_schedule(num_steps: int = 10, sigma_max: float = 100.0, sigma_min: float = 0.01,
                       sigma_final: float | None = None, schedule: str = "linear",
                       timestep: str = "poly-7") -> AnnealingSchedule:
    """DAPS/SPGD `sampler.py::Scheduler` in float64 (schedule 'linear': sigma = t, 'sqrt': sigma = sqrt(t))."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if sigma_final is None:
        sigma_final = sigma_min
    if schedule == "linear":
        sigma_fn, dsigma_fn, sigma_inv = (lambda t: t), (lambda t: 1.0), (lambda s: s)
    elif schedule == "sqrt":
        sigma_fn, dsigma_fn, sigma_inv = np.sqrt, (lambda t: 1 / 2 / np.sqrt(t)), (lambda s: s ** 2)
    else:
        raise ValueError(f"unknown sigma schedule {schedule!r}; expected 'linear' or 'sqrt'")
    if timestep == "log":
        time_steps = log_time_steps(num_steps, sigma_max, sigma_min)
    elif timestep.startswith("poly-"):
        time_steps = poly_time_steps(num_steps, sigma_max, sigma_min, int(timestep.split("-")[1]))
    else:
        raise ValueError(f"unknown timestep rule {timestep!r}; expected 'log' or 'poly-<p>'")
    time_steps = np.append(time_steps, sigma_inv(sigma_final)).astype(np.float64)
    sigma_steps = np.array([sigma_fn(t) for t in time_steps], np.float64)
    factor = np.array([2 * sigma_fn(time_steps[i]) * dsigma_fn(time_steps[i]) * (time_steps[i] - time_steps[i + 1])
                       for i in range(num_steps)], np.float64)
    return AnnealingSchedule(sigma_steps=sigma_steps, time_steps=time_steps, factor_steps=np.maximum(factor, 0.0))
