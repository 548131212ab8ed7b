"""DPS guidance term against hand-derived gradients on a Gaussian prior, where x0_hat = a x_t + b is affine."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import diffusion as D
from jaxinv.operators import make_operator
from jaxinv.solvers import dps_solver, run

M, C = 0.1, 0.4
SHAPE = (4, 4, 1)


@pytest.mark.parametrize("step_rule,noise_model", [("code", "gaussian"), ("paper", "gaussian"),
                                                   ("code", "poisson"), ("paper", "poisson")])
def test_one_dps_step_matches_closed_form(step_rule, noise_model):
    abar_base = D.base_alphas_cumprod()
    eps_model = D.eps_model_from_denoiser(D.gaussian_denoiser(M, C), abar_base)
    sched = D.make_schedule(1000, "linear", "10")
    mask = (np.arange(16).reshape(4, 4) % 3 != 0).astype(np.float32)
    op = make_operator("inpainting", SHAPE, mask=mask)
    x_t = jax.random.normal(jax.random.PRNGKey(0), SHAPE)
    y = jax.random.uniform(jax.random.PRNGKey(1), SHAPE, minval=0.2, maxval=1.0)
    k = 3  # one step at respaced t = 3 (original timestep 333), where the guidance is large
    xs = {"t": jnp.array([k], jnp.int32), "z": jax.random.normal(jax.random.PRNGKey(2), (1, *SHAPE))}
    scale = 0.7
    solver = dps_solver(eps_model, sched, op, y, scale=scale, var_type="fixed_small", clip_denoised=False,
                        step_rule=step_rule, noise_model=noise_model)
    got = np.asarray(run(solver, x_t, xs)["sample"], np.float64)

    # hand derivation (float64)
    t_orig = int(sched.timestep_map[k])
    abar = abar_base[t_orig]
    s2 = (1 - abar) / abar
    a = C / (C + s2) / np.sqrt(abar)
    x = np.asarray(x_t, np.float64)
    x0 = M + C / (C + s2) * (x / np.sqrt(abar) - M)
    mean = float(sched.posterior_mean_coef1[k]) * x0 + float(sched.posterior_mean_coef2[k]) * x
    x_prev = mean + np.exp(0.5 * float(sched.posterior_log_variance_clipped[k])) * np.asarray(xs["z"][0])
    m3 = mask[..., None]
    yv = np.asarray(y, np.float64)
    r = yv - m3 * x0
    norm = np.sqrt((r ** 2).sum())
    grad_norm = -a * m3 * r / norm  # d||r|| / dx_t
    if step_rule == "code" and noise_model == "gaussian":
        expected = x_prev - scale * grad_norm
    elif step_rule == "code":
        expected = x_prev - scale * grad_norm * np.mean(1 / np.abs(yv))
    elif noise_model == "gaussian":
        expected = x_prev - scale / norm * (-2 * a * m3 * r)
    else:
        weighted = (r ** 2 / (2 * np.abs(yv))).sum()
        expected = x_prev - scale / np.sqrt(weighted) * (-a * m3 * r / np.abs(yv))
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert np.abs(expected - x_prev).max() > 1e-2  # the guidance term is not negligible here


def test_bad_switches_are_rejected():
    sched = D.make_schedule(1000, "linear", "10")
    op = make_operator("inpainting", SHAPE, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match="step_rule"):
        dps_solver(None, sched, op, jnp.zeros(SHAPE), step_rule="squared")
    with pytest.raises(ValueError, match="batch_norm"):
        dps_solver(None, sched, op, jnp.zeros(SHAPE), step_rule="paper", batch_norm=True)
