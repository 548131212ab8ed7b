"""RED-diff: a variational perspective on solving inverse problems with diffusion models (Mardani et al.,
ICLR 2024; NVlabs/RED-diff `algos/reddiff.py`).

RED-diff optimises the mean mu of q(x0 | y) = N(mu, sigma_x0^2 I) with Adam along the reverse schedule.
At each timestep t (from the top; alpha_t = abar_t), with z0, z ~ N(0, I):

  x0     = mu + sigma_x0 z0,    x_t = sqrt(alpha_t) x0 + sqrt(1 - alpha_t) z
  loss   = v mean((y - A x0)^2) / 2 + lambda w(t) mean(sg[eps(x_t) - z] * x0)             (paper Eq. 12)
  mu     <- Adam(mu, grad_mu loss)    (lr, betas (0.9, 0.99), eps 1e-8: the code's torch.optim.Adam)

with w(t) = sigma_t = sqrt(1 - alpha_t) / sqrt(alpha_t) ("linear", the code's default) or its sqrt,
square, log(1 + .), min(., 1), power 2/3 or 1 (`denoise_term_weight`). mu starts at A^+ y (singular
values below `spectral.START_RCOND` of the largest dropped); the output is mu. The network's output is
not differentiated (sg: stop-gradient): one call per step. Steps are the code's `range(0, T, T // N)`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxinv.diffusion.ddpm import split_model_output
from jaxinv.operators import spectral
from jaxinv.solvers.ddrm import ddrm_alphas, ddrm_sequence
from jaxinv.solvers.driver import Solver, step_draws
from jaxinv.solvers.registry import Method, Sampler, register

WEIGHTINGS = {
    "linear": lambda s: s,
    "sqrt": jnp.sqrt,
    "square": jnp.square,
    "log": lambda s: jnp.log(s + 1.0),
    "trunc_linear": lambda s: jnp.minimum(s, 1.0),
    "power2over3": lambda s: s ** (2 / 3),
    "const": lambda s: jnp.ones_like(s),
}


def reddiff_solver(eps_model, alphas, operator, y, lr: float = 0.5, weight: float = 0.25, obs_weight: float = 1.0,
                   weighting: str = "linear", sigma_x0: float = 0.0) -> Solver:
    """RED-diff on one image; carry (mu, Adam state); `xs` = {"t", "z" (2, *image): z0, z, or a "key" to draw them}."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown RED-diff weighting {weighting!r}; expected one of {sorted(WEIGHTINGS)}")
    alphas = jnp.asarray(alphas)
    optimizer = optax.adam(lr, b1=0.9, b2=0.99, eps=1e-8)

    def step(carry, xs):
        mu, opt_state = carry
        t, (z0, z) = xs["t"], step_draws(xs, (2, *mu.shape))
        a = alphas[t + 1]
        x_t = jnp.sqrt(a) * (mu + sigma_x0 * z0) + jnp.sqrt(1 - a) * z
        eps = split_model_output(eps_model(x_t, t.astype(jnp.float32)), mu.shape[-1])[0]
        w = weight * WEIGHTINGS[weighting](jnp.sqrt(1 - a) / jnp.sqrt(a))
        direction = jax.lax.stop_gradient(eps - z)

        def loss(mu):
            x0 = mu + sigma_x0 * z0
            return (obs_weight * jnp.mean((y - operator.forward(x0)) ** 2) / 2
                    + w * jnp.mean(direction * x0))

        grads = jax.grad(loss)(mu)
        updates, opt_state = optimizer.update(grads, opt_state, mu)
        return (optax.apply_updates(mu, updates), opt_state), {}

    def init(_):
        mu = spectral.pseudo_inverse(operator, y, "RED-diff's start A^+ y", rcond=spectral.START_RCOND)
        return mu, optimizer.init(mu)

    return Solver(step, init=init, output=lambda carry: carry[0])


def make_sampler(config, shape) -> Sampler:
    s, d = config.solver, config.diffusion
    alphas = ddrm_alphas(int(d.steps), d.noise_schedule)
    pairs = ddrm_sequence(int(d.steps), int(s.reddiff_steps))

    def start(key, hparams):
        xs = {"t": jnp.asarray(pairs[:, 0]), "key": jax.random.split(key, len(pairs))}
        return jnp.zeros(shape), xs

    def solver(prior, operator, y, hparams):
        return reddiff_solver(prior.eps, alphas, operator, y, lr=hparams.get("reddiff_lr", float(s.reddiff_lr)),
                              weight=hparams.get("reddiff_weight", float(s.reddiff_weight)),
                              obs_weight=hparams.get("reddiff_obs_weight", float(s.reddiff_obs_weight)),
                              weighting=s.reddiff_weighting, sigma_x0=float(s.reddiff_sigma_x0))

    return Sampler(start, solver)


def _steps(config) -> int:
    return len(ddrm_sequence(int(config.diffusion.steps), int(config.solver.reddiff_steps)))


def _set_steps(config, num_steps: int) -> None:
    config.solver.reddiff_steps = int(num_steps)


METHOD = register(Method(
    "reddiff", "RED-diff",
    fields={"reddiff_lr": (0.5, "reddiff: Adam learning rate on mu"),
            "reddiff_weight": (0.25, "reddiff: lambda, the weight of the denoising term (grad_term_weight)"),
            "reddiff_obs_weight": (1.0, "reddiff: v, the weight of the data term"),
            "reddiff_weighting": ("linear", "reddiff: w(t) of sigma_t: " + " | ".join(WEIGHTINGS)),
            "reddiff_sigma_x0": (0.0, "reddiff: std of q(x0 | y) around mu"),
            "reddiff_steps": (100, "reddiff: N, steps at range(0, T, T // N)")},
    traced=("reddiff_lr", "reddiff_weight", "reddiff_obs_weight"), make_sampler=make_sampler, steps=_steps,
    set_steps=_set_steps, network_evals_per_step=lambda config: 1))
