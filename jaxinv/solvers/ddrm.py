"""DDRM: denoising diffusion restoration models (Kawar et al., NeurIPS 2022; bahjat-kawar/ddrm
`functions/denoising.py:efficient_generalized_steps`).

DDRM runs DDIM in the coordinates of the SVD A = U S V^T (`operator.svd()`): with x_bar = V^T x,
y_bar = U^T y, s the singular values, sigma_t = sqrt(1 - abar_t) / sqrt(abar_t), x0 = the network's
(unclipped) prediction, e = V^T eps and z ~ N(0, I), each coordinate of x_bar_{t'} is (paper Eq. 7-8):

  missing (no measurement, or s sigma_t' = sigma_y):
      x0_bar + sqrt(1 - eta^2) sigma_t' e + eta sigma_t' z
  less noisy than y (s sigma_t' < sigma_y):
      x0_bar + sqrt(1 - eta^2) sigma_t' (y_bar - s x0_bar) / sigma_y + eta sigma_t' z
  noisier than y (s sigma_t' > sigma_y):
      eta_b y_bar / s + (1 - eta_b) x0_bar + sqrt(sigma_t'^2 - eta_b^2 sigma_y^2 / s^2) z

and x_{t'} = sqrt(abar_t') V x_bar_{t'}. The start is the code's p(x_T | y): x_bar_T = (y_bar / s + sqrt(
sigma_T^2 - sigma_y^2 / s^2) z) / sigma_T where s sigma_T > sigma_y, else z, with sigma_T of the first
step. The steps are the code's `range(0, T, T // N)` (abar_{-1} = 1 after the last); the output is
the last update, i.e. the last x0.

Where the code and the paper differ (this module follows the code): the code's x_T omits the factor
sqrt(1 - abar_T) (0.99998 at t = 999); a measured coordinate whose singular value the code truncates
to 0 (blurs: below 3e-2 per axis) counts as less noisy when sigma_y > 0 and takes y_bar / sigma_y, the
measurement noise, as its direction (jaxinv's separable operators keep it measured with s = 0).
docs/baselines.md lists the rest, including the original deblurring's mispaired singular values.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion.ddpm import split_model_output
from jaxinv.operators.spectral import safe_divide, svd_of
from jaxinv.solvers.driver import Solver, gaussian_noise_sigma, step_draws
from jaxinv.solvers.registry import Method, Sampler, register


def ddrm_alphas(num_steps: int = 1000, noise_schedule: str = "linear") -> np.ndarray:
    """The code's abar_t of its float32 linear betas, index t + 1 (abar_{-1} = 1 first)."""
    if noise_schedule != "linear":
        raise ValueError(f"DDRM builds the linear schedule of its runner; got diffusion.noise_schedule "
                         f"{noise_schedule!r}")
    scale = 1000 / num_steps
    betas = np.linspace(scale * 1e-4, scale * 2e-2, num_steps, dtype=np.float64).astype(np.float32)
    return np.concatenate([np.ones(1, np.float32), np.cumprod(1 - betas, dtype=np.float32)])


