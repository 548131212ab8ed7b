"""SPGD: Stochastic (Progressive) Gradient Descent with adaptive directional momentum (Wu, Zhang, He,
Zhou, Lv, ACM MM 2025; 74587887/SPGD `sampler.py::RUN.sample` + `SPGD.sample`, built on DAPS).

EDM sigma annealing sigma_0 > ... > sigma_{N-1} > sigma_N = 0 (`annealing_schedule`, poly-7, sigma_final 0).
Per annealing step i (x = x_i, sigma = sigma_i), progressive likelihood warm-up, j = 0..J-1:
  x0_hat_j = D(x_j; sigma),   g_j = grad_{x_j} ||A(x0_hat_j) - y||^2      (sum of squares; no 1/sigma_y^2)
  m_0 = g_0,  m_j = (alpha_j beta) m_{j-1} + (1 - alpha_j beta) g_j,      beta = 0.9,
  alpha_j = (mean_{pixels} cos_channels(g_j, m_{j-1}) + 1) / 2           (reset at every annealing step)
  x_{j+1} = x_j - lr_i d_j,   lr_i = lr (1 - (1 - lr_min_ratio) i / N)    (linear decay, i/N not i/(N-1))
then the Euler PF-ODE step with the score of the LAST PRE-UPDATE iterate x_{J-1}:
  x_{i+1} = x_J + 1/2 factor_i (D(x_{J-1}; sigma) - x_{J-1}) / sigma^2,   factor_i = 2 sigma_i (sigma_i - sigma_{i+1}).

`variant`: "paper" applies the momentum (d_j = m_j, the paper's Algorithm with ADM); "code" is the
released code, where `_update_gradient`'s result is discarded and SGD uses the raw gradient (d_j = g_j).
Default "code": the released code is what produced the paper's tables (the repo's README commands).
The driver is jit/vmap friendly; a NaN cannot raise inside jit, so each step records `finite` and
`driver.check_finite(diagnostics)` raises after the run, naming the first bad step (the original
raises "NaN detected. Consider tuning (decreasing) learning rate.").
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion import AnnealingSchedule, annealing_schedule
from jaxinv.solvers.driver import Solver, inner_unroll
from jaxinv.solvers.registry import Method, Sampler, register

VARIANTS = ("code", "paper")


def channel_cosine_alpha(g, m, eps: float = 1e-8):
    """alpha = (mean over pixels of cos(g, m) along channels + 1) / 2 (torch.cosine_similarity(dim=1)).

    One (..., C) sample; torch clamps the product of norms at eps.
    """
    dot = jnp.sum(g * m, axis=-1)
    norms = jnp.sqrt(jnp.maximum(jnp.sum(g * g, axis=-1) * jnp.sum(m * m, axis=-1), eps ** 2))
    return (jnp.mean(dot / norms) + 1.0) / 2.0


def spgd_lrs(num_steps: int, lr: float, lr_min_ratio: float = 0.01) -> np.ndarray:
    """`SPGD.get_lr(i / N)` with p = 1: lr (1 + (i/N)(lr_min_ratio - 1)), i = 0..N-1."""
    ratio = np.arange(num_steps) / num_steps
    return lr * (1.0 + ratio * (lr_min_ratio - 1.0))


def spgd_xs(schedule: AnnealingSchedule, lr: float, lr_min_ratio: float = 0.01) -> dict:
    """Per-annealing-step inputs scanned by the driver: sigma_i, factor_i and lr_i (float32)."""
    n = schedule.num_steps
    return {"sigma": jnp.asarray(schedule.sigma_steps[:n], jnp.float32),
            "factor": jnp.asarray(schedule.factor_steps, jnp.float32),
            "lr": jnp.asarray(spgd_lrs(n, lr, lr_min_ratio), jnp.float32)}


def spgd_solver(denoiser, operator, y, num_inner: int = 5, beta: float = 0.9, variant: str = "code") -> Solver:
    """SPGD on one sample: `denoiser(x, sigma) -> D(x; sigma)` (EDM interface), `operator.forward` on one image.

    Use with `driver.run(solver, x_start, spgd_xs(schedule, lr))`, x_start = sigma_max * N(0, I).
    Diagnostics per annealing step: `loss` (last warm-up loss), `finite` (whether x stayed finite).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown SPGD variant {variant!r}; expected one of {VARIANTS}")
    if num_inner < 1:
        raise ValueError(f"SPGD needs at least one warm-up step (num_inner >= 1), got {num_inner}")

    def loss_fn(x, sigma):
        x0_hat = denoiser(x, sigma)
        return jnp.sum((operator.forward(x0_hat) - y) ** 2), x0_hat

    def step(x, xs):
        sigma, factor, lr = xs["sigma"], xs["factor"], xs["lr"]

        def warm_up(state, j):
            x, m, _, _, _ = state
            (loss, x0_hat), g = jax.value_and_grad(loss_fn, has_aux=True)(x, sigma)
            if variant == "paper":
                ab = channel_cosine_alpha(g, m) * beta
                m = jnp.where(j == 0, g, ab * m + (1.0 - ab) * g)
                direction = m
            else:
                direction = g
            return (x - lr * direction, m, x, x0_hat, loss), None

        init = (x, jnp.zeros_like(x), x, jnp.zeros_like(x), jnp.zeros((), x.dtype))
        (x_post, _, x_pre, x0_hat, loss), _ = jax.lax.scan(warm_up, init, jnp.arange(num_inner),
                                                             unroll=inner_unroll(num_inner))
        score = (x0_hat - x_pre) / sigma ** 2
        x_next = x_post + 0.5 * factor * score
        return x_next, {"loss": loss, "finite": jnp.all(jnp.isfinite(x_next))}

    return Solver(step)


