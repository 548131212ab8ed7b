"""DDNM / DDNM+: the replay of the original `ddnm_diffusion`, its time-travel schedule and DDNM+'s step."""
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv.solvers.ddnm import ddnm_pairs, ddnm_solver, schedule_jump
from jaxinv.solvers.ddrm import ddrm_alphas
from replays import replay_args


def test_replay_matches_original(fixtures_dir):
    from experiments.crosscheck import ddnm

    err, threshold = ddnm.run(replay_args(fixtures_dir, fixtures_dir / "ddnm" / "ddnm_tiny_sr4"))
    out = np.load(fixtures_dir / "ddnm" / "ddnm_tiny_sr4.npz")["out"]
    assert threshold == pytest.approx(1e-4 * np.abs(out).max())
    assert err < threshold, err


def test_ddnm_plus_recordings_are_refused(fixtures_dir):
    from experiments.crosscheck import ddnm

    with pytest.raises(ValueError, match="DDNM\\+ recordings cannot be replayed"):
        ddnm.run(replay_args(fixtures_dir, fixtures_dir / "ddnm" / "ddnm_plus_tiny_deblur"))


def test_time_travel_schedule_is_repaints():
    assert schedule_jump(4) == [3, 2, 1, 0, -1]
    # T = 5, length 1, repeat 2: every step but the last is undone once
    assert schedule_jump(5, 1, 2) == [4, 3, 4, 3, 2, 3, 2, 1, 2, 1, 0, 1, 0, -1]
    pairs = ddnm_pairs(1000, 10)
    assert pairs[0].tolist() == [900, 800] and pairs[-1].tolist() == [0, -1]


def test_ddnm_plus_step_on_denoising():
    """A = I, s = 1, a = sqrt(abar_t'), sigma_t = sqrt(1 - abar_t'): where sigma_t < a sigma_y the
    correction is scaled by lambda = sigma_t sqrt(1 - eta^2) / (a sigma_y) and the noise is sigma_t eta z;
    where sigma_t > a sigma_y it is the full correction with noise sqrt(sigma_t^2 - a^2 sigma_y^2) z."""
    from jaxinv.operators import make_operator

    shape, sigma_y, eta = (4, 4, 3), 0.2, 0.6
    rng = np.random.default_rng(0)
    x, y, z = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    alphas = ddrm_alphas()
    eps_of = lambda x, t: 0.5 * x  # noqa: E731
    solver = ddnm_solver(eps_of, alphas, make_operator("denoising", shape), jnp.asarray(y), sigma_y, eta=eta)
    for t, t_next in [(100, 50), (900, 800)]:
        (got, _), _ = solver.step((jnp.asarray(x), jnp.zeros(shape)),
                                  {"t": jnp.int32(t), "t_next": jnp.int32(t_next), "z": jnp.asarray(z)})
        a_t, a_n = np.float64(alphas[t + 1]), np.float64(alphas[t_next + 1])
        x0 = (x - 0.5 * x * np.sqrt(1 - a_t)) / np.sqrt(a_t)
        a, sigma_t = np.sqrt(a_n), np.sqrt(1 - a_n)
        if sigma_t < a * sigma_y:
            lam, noise = sigma_t * np.sqrt(1 - eta**2) / (a * sigma_y), sigma_t * eta * z
        else:
            lam, noise = 1.0, np.sqrt(sigma_t**2 - a**2 * sigma_y**2) * z
        want = a * (x0 - lam * (x0 - y)) + noise
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_ddnm_plus_correction_on_an_ill_conditioned_blur():
    """A circular 13 x 13 Gaussian blur (sigma 3) at 16^2 has singular values down to 3e-5: the correction
    V (lambda S^+) U^T (A x0 - y) against a float64 dense SVD (eps = 0, z = 0: the step is sqrt(a) (x0 - it))."""
    from jaxinv.operators import make_operator

    shape, sigma_y, eta = (16, 16, 1), 0.1, 0.85
    op = make_operator("gaussian_blur", shape, kernel_size=13, sigma=3.0, padding="circular")
    dense = np.stack([np.asarray(op.forward(jnp.asarray(e.reshape(shape)))).ravel()
                      for e in np.eye(256, dtype=np.float32)], axis=1).astype(np.float64)
    u, s, vt = np.linalg.svd(dense)
    assert s.min() < 1e-4 * s.max()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    alphas = ddrm_alphas()
    solver = ddnm_solver(lambda x, t: jnp.zeros_like(x), alphas, op, jnp.asarray(y), sigma_y, eta=eta)
    for t, t_next in [(500, 450), (60, 40)]:
        (got, _), _ = solver.step((jnp.asarray(x), jnp.zeros(shape)),
                                  {"t": jnp.int32(t), "t_next": jnp.int32(t_next), "z": jnp.zeros(shape)})
        a_t, a_n = np.float64(alphas[t + 1]), np.float64(alphas[t_next + 1])
        x0 = x.ravel() / np.sqrt(a_t)
        a, sigma_t = np.sqrt(a_n), np.sqrt(1 - a_n)
        gain = np.where(sigma_t < a * sigma_y / s, sigma_t * np.sqrt(1 - eta**2) / (a * sigma_y), 1 / s)
        want = a * (x0 - vt.T @ (gain * (u.T @ (dense @ x0 - y.ravel()))))
        np.testing.assert_allclose(np.asarray(got).ravel(), want, rtol=0, atol=1e-4 * np.abs(want).max())
