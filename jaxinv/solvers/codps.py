"""CoDPS and CoDPS+ (Yismaw, Kamilov, Asif, "Gaussian is all you need", IEEE TCI 2025; CSIPlab/CoDPS).

Gaussian likelihood p(y | x_t) ~ N(A mu_{x0|xt}, s^2 I + v A A^T) with v = var(x0 | x_t) = 1/(abar/(1-abar) + inv_var),
abar indexed at the CURRENT respaced step t, while the update is applied to the freshly sampled x_{t-1}
(the code's `x_t=out['sample']`). No backprop through the network (the UNet runs under no_grad).

CoDPS (DDPM ancestral step, learned-range variance, clipped x0_hat):
  mu(x') = (sqrt(abar)/(1-abar) x' + inv_var x0_hat) v,   r = y - A(mu(x')),
  x_{t-1} = x' - scale_t grad_{x'} 1/2 r^T (s^2 I + v A A^T)^{-1} r.
CoDPS+ (DDIM, eta = 1), skipped at t = 0, s = max(s, 1e-5):
  r = y - A(x0_hat),  x_{t-1} = x' - scale_t d grad_{x0_hat} 1/2 r^T (s^2 I + v A A^T)^{-1} r,
  d = var_x0 sqrt(abar) / (1 - abar + var_x0 abar), var_x0 = 1/inv_var (d = 1/sqrt(abar) if inv_var = 0).
scale_t = scale / div_ratio when t < t_div (respaced index), else scale.

`likelihood`: "gram" (the code's `use_A_AT`: the operator's spectral view, FFT or mask diagonal), "masked"
(code fallback with a mask: CoDPS sum r^2/(s^2 + v), CoDPS+ sum r^2), "identity" (A A^T = I:
||r||^2 / (s^2 + v)). The loss is 1/2 of that quadratic form. `residual_norm` is its square root (code's `distance`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.diffusion import DiffusionSchedule, ddim_step, ddpm_step, no_network_gradient, p_mean_variance
from jaxinv.operators.spectral import gram_solve
from jaxinv.solvers.ddpm import (check_learned_variance, ddpm_schedule, gaussian_start, respaced_steps, set_ddim_steps,
                                 set_ddpm_steps)
from jaxinv.solvers.driver import Solver
from jaxinv.solvers.registry import Method, Sampler, register

LIKELIHOODS = ("gram", "masked", "identity")


def _quadratic_form(likelihood, operator, r, s2, v, plus: bool):
    if likelihood == "gram":
        return jnp.sum(r * gram_solve(operator, r, s2, v, "CoDPS likelihood='gram' (else 'identity' or 'masked')"))
    if likelihood == "masked":
        return jnp.sum(r ** 2) if plus else jnp.sum(r ** 2 / (s2 + v))
    return jnp.sum(r ** 2) / (s2 + v)


def _check(likelihood):
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown CoDPS likelihood {likelihood!r}; expected one of {LIKELIHOODS}")


def codps_solver(eps_model, schedule: DiffusionSchedule, operator, y, noise_sigma: float, scale: float = 1.0,
                 t_div: float = 1.0, div_ratio: float = 1.0, inv_var: float = 1.0, likelihood: str = "gram",
                 var_type: str = "learned_range", clip_denoised: bool = True) -> Solver:
    """CoDPS: DDPM step, then the gradient through the Gaussian posterior mean w.r.t. the new sample."""
    _check(likelihood)
    s2 = float(noise_sigma) ** 2

    def step(x, xs):
        t, z = xs["t"], xs["z"]
        out = no_network_gradient(p_mean_variance(schedule, eps_model, x, t, var_type, clip_denoised))
        x_prev = ddpm_step(out["mean"], out["log_variance"], t, z)
        abar = schedule.alphas_cumprod[t]
        v = 1.0 / (abar / (1.0 - abar) + inv_var)

        def loss(xp):
            mu = (jnp.sqrt(abar) / (1.0 - abar) * xp + out["pred_xstart"] * inv_var) * v
            return 0.5 * _quadratic_form(likelihood, operator, y - operator.forward(mu), s2, v, plus=False)

        value, g = jax.value_and_grad(loss)(x_prev)
        scale_t = jnp.where(t < t_div, scale / div_ratio, scale)
        return x_prev - scale_t * g, {"residual_norm": jnp.sqrt(2.0 * value)}

    return Solver(step)


def codps_plus_solver(eps_model, schedule: DiffusionSchedule, operator, y, noise_sigma: float, scale: float = 1.0,
                      t_div: float = 1.0, div_ratio: float = 1.0, inv_var: float = 1.0, likelihood: str = "gram",
                      eta: float = 1.0, clip_denoised: bool = True) -> Solver:
    """CoDPS+: DDIM step (eta = 1 in the paper's code), gradient in x0 space times the scalar dx0/dx_t."""
    _check(likelihood)
    s2 = max(float(noise_sigma), 1e-5) ** 2

    def step(x, xs):
        t, z = xs["t"], xs["z"]
        out = no_network_gradient(p_mean_variance(schedule, eps_model, x, t, "fixed_small", clip_denoised))
        x_prev = ddim_step(schedule, x, t, out["pred_xstart"], z, eta)
        abar = schedule.alphas_cumprod[t]
        v = 1.0 / (abar / (1.0 - abar) + inv_var)

        def loss(x0):
            return 0.5 * _quadratic_form(likelihood, operator, y - operator.forward(x0), s2, v, plus=True)

        value, g = jax.value_and_grad(loss)(out["pred_xstart"])
        if inv_var != 0:
            var_x0 = 1.0 / inv_var
            d = var_x0 * jnp.sqrt(abar) / (1.0 - abar + var_x0 * abar)
        else:
            d = 1.0 / jnp.sqrt(abar)
        scale_t = jnp.where(t < t_div, scale / div_ratio, scale)
        guided = t > 0
        x_new = jnp.where(guided, x_prev - g * scale_t * d, x_prev)
        return x_new, {"residual_norm": jnp.where(guided, jnp.sqrt(2.0 * value), 0.0)}

    return Solver(step)


def _common(config, hparams) -> dict:
    s = config.solver
    sigma = float(config.noise.params.get("sigma", 0.0)) if config.noise.name == "gaussian" else 0.0
    return dict(noise_sigma=sigma, scale=hparams.get("scale", float(s.scale)), t_div=float(s.t_div),
                div_ratio=float(s.div_ratio), inv_var=float(s.inv_var), likelihood=s.likelihood,
                clip_denoised=bool(config.diffusion.clip_denoised))


def make_codps_sampler(config, shape) -> Sampler:
    """x_T ~ N(0, I), then the respaced DDPM steps with the CoDPS correction."""
    schedule = ddpm_schedule(config)

    def solver(prior, operator, y, hparams):
        return codps_solver(prior.eps, schedule, operator, y, var_type=config.diffusion.var_type,
                            **_common(config, hparams))

    return Sampler(gaussian_start(schedule, shape), solver)


def make_codps_plus_sampler(config, shape) -> Sampler:
    """x_T ~ N(0, I), then the respaced DDIM steps (`ddimN`) with the CoDPS+ correction."""
    schedule = ddpm_schedule(config)

    def solver(prior, operator, y, hparams):
        return codps_plus_solver(prior.eps, schedule, operator, y, eta=float(config.solver.eta),
                                 **_common(config, hparams))

    return Sampler(gaussian_start(schedule, shape), solver)


FIELDS = {
    "scale": (1.0, "guidance step size (dps, codps, codps_plus)"),
    "t_div": (1.0, "codps*: respaced index below which scale is divided by div_ratio"),
    "div_ratio": (1.0, "codps*"),
    "inv_var": (1.0, "codps*: prior precision of x0 (0: d x0 / d x_t = 1 / sqrt(abar) for CoDPS+)"),
    "likelihood": ("gram", 'codps*: "gram" (use_A_AT: True), "masked", "identity"'),
}
CODPS = register(Method("codps", "CoDPS", fields=FIELDS, traced=("scale",), make_sampler=make_codps_sampler,
                        steps=respaced_steps, set_steps=set_ddpm_steps, check=check_learned_variance))
CODPS_PLUS = register(Method("codps_plus", "CoDPS+",
                             fields={**FIELDS, "eta": (1.0, "codps_plus: DDIM eta (CoDPS changed the default to 1)")},
                             traced=("scale",), make_sampler=make_codps_plus_sampler, steps=respaced_steps,
                             set_steps=set_ddim_steps))
