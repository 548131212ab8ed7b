"""DAPS: decoupled annealing posterior sampling (Zhang et al., CVPR 2025; zhangbingliang2019/DAPS 098df6b
`sampler.DAPS.sample`, `cores.mcmc.MCMCSampler`, pixel space, `prior_solver: gaussian`).

Annealing sigma_0 > ... > sigma_{N-1} > sigma_N = 0 (the code's EDM scheduler: N + 1 poly-7 points from
sigma_max to sigma_min with the last replaced by 0). With D(x; sigma) the EDM denoiser, per step k:

  1. x0hat = the Euler PF-ODE from x_t over the poly-7 grid t_0 = sigma_k > ... > t_M = sigma_min of M
     `daps_ode_steps`: x <- x + (t_{i+1} - t_i)(-t_i score(x; t_i)), score = (D(x; t) - x) / t^2.
  2. x0y = MCMC from x0hat with the score s(x) = -grad ||A x - y||^2 / tau^2 + (x_t - x) / sigma_k^2
     + (x0hat - x_t) / sigma_k^2 (the Gaussian prior of x0 | x_t around x0hat; paper Eq. 9) and
     lr_k = lr (1 + k / (N + 1) (lr_min_ratio - 1)) (the code's ratio step / scheduler.num_steps):
       Langevin:  x <- x + lr_k s(x) + sqrt(2 lr_k) z
       HMC:       v <- m v + sqrt(lr_k) s(x) + sqrt(2 (1 - m)) z,  x <- x + sqrt(lr_k) v,  v_0 ~ N(0, I)
  3. x_t = x0y + sigma_{k+1} z.

The start is sigma_max N(0, I); the output the last x_t (= x0y). The code returns zeros when the MCMC
meets a NaN; here each step records `finite` and `driver.check_finite` names the first bad step.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion.edm import poly_time_steps
from jaxinv.solvers.driver import Solver, inner_unroll, step_draws
from jaxinv.solvers.registry import Method, Sampler, register

MC_ALGOS = ("langevin", "hmc")


def daps_sigmas(num_steps: int, sigma_max: float, sigma_min: float, timestep: str = "poly-7") -> np.ndarray:
    """The code's EDM `sigma_steps`: N + 1 poly points from sigma_max to sigma_min, the last replaced by 0."""
    if not timestep.startswith("poly-"):
        raise ValueError(f"DAPS's EDM scheduler takes timestep 'poly-<p>', got {timestep!r}")
    grid = poly_time_steps(num_steps + 1, sigma_max, sigma_min, int(timestep.split("-")[1]))
    return np.append(grid[:-1], 0.0).astype(np.float32)


def daps_xs(num_steps: int, sigma_max: float, sigma_min: float, ode_steps: int, ode_sigma_min: float,
            lr: float, lr_min_ratio: float, timestep: str = "poly-7") -> dict:
    """Per-annealing-step inputs: sigma_k, sigma_{k+1}, the ODE grid (M + 1 times) and lr_k (float32)."""
    sigmas = daps_sigmas(num_steps, sigma_max, sigma_min, timestep)
    rho = int(timestep.split("-")[1])
    grids = np.stack([poly_time_steps(ode_steps + 1, float(s), ode_sigma_min, rho) for s in sigmas[:-1]])
    decay = 1.0 + np.arange(num_steps) / (num_steps + 1) * (lr_min_ratio - 1.0)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return {"sigma": f32(sigmas[:-1]), "sigma_next": f32(sigmas[1:]), "ode": f32(grids), "lr": lr * f32(decay)}