def spgd_schedule(config) -> AnnealingSchedule:
    """`config.annealing` (SPGD's `config/sampler/edm_spgd.yaml`), sigma_final forced to 0 as the code."""
    a = config.annealing
    return annealing_schedule(int(a.num_steps), float(a.sigma_max), float(a.sigma_min), sigma_final=0.0,
                              schedule=a.schedule, timestep=a.timestep)


def make_sampler(config, shape) -> Sampler:
    """x_0 = sigma_max N(0, I), then the annealing steps (deterministic after the start)."""
    s = config.solver
    schedule = spgd_schedule(config)
    xs = spgd_xs(schedule, float(s.lr), float(s.lr_min_ratio))
    unit_lrs = spgd_xs(schedule, 1.0, float(s.lr_min_ratio))["lr"]
    sigma_start = float(schedule.sigma_steps[0])

    def start(key, hparams):
        steps_xs = {**xs, "lr": hparams["lr"] * unit_lrs} if "lr" in hparams else xs
        return sigma_start * jax.random.normal(key, shape), steps_xs

    def solver(prior, operator, y, hparams):
        return spgd_solver(prior.denoiser, operator, y, num_inner=int(s.num_inner), beta=float(s.beta),
                           variant=s.variant)

    return Sampler(start, solver)


def _set_steps(config, num_steps: int) -> None:
    config.annealing.num_steps = int(num_steps)


METHOD = register(Method(
    "spgd", "SPGD",
    fields={"num_inner": (5, "spgd: warm-up gradient steps J per annealing step"),
            "lr": (1.0, "spgd: learning rate of the warm-up steps"),
            "lr_min_ratio": (0.01, "spgd: linear decay to lr * lr_min_ratio"),
            "beta": (0.9, "spgd: momentum of the adaptive directional momentum"),
            "variant": ("code", 'spgd: "code" (released: momentum unused) | "paper" (momentum applied)')},
    traced=("lr",), make_sampler=make_sampler, steps=lambda config: int(config.annealing.num_steps),
    set_steps=_set_steps, network_evals_per_step=lambda config: int(config.solver.num_inner),
    network_gradient=True))
