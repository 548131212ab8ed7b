"""PiGDM and RED-diff: replays of the RED-diff code's `algos/pgdm.py` and `algos/reddiff.py`, and their steps."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv.solvers.ddrm import ddrm_alphas
from replays import replay_args


@pytest.mark.parametrize("method", ["pgdm", "reddiff"])
def test_replay_matches_original(fixtures_dir, method):
    import importlib

    module = importlib.import_module(f"experiments.crosscheck.{method}")
    err, threshold = module.run(replay_args(fixtures_dir, fixtures_dir / method / f"{method}_tiny_sr4"))
    out = np.load(fixtures_dir / method / f"{method}_tiny_sr4.npz")["out"]
    assert threshold == pytest.approx(1e-4 * np.abs(out).max())
    assert err < threshold, err


def test_replays_refuse_each_others_fixtures(fixtures_dir):
    from experiments.crosscheck import pgdm, reddiff

    with pytest.raises(ValueError, match="not a PiGDM fixture"):
        pgdm.run(replay_args(fixtures_dir, fixtures_dir / "reddiff" / "reddiff_tiny_sr4"))
    with pytest.raises(ValueError, match="not a RED-diff fixture"):
        reddiff.run(replay_args(fixtures_dir, fixtures_dir / "pgdm" / "pgdm_tiny_sr4"))


def test_pgdm_noisy_guidance_is_the_papers_on_a_linear_denoiser():
    """eps(x) = c x makes x0 = k x linear (k = (1 - c sqrt(1 - a)) / sqrt(a)), so the VJP is k m with
    m = r^2 A^T (r^2 A A^T + sigma^2 I)^{-1} (y - A x0), r^2 = 1 - alpha_t (dense check, A a 2x block average)."""
    from jaxinv.operators import make_operator
    from jaxinv.solvers.pgdm import pgdm_solver

    shape, sigma_y, c, w = (4, 4, 1), 0.3, 0.4, 0.7
    op = make_operator("block_average", shape, scale=2)
    dense = np.stack([np.asarray(op.forward(jnp.asarray(e.reshape(shape), jnp.float32))).ravel()
                      for e in np.eye(16)], axis=1).astype(np.float64)
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(op.measurement_shape).astype(np.float32)
    alphas = ddrm_alphas()
    solver = pgdm_solver(lambda x, t: c * x, alphas, op, jnp.asarray(y), sigma_y, eta=0.0, weight=w)
    t, s = 600, 400
    got, _ = solver.step(jnp.asarray(x), {"t": jnp.int32(t), "t_next": jnp.int32(s), "z": jnp.asarray(z)})
    a_t, a_s = np.float64(alphas[t + 1]), np.float64(alphas[s + 1])
    k = (1 - c * np.sqrt(1 - a_t)) / np.sqrt(a_t)
    x0, r2 = k * x.ravel(), 1 - a_t
    m = r2 * dense.T @ np.linalg.solve(r2 * dense @ dense.T + sigma_y**2 * np.eye(4), y.ravel() - dense @ x0)
    want = np.sqrt(a_s) * x0 + np.sqrt(1 - a_s) * c * x.ravel() + w * np.sqrt(a_s) * np.sqrt(a_t) * k * m
    np.testing.assert_allclose(np.asarray(got).ravel(), want, rtol=1e-4, atol=1e-5)


def test_reddiff_first_step_is_one_adam_step_on_its_loss():
    """Adam's first step moves each coordinate by lr g / (|g| + 1e-8) (m_hat = g, v_hat = g^2), g = the gradient
    of v mean((y - A mu)^2) / 2 + lambda sigma_t mean((eps - z) mu) at mu = A^+ y."""
    from jaxinv.operators import make_operator
    from jaxinv.solvers.driver import run
    from jaxinv.solvers.reddiff import reddiff_solver

    shape = (4, 4, 3)
    op = make_operator("denoising", shape)
    rng = np.random.default_rng(2)
    y = rng.standard_normal(shape).astype(np.float32)
    z = rng.standard_normal((1, 2, *shape)).astype(np.float32)
    alphas = ddrm_alphas()
    eps_of = lambda x, t: 0.5 * x  # noqa: E731
    solver = reddiff_solver(eps_of, alphas, op, jnp.asarray(y), lr=0.1, weight=0.25, obs_weight=1.0)
    out = run(solver, jnp.zeros(shape), {"t": jnp.asarray([500]), "z": jnp.asarray(z)})["sample"]
    a = np.float64(alphas[501])
    x_t = np.sqrt(a) * y + np.sqrt(1 - a) * z[0, 1]
    grad = 0.25 * np.sqrt(1 - a) / np.sqrt(a) * (0.5 * x_t - z[0, 1]) / y.size   # the data term is 0 at mu = y
    np.testing.assert_allclose(np.asarray(out), y - 0.1 * grad / (np.abs(grad) + 1e-8), rtol=1e-5, atol=1e-5)