def daps_solver(denoiser, operator, y, num_mcmc: int = 100, tau: float = 0.01, mc_algo: str = "langevin",
                momentum: float = 0.9) -> Solver:
    """DAPS on one image; `xs` = daps_xs(...) plus, per step, "z" (J + 2, *image): J MCMC draws, the forward
    draw, the HMC start velocity, or a "key" they are drawn from (N (J + 2) images at once would not fit)."""
    if mc_algo not in MC_ALGOS:
        raise ValueError(f"unknown DAPS mc_algo {mc_algo!r}; expected one of {MC_ALGOS}")

    def data_grad(x):
        return jax.grad(lambda x: jnp.sum((operator.forward(x) - y) ** 2))(x)

    def step(x_t, xs):
        sigma, grid, lr = xs["sigma"], xs["ode"], xs["lr"]
        z = step_draws(xs, (num_mcmc + 2, *x_t.shape))

        def euler(x, i):
            t, t_next = grid[i], grid[i + 1]
            score = (denoiser(x, t) - x) / t**2
            return x + (t_next - t) * (-t * score), None

        x0hat, _ = jax.lax.scan(euler, x_t, jnp.arange(grid.shape[0] - 1), unroll=inner_unroll(grid.shape[0] - 1))
        x0hat = jax.lax.stop_gradient(x0hat)
        prior = (x0hat - x_t) / sigma**2

        def mcmc(state, eps):
            x, v = state
            score = -data_grad(x) / tau**2 + (x_t - x) / sigma**2 + prior
            if mc_algo == "langevin":
                return (x + lr * score + jnp.sqrt(2 * lr) * eps, v), None
            v = momentum * v + jnp.sqrt(lr) * score + np.sqrt(2 * (1 - momentum)) * eps
            return (x + v * jnp.sqrt(lr), v), None

        (x0y, _), _ = jax.lax.scan(mcmc, (x0hat, z[num_mcmc + 1]), z[:num_mcmc])
        return x0y + z[num_mcmc] * xs["sigma_next"], {"finite": jnp.all(jnp.isfinite(x0y))}

    return Solver(step)


def make_sampler(config, shape) -> Sampler:
    s, a = config.solver, config.annealing
    n, j = int(a.num_steps), int(s.daps_mcmc_steps)
    if s.daps_mc_algo not in MC_ALGOS:
        raise ValueError(f"solver.daps_mc_algo must be one of {MC_ALGOS}, got {s.daps_mc_algo!r}")

    def start(key, hparams):
        k_start, k_steps = jax.random.split(key)
        xs = daps_xs(n, float(a.sigma_max), float(a.sigma_min), int(s.daps_ode_steps), float(s.daps_ode_sigma_min),
                     hparams.get("daps_lr", float(s.daps_lr)), float(s.daps_lr_min_ratio), a.timestep)
        xs["key"] = jax.random.split(k_steps, n)
        return float(a.sigma_max) * jax.random.normal(k_start, shape), xs

    def solver(prior, operator, y, hparams):
        return daps_solver(prior.denoiser, operator, y, num_mcmc=j, tau=hparams.get("daps_tau", float(s.daps_tau)),
                           mc_algo=s.daps_mc_algo, momentum=float(s.daps_momentum))

    return Sampler(start, solver)


def _steps(config) -> int:
    return int(config.annealing.num_steps)


def _set_steps(config, num_steps: int) -> None:
    config.annealing.num_steps = int(num_steps)


METHOD = register(Method(
    "daps", "DAPS",
    fields={"daps_lr": (1e-4, "daps: MCMC step size lr (decayed linearly to lr * lr_min_ratio)"),
            "daps_lr_min_ratio": (0.01, "daps: final lr / lr"),
            "daps_tau": (0.01, "daps: tau, the measurement std of the MCMC's data term"),
            "daps_mcmc_steps": (100, "daps: MCMC steps per annealing step"),
            "daps_mc_algo": ("langevin", "daps: 'langevin' | 'hmc'"),
            "daps_momentum": (0.9, "daps: HMC momentum"),
            "daps_ode_steps": (5, "daps: Euler PF-ODE steps for x0hat"),
            "daps_ode_sigma_min": (0.01, "daps: the PF-ODE's last sigma")},
    traced=("daps_lr", "daps_tau"), make_sampler=make_sampler, steps=_steps, set_steps=_set_steps,
    network_evals_per_step=lambda config: int(config.solver.daps_ode_steps)))
