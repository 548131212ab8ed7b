"""DDNM and DDNM+: zero-shot restoration by range-null-space decomposition (Wang et al., ICLR 2023;
wyhuai/DDNM `functions/svd_ddnm.py`, `ddnm_diffusion` / `ddnm_plus_diffusion`).

With abar_t the cumulative product of the float32 linear betas (abar_{-1} = 1), x0 the network's
unclipped prediction and z ~ N(0, I), one step t -> t' is (paper Eq. 12-13, Alg. 1):

  x0      = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
  x0_hat  = x0 - A^+ (A x0 - y)                             (= A^+ y + (I - A^+ A) x0)
  x_t'    = sqrt(abar_t') x0_hat + sqrt(1 - abar_t') (eta z + sqrt(1 - eta^2) eps)

DDNM+ (sigma_y > 0; the code switches to it whenever the noise is not 0) scales the correction per
singular value s (`operator.svd()`), with a = sqrt(abar_t'), sigma_t = sqrt(1 - abar_t') (Eq. 17-19):

  x0_hat  = x0 - V Lambda_t V^T A^+ (A x0 - y),   lambda = s sigma_t sqrt(1 - eta^2) / (a sigma_y)
            where sigma_t < a sigma_y / s, else 1
  x_t'    = a x0_hat + V (d1 V^T z' + d2 V^T eps):  (d1, d2) = (sigma_t eta, 0) where sigma_t < a sigma_y / s,
            (sqrt(sigma_t^2 - a^2 sigma_y^2 / s^2), 0) where sigma_t > a sigma_y / s,
            (sigma_t eta, sigma_t sqrt(1 - eta^2)) where s = 0

Steps: T_sampling = N steps of skip = T // N (pairs (i, j) of `get_schedule_jump`, RePaint's time
travel: after every `travel_length` steps, `travel_repeat - 1` times back up by `travel_length`);
a pair with j > i goes back: x_j = sqrt(abar_j) x0_last + sqrt(1 - abar_j) z. The output is the last x.

Where this module and the code differ: the code's DDNM+ noise term applies V to the raw pixels of z
and eps, not to V^T z and V^T eps (equal in law for z, not for eps: it scatters eps over the null-space
directions); here the paper's V^T eps. docs/baselines.md lists the code's deblurring quirks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion.ddpm import split_model_output
from jaxinv.operators import spectral
from jaxinv.solvers.ddrm import ddrm_alphas, pair_start
from jaxinv.solvers.driver import Solver, gaussian_noise_sigma, step_draws
from jaxinv.solvers.registry import Method, Sampler, register


def schedule_jump(num_steps: int, travel_length: int = 1, travel_repeat: int = 1) -> list[int]:
    """RePaint's `get_schedule_jump`: step indices N-1, ..., -1 with the time-travel repeats."""
    if num_steps < 1 or travel_length < 1 or travel_repeat < 1:
        raise ValueError(f"DDNM needs steps, travel_length and travel_repeat >= 1, got {num_steps}, {travel_length}, "
                         f"{travel_repeat}")
    jumps = {j: travel_repeat - 1 for j in range(0, num_steps - travel_length, travel_length)}
    t, times = num_steps, []
    while t >= 1:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(travel_length):
                t += 1
                times.append(t)
    return times + [-1]


def ddnm_pairs(num_train: int, num_steps: int, travel_length: int = 1, travel_repeat: int = 1) -> np.ndarray:
    """(t, t_next) in original indices: each pair of `schedule_jump` times skip = T // N, j < 0 -> -1."""
    skip = num_train // num_steps
    times = schedule_jump(num_steps, travel_length, travel_repeat)
    pairs = [(i * skip, max(j * skip, -1)) for i, j in zip(times[:-1], times[1:])]
    return np.asarray(pairs, np.int32)


