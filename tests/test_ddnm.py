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
