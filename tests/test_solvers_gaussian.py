"""Samplers on a Gaussian prior N(m, c) per pixel, where prior and posterior are known in closed form.

Bounds were measured with these seeds (2026-11, CPU): see the comments next to each assertion.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import diffusion as D
from jaxinv.operators import Inpainting
from jaxinv.solvers import codps_plus_solver, codps_solver, ddim_solver, ddpm_solver, dps_solver, run, sampling_xs

M, C, SIGMA = 0.2, 0.3, 0.1
SHAPE = (4, 4, 1)
EPS_MODEL = D.eps_model_from_denoiser(D.gaussian_denoiser(M, C), D.base_alphas_cumprod())
MASK = np.zeros((4, 4))
MASK[:, :2] = 1
OP = Inpainting.create(SHAPE, mask=MASK)
Y = OP.forward(jnp.full(SHAPE, 0.9)) + SIGMA * jax.random.normal(jax.random.PRNGKey(5), SHAPE)
POST_MEAN = np.where(MASK[..., None] > 0, M + C / (C + SIGMA ** 2) * (np.asarray(Y) - M), M)


def sample(kind, steps, n=1000, **kw):
    respacing = f"ddim{steps}" if kind == "codps+" else str(steps)
    sched = D.make_schedule(1000, "linear", respacing)

    def one(key):
        k1, k2 = jax.random.split(key)
        x_T = jax.random.normal(k1, SHAPE)
        solver = {
            "ddpm": lambda: ddpm_solver(EPS_MODEL, sched, kw.get("var_type", "fixed_small"), False),
            "ddim": lambda: ddim_solver(EPS_MODEL, sched, kw.get("eta", 0.0), False),
            "dps": lambda: dps_solver(EPS_MODEL, sched, OP, Y, var_type="fixed_small", clip_denoised=False, **kw),
            "codps": lambda: codps_solver(EPS_MODEL, sched, OP, Y, SIGMA, var_type="fixed_small",
                                          clip_denoised=False, **kw),
            "codps+": lambda: codps_plus_solver(EPS_MODEL, sched, OP, Y, SIGMA, clip_denoised=False, **kw),
        }[kind]()
        return run(solver, x_T, sampling_xs(sched, k2, SHAPE))["sample"]

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), n)))


@pytest.mark.parametrize("kind,kw", [("ddpm", {}), ("ddpm", {"var_type": "fixed_large"}), ("ddim", {}),
                                     ("ddim", {"eta": 1.0})])
def test_unconditional_samplers_reproduce_the_prior(kind, kw):
    out = sample(kind, 250, n=2000, **kw)
    # measured: mean error <= 0.025, variance in [0.27, 0.31] (target 0.3; std err of a variance ~0.01)
    assert np.abs(out.mean(0) - M).max() < 0.05
    assert 0.25 < out.var(0).mean() < 0.34
    assert np.abs(out.var(0) - C).max() < 0.06


@pytest.mark.parametrize("kind,kw,final_bound", [
    ("dps", {"scale": 0.5}, 0.06),                  # measured 0.44, 0.14, 0.027 at 10/25/100 steps
    ("codps", {"scale": 0.005, "inv_var": 1 / C}, 0.08),  # measured 0.39, 0.31, 0.043
    ("codps+", {"scale": 0.01, "inv_var": 1 / C}, 0.07),  # measured 0.74, 0.45, 0.034
])
def test_posterior_mean_error_falls_with_steps(kind, kw, final_bound):
    errs = [np.abs(sample(kind, n_steps, n=500, **kw).mean(0) - POST_MEAN).max() for n_steps in (10, 25, 100)]
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < final_bound, errs