def ddnm_solver(eps_model, alphas, operator, y, sigma_y: float, eta: float = 0.85) -> Solver:
    """DDNM (sigma_y = 0) or DDNM+ on one image; carry (x, last x0); `xs` = {"t", "t_next", "z" or "key"}."""
    alphas = jnp.asarray(alphas)
    plus = sigma_y > 0
    if plus:
        svd = spectral.svd_of(operator, "DDNM+ (noisy measurements)")
        s = svd.singulars
        positive = s > 0
        inv_s = spectral.safe_divide(1, s)
    else:
        spectral.spectral_of(operator, "DDNM")

    def correct(x0, a, sigma_t):
        if not plus:
            return x0 - spectral.pseudo_inverse(operator, operator.forward(x0) - y)
        # V (lam S^+) U^T (A x0 - y): lam / s formed in one piece, so a tiny singular value is never inverted
        # on its own (lam = s sigma_t sqrt(1 - eta^2) / (a sigma_y) where it shrinks)
        shrink = sigma_t < a * sigma_y * inv_s
        gain = jnp.where(shrink, sigma_t * jnp.sqrt(1 - eta**2) / (a * sigma_y), inv_s)
        return x0 - svd.v(gain * svd.ut(operator.forward(x0) - y))

    def noise(eps, z, a, sigma_t):
        if not plus:
            return sigma_t * (eta * z + jnp.sqrt(1 - eta**2) * eps)
        shrink, grow = sigma_t < a * sigma_y * inv_s, sigma_t > a * sigma_y * inv_s
        d1 = jnp.where(grow, jnp.sqrt(jnp.maximum(sigma_t**2 - (a * sigma_y * inv_s) ** 2, 0)), sigma_t * eta)
        d1 = jnp.where(positive, jnp.where(shrink, sigma_t * eta, d1), sigma_t * eta)
        d2 = jnp.where(positive, jnp.where(shrink | grow, 0.0, sigma_t * jnp.sqrt(1 - eta**2)),
                       sigma_t * jnp.sqrt(1 - eta**2))
        return svd.v(d1 * svd.vt(z) + d2 * svd.vt(eps))

    def step(carry, xs):
        x, x0_last = carry
        t, t_next, z = xs["t"], xs["t_next"], step_draws(xs, x.shape)
        a_next = alphas[t_next + 1]
        forward = t_next < t

        def sample(_):
            a = alphas[t + 1]
            eps = split_model_output(eps_model(x, t.astype(jnp.float32)), x.shape[-1])[0]
            x0 = (x - eps * jnp.sqrt(1 - a)) / jnp.sqrt(a)
            sigma_t = jnp.sqrt(1 - a_next)
            return jnp.sqrt(a_next) * correct(x0, jnp.sqrt(a_next), sigma_t) + noise(eps, z, jnp.sqrt(a_next),
                                                                                      sigma_t), x0

        def travel_back(_):
            return jnp.sqrt(a_next) * x0_last + jnp.sqrt(1 - a_next) * z, x0_last

        return jax.lax.cond(forward, sample, travel_back, None), {}

    return Solver(step, init=lambda x: (x, jnp.zeros_like(x)), output=lambda carry: carry[0])


def noise_sigma_of(config) -> float:
    """0 for clean measurements (DDNM), else the Gaussian sigma (DDNM+)."""
    return 0.0 if config.noise.name == "clean" else gaussian_noise_sigma(config, "DDNM")


def make_sampler(config, shape) -> Sampler:
    s, d = config.solver, config.diffusion
    alphas = ddrm_alphas(int(d.steps), d.noise_schedule)
    pairs = ddnm_pairs(int(d.steps), int(s.ddnm_steps), int(s.ddnm_travel_length), int(s.ddnm_travel_repeat))
    sigma_y = noise_sigma_of(config)

    def solver(prior, operator, y, hparams):
        return ddnm_solver(prior.eps, alphas, operator, y, sigma_y, eta=hparams.get("ddnm_eta", float(s.ddnm_eta)))

    return Sampler(pair_start(pairs, shape), solver)


def _steps(config) -> int:
    s = config.solver
    return len(ddnm_pairs(int(config.diffusion.steps), int(s.ddnm_steps), int(s.ddnm_travel_length),
                          int(s.ddnm_travel_repeat)))


def _set_steps(config, num_steps: int) -> None:
    config.solver.ddnm_steps = int(num_steps)


METHOD = register(Method(
    "ddnm", "DDNM / DDNM+",
    fields={"ddnm_eta": (0.85, "ddnm: eta, the share of fresh noise in the DDIM update"),
            "ddnm_steps": (100, "ddnm: T_sampling, steps of T // N"),
            "ddnm_travel_length": (1, "ddnm: time-travel length (1 with repeat 1: no travel)"),
            "ddnm_travel_repeat": (1, "ddnm: time-travel repeats")},
    traced=("ddnm_eta",), make_sampler=make_sampler, steps=_steps, set_steps=_set_steps,
    network_evals_per_step=lambda config: 1))
