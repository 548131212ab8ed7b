"""PiGDM: pseudoinverse-guided diffusion models (Song et al., ICLR 2023), as released with RED-diff
(NVlabs/RED-diff `algos/pgdm.py`).

With alpha_t = abar_t (abar_{-1} = 1), DDIM coefficients c1 = eta sqrt((1 - alpha_t / alpha_s)(1 - alpha_s)
/ (1 - alpha_t)), c2 = sqrt(1 - alpha_s - c1^2) and x0(x_t) = (x_t - sqrt(1 - alpha_t) eps(x_t)) / sqrt(alpha_t),
one step t -> s is

  g     = (d x0 / d x_t)^T m,   m = r_t^2 A^T (r_t^2 A A^T + sigma_y^2 I)^{-1} (y - A x0)     (paper Eq. 7-8)
  x_s   = sqrt(alpha_s) x0 + c1 z + c2 eps + w sqrt(alpha_s) sqrt(alpha_t) g

with r_t^2 = 1 - alpha_t; for sigma_y = 0, m = A^+ y - A^+ A x0, the code's noiseless form (the code
has no sigma_y). g is one VJP through the network (`jax.vjp`). The start is x_T = sqrt(alpha_T) A^+ y
+ sqrt(1 - alpha_T) z at the top step (A^+ without the singular values below `spectral.START_RCOND` of the
largest: the noise of y would grow by 1 / s); the steps are `range(0, T, T // N)` (the code's get_timesteps).
The output is the last x_s.

The code's weight is `grad_term_weight` sqrt(alpha_s) sqrt(alpha_t) with the adaptive weight (`awd`, its
default); without it the code uses (sqrt(alpha_s) - c2 sqrt(alpha_t) / sqrt(1 - alpha_t)) sqrt(alpha_t) w.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.diffusion.ddpm import split_model_output
from jaxinv.operators import spectral
from jaxinv.solvers.ddrm import ddrm_alphas, ddrm_sequence, pair_start
from jaxinv.solvers.driver import Solver, gaussian_noise_sigma, step_draws
from jaxinv.solvers.registry import Method, Sampler, register


def pgdm_solver(eps_model, alphas, operator, y, sigma_y: float, eta: float = 0.0, weight: float = 1.0,
                awd: bool = True) -> Solver:
    """PiGDM on one image; `xs` = {"t", "t_next", "z" or "key"}."""
    alphas = jnp.asarray(alphas)
    spectral.spectral_of(operator, "PiGDM")

    def guidance(x0, r2):
        residual = y - operator.forward(x0)
        if sigma_y == 0:
            return spectral.pseudo_inverse(operator, residual)
        return r2 * operator.adjoint(spectral.gram_solve(operator, residual, sigma_y**2, r2))

    def step(x, xs):
        t, s, z = xs["t"], xs["t_next"], step_draws(xs, x.shape)
        a_t, a_s = alphas[t + 1], alphas[s + 1]
        c1 = jnp.sqrt((1 - a_t / a_s) * (1 - a_s) / (1 - a_t)) * eta
        c2 = jnp.sqrt((1 - a_s) - c1**2)

        def denoise(x):
            eps = split_model_output(eps_model(x, t.astype(jnp.float32)), x.shape[-1])[0]
            return (x - eps * jnp.sqrt(1 - a_t)) / jnp.sqrt(a_t), eps

        (x0, eps), vjp = jax.vjp(denoise, x)
        m = jax.lax.stop_gradient(guidance(x0, 1 - a_t))
        (g,) = vjp((m, jnp.zeros_like(eps)))
        coeff = jnp.sqrt(a_s) if awd else jnp.sqrt(a_s) - c2 * jnp.sqrt(a_t) / jnp.sqrt(1 - a_t)
        return jnp.sqrt(a_s) * x0 + c1 * z + c2 * eps + g * coeff * jnp.sqrt(a_t) * weight, {}

    return Solver(step)


def pgdm_start(alphas, operator, y, t_first: int, z):
    """x_T = sqrt(alpha_T) A^+ y + sqrt(1 - alpha_T) z, A^+ with `spectral.START_RCOND`."""
    a = alphas[t_first + 1]
    u = spectral.pseudo_inverse(operator, y, "PiGDM's start", rcond=spectral.START_RCOND)
    return jnp.sqrt(a) * u + jnp.sqrt(1 - a) * z


def make_sampler(config, shape) -> Sampler:
    s, d = config.solver, config.diffusion
    alphas = ddrm_alphas(int(d.steps), d.noise_schedule)
    pairs = ddrm_sequence(int(d.steps), int(s.pgdm_steps))
    sigma_y = gaussian_noise_sigma(config, "PiGDM's guidance")

    def solver(prior, operator, y, hparams):
        base = pgdm_solver(prior.eps, alphas, operator, y, sigma_y, eta=hparams.get("pgdm_eta", float(s.pgdm_eta)),
                           weight=hparams.get("pgdm_weight", float(s.pgdm_weight)), awd=bool(s.pgdm_awd))
        return Solver(base.step, init=lambda z: pgdm_start(alphas, operator, y, int(pairs[0, 0]), z))

    return Sampler(pair_start(pairs, shape), solver)


def _steps(config) -> int:
    return len(ddrm_sequence(int(config.diffusion.steps), int(config.solver.pgdm_steps)))


def _set_steps(config, num_steps: int) -> None:
    config.solver.pgdm_steps = int(num_steps)


METHOD = register(Method(
    "pgdm", "PiGDM",
    fields={"pgdm_eta": (0.0, "pgdm: DDIM eta"),
            "pgdm_weight": (1.0, "pgdm: guidance weight (the code's grad_term_weight)"),
            "pgdm_awd": (True, "pgdm: the code's adaptive weight sqrt(alpha_s) (awd); False: its DDIM-derived one"),
            "pgdm_steps": (100, "pgdm: N, steps at range(0, T, T // N)")},
    traced=("pgdm_eta", "pgdm_weight"), make_sampler=make_sampler, steps=_steps, set_steps=_set_steps,
    network_evals_per_step=lambda config: 1, network_gradient=True))
