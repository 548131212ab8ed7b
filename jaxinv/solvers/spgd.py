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
`check_finite(diagnostics)` raises after the run, naming the first bad step (the original raises
"NaN detected. Consider tuning (decreasing) learning rate.").
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion import AnnealingSchedule
from jaxinv.solvers.driver import Solver

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
        (x_post, _, x_pre, x0_hat, loss), _ = jax.lax.scan(warm_up, init, jnp.arange(num_inner))
        score = (x0_hat - x_pre) / sigma ** 2
        x_next = x_post + 0.5 * factor * score
        return x_next, {"loss": loss, "finite": jnp.all(jnp.isfinite(x_next))}

    return Solver(init=lambda x: x, step=step, output=lambda x: x)


class DivergenceError(ValueError):
    """A sampler's iterate became NaN/inf."""


def check_finite(diagnostics: dict) -> None:
    """Raise if any sample went NaN/inf (host side, after the jitted run); names the first annealing step."""
    finite = np.asarray(diagnostics["finite"])
    if finite.all():
        return
    steps = finite.reshape(-1, finite.shape[-1]) if finite.ndim > 1 else finite[None]
    first = int(np.argmax(~steps.all(axis=0)))
    raise DivergenceError(f"SPGD: NaN/inf detected at annealing step {first} (of {finite.shape[-1]}); "
                     "consider decreasing the learning rate `lr`.")