def ddrm_sequence(num_train: int, num_steps: int) -> np.ndarray:
    """(t, t_next) pairs visited, noisiest first: the code's seq = range(0, T, T // N), t_next = -1 last."""
    if not 1 <= num_steps <= num_train:
        raise ValueError(f"DDRM needs 1 <= solver.ddrm_steps <= {num_train}, got {num_steps}")
    seq = np.arange(0, num_train, num_train // num_steps)
    return np.stack([seq[::-1], np.concatenate([[-1], seq[:-1]])[::-1]], axis=1).astype(np.int32)


def pair_start(pairs: np.ndarray, noise_shape) -> callable:
    """`start(key, hparams)` of a sampler over (t, t_next) `pairs`: x_init ~ N(0, I) of the image's shape
    (noise_shape[-3:]) and xs = {"t", "t_next", "key"} (each step draws noise_shape from its key)."""
    def start(key, hparams):
        k_start, k_steps = jax.random.split(key)
        xs = {"t": jnp.asarray(pairs[:, 0]), "t_next": jnp.asarray(pairs[:, 1]),
              "key": jax.random.split(k_steps, len(pairs))}
        return jax.random.normal(k_start, tuple(noise_shape)[-3:]), xs

    return start


def ddrm_solver(eps_model, alphas, operator, y, sigma_y: float, eta: float = 0.85, eta_b: float = 1.0) -> Solver:
    """DDRM on one image; `alphas` from `ddrm_alphas`, `xs` = {"t", "t_next", "z" (3, *image) noise in
    the SVD's coordinates: missing, less noisy, noisier, or a "key" to draw it}."""
    svd = svd_of(operator, "DDRM")
    alphas = jnp.asarray(alphas)
    s, measured, y_bar = svd.singulars, svd.measured, svd.ut(y)
    y_over_s, inv_s2 = safe_divide(y_bar, s), safe_divide(1, s**2)
    safe_sigma_y = sigma_y if sigma_y > 0 else 1.0      # the less-noisy case needs sigma_y > 0

    def step(x, xs):
        t, t_next, z = xs["t"], xs["t_next"], step_draws(xs, (3, *x.shape))
        a, a_next = alphas[t + 1], alphas[t_next + 1]
        eps = split_model_output(eps_model(x, t.astype(jnp.float32)), x.shape[-1])[0]
        x0 = (x - eps * jnp.sqrt(1 - a)) / jnp.sqrt(a)
        sigma_next = jnp.sqrt(1 - a_next) / jnp.sqrt(a_next)
        c0, ce = svd.vt(x0), svd.vt(eps)
        std = sigma_next * eta
        tilde = jnp.sqrt(sigma_next**2 - std**2)
        noisier = measured & (s * sigma_next > sigma_y)
        less_noisy = measured & (s * sigma_next < sigma_y)
        missing_c = c0 + tilde * ce + std * z[0]
        less_noisy_c = c0 + tilde * (y_bar - s * c0) / safe_sigma_y + std * z[1]
        spread = jnp.sqrt(jnp.maximum(sigma_next**2 - sigma_y**2 * inv_s2 * eta_b**2, 0))
        noisier_c = eta_b * y_over_s + (1 - eta_b) * c0 + spread * z[2]
        c = jnp.where(noisier, noisier_c, jnp.where(less_noisy, less_noisy_c, missing_c))
        return jnp.sqrt(a_next) * svd.v(c), {}

    return Solver(step)


def ddrm_start(alphas, operator, y, sigma_y: float, t_first: int, z):
    """x_T = V x_bar_T of the code's p(x_T | y) from z ~ N(0, I) in the SVD's coordinates."""
    svd = svd_of(operator, "DDRM")
    a = alphas[t_first + 1]
    sigma = float(np.sqrt(1 - a) / np.sqrt(a))
    s = svd.singulars
    large = svd.measured & (s * sigma > sigma_y)
    safe_s = jnp.where(large, s, 1)
    mean = jnp.where(large, svd.ut(y) / safe_s, 0)
    remaining = jnp.sqrt(jnp.maximum(sigma**2 - jnp.where(large, sigma_y / safe_s, 0) ** 2, 0))
    return svd.v((mean + remaining * z) / sigma)


def make_sampler(config, shape) -> Sampler:
    s, d = config.solver, config.diffusion
    alphas = ddrm_alphas(int(d.steps), d.noise_schedule)
    pairs = ddrm_sequence(int(d.steps), int(s.ddrm_steps))
    sigma_y = gaussian_noise_sigma(config, "DDRM's update")

    def solver(prior, operator, y, hparams):
        base = ddrm_solver(prior.eps, alphas, operator, y, sigma_y,
                           eta=hparams.get("ddrm_eta", float(s.ddrm_eta)),
                           eta_b=hparams.get("ddrm_eta_b", float(s.ddrm_eta_b)))
        return Solver(base.step, init=lambda z: ddrm_start(alphas, operator, y, sigma_y, int(pairs[0, 0]), z))

    return Sampler(pair_start(pairs, (3, *shape)), solver)


def _steps(config) -> int:
    return len(ddrm_sequence(int(config.diffusion.steps), int(config.solver.ddrm_steps)))


def _set_steps(config, num_steps: int) -> None:
    config.solver.ddrm_steps = int(num_steps)


METHOD = register(Method(
    "ddrm", "DDRM",
    fields={"ddrm_eta": (0.85, "ddrm: eta (the code's etaA = etaC): noise share of the DDIM-like update"),
            "ddrm_eta_b": (1.0, "ddrm: eta_b, the weight of y in the coordinates noisier than y"),
            "ddrm_steps": (20, "ddrm: N, steps at range(0, T, T // N)")},
    traced=("ddrm_eta", "ddrm_eta_b"), make_sampler=make_sampler, steps=_steps, set_steps=_set_steps,
    network_evals_per_step=lambda config: 1))
