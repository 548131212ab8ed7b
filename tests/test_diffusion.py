"""jaxinv.diffusion against the original code's arrays (fixtures) and closed-form identities."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import diffusion as D


@pytest.mark.parametrize("sub,name", [("dps", "dps_tiny_sr4"), ("dps", "dps_tiny_motion"),
                                      ("dps", "dps_tiny_phase"), ("codps", "codps_plus_tiny_sr4"),
                                      ("codps", "codps_tiny_inpaint_random")])
def test_timestep_map_matches_fixture(fixtures_dir, sub, name):
    spec = json.loads((fixtures_dir / sub / f"{name}.json").read_text())
    ref = np.load(fixtures_dir / sub / f"{name}.npz")["timestep_map"]
    sched = D.make_schedule(spec["diffusion_steps"], spec["noise_schedule"], spec["timestep_respacing"])
    np.testing.assert_array_equal(np.asarray(sched.timestep_map), ref)


def test_space_timesteps_sections_and_ddim():
    assert D.space_timesteps(1000, "ddim100") == list(range(0, 1000, 10))
    steps = D.space_timesteps(300, "10,15,20")
    assert len(steps) == 45
    # each section of 100 keeps its first and last step
    assert {0, 99, 100, 199, 200, 299} <= set(steps)
    assert sum(s < 100 for s in steps) == 10 and sum(100 <= s < 200 for s in steps) == 15
    with pytest.raises(ValueError, match="cannot divide"):
        D.space_timesteps(10, "11")
    with pytest.raises(ValueError, match="integer stride"):
        D.space_timesteps(1000, "ddim999")


def test_linear_and_cosine_betas():
    betas = D.named_beta_schedule("linear", 1000)
    abar = np.cumprod(1 - betas)
    assert betas[0] == 1e-4 and betas[-1] == 0.02
    np.testing.assert_allclose(abar[-1], 4.036e-5, rtol=1e-3)
    cos = D.named_beta_schedule("cosine", 50)
    f = lambda t: np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2
    ab = np.cumprod(1 - cos)
    np.testing.assert_allclose(ab[:-1], (f(np.arange(1, 51) / 50) / f(0))[:-1], rtol=1e-10)
    with pytest.raises(ValueError, match="unknown beta schedule"):
        D.named_beta_schedule("quadratic", 10)


def test_respaced_alphas_cumprod_are_the_kept_ones():
    base = np.cumprod(1 - D.named_beta_schedule("linear", 1000))
    sched = D.make_schedule(1000, "linear", "ddim20")
    np.testing.assert_allclose(np.asarray(sched.alphas_cumprod), base[::50], rtol=1e-6)
    assert float(sched.alphas_cumprod_prev[0]) == 1.0


def test_posterior_mean_and_variance_are_gaussian_conditioning():
    sched = D.make_schedule(1000, "linear", "50")
    betas = np.asarray(sched.betas, np.float64)
    abar = np.cumprod(1 - betas)
    abar_prev = np.append(1.0, abar[:-1])
    x0, xt = 0.3, -1.2
    for t in [1, 7, 49]:
        # x_{t-1} ~ N(sqrt(abar_prev) x0, 1 - abar_prev); x_t | x_{t-1} ~ N(sqrt(alpha) x_{t-1}, beta)
        prec = 1 / (1 - abar_prev[t]) + (1 - betas[t]) / betas[t]
        mean = (np.sqrt(abar_prev[t]) * x0 / (1 - abar_prev[t]) + np.sqrt(1 - betas[t]) * xt / betas[t]) / prec
        got = D.q_posterior_mean(sched, jnp.float32(x0), jnp.float32(xt), t)
        np.testing.assert_allclose(float(got), mean, rtol=1e-5)
        np.testing.assert_allclose(float(sched.posterior_variance[t]), 1 / prec, rtol=1e-5)
    # log variance clipped: entry 0 repeats entry 1
    assert float(sched.posterior_log_variance_clipped[0]) == float(sched.posterior_log_variance_clipped[1])


def test_learned_range_endpoints_and_fixed_variances():
    sched = D.make_schedule(1000, "linear", "100")
    t = 10
    one = jnp.ones(())
    np.testing.assert_allclose(D.model_log_variance(sched, t, one, "learned_range"), np.log(sched.betas[t]), rtol=1e-6)
    np.testing.assert_allclose(D.model_log_variance(sched, t, -one, "learned_range"),
                               np.log(sched.posterior_variance[t]), rtol=1e-5)
    np.testing.assert_allclose(D.model_log_variance(sched, t, None, "fixed_large"), np.log(sched.betas[t]), rtol=1e-6)
    with pytest.raises(ValueError, match="2C output channels"):
        D.model_log_variance(sched, t, None, "learned_range")


def test_ddim_eta_one_noise_is_posterior_std_and_x0_roundtrip():
    sched = D.make_schedule(1000, "linear", "ddim20")
    x = jnp.full((2, 2, 1), 0.7)
    x0 = jnp.full((2, 2, 1), -0.2)
    z = jnp.ones((2, 2, 1))
    for t in [3, 19]:
        det = D.ddim_step(sched, x, t, x0, 0 * z, eta=1.0)
        noisy = D.ddim_step(sched, x, t, x0, z, eta=1.0)
        np.testing.assert_allclose(noisy - det, np.sqrt(sched.posterior_variance[t]) * z, rtol=1e-4)
        eps = D.predict_eps_from_x0(sched, x, t, x0)
        np.testing.assert_allclose(D.predict_x0_from_eps(sched, x, t, eps), x0, atol=1e-5)
    # no noise at t = 0; clipping of x0
    assert float(jnp.abs(D.ddim_step(sched, x, 0, x0, z, eta=1.0) - x0).max()) < 1e-6
    assert float(D.predict_x0_from_eps(sched, x * 10, 5, 0 * x, clip=True).max()) == 1.0


def test_annealing_schedule_matches_spgd_fixture(fixtures_dir):
    ref = np.load(fixtures_dir / "spgd" / "spgd_tiny_sr4.npz")
    spec = json.loads((fixtures_dir / "spgd" / "spgd_tiny_sr4.json").read_text())["annealing"]
    sch = D.annealing_schedule(**spec)
    np.testing.assert_allclose(sch.sigma_steps, ref["sigma_steps"], rtol=1e-12)
    np.testing.assert_allclose(sch.factor_steps, ref["factor_steps"], rtol=1e-12)
    # note values: N = 200 starts 100, 97.814, ... ends 0.1, 0
    s200 = D.annealing_schedule(200, 100, 0.1, 0.0).sigma_steps
    np.testing.assert_allclose(s200[[0, 1, 198, 199, 200]], [100, 97.814, 0.1061, 0.1, 0], atol=6e-4)
    log = D.annealing_schedule(3, 10.0, 0.1, 0.1, schedule="sqrt", timestep="log")
    np.testing.assert_allclose(log.sigma_steps, [10, 1, 0.1, 0.1], rtol=1e-12)


def test_vp_precond_c_noise_and_inverse():
    pre = D.VPPrecond()
    sig = jnp.array([100.0, 10.0, 1.0, 0.1, 0.01])
    np.testing.assert_allclose(pre.c_noise(sig), [956.1, 675.4, 258.7, 26.97, 0.915], rtol=2e-3)
    np.testing.assert_allclose(pre.sigma(pre.sigma_inv(sig)), sig, rtol=1e-4)


def test_vp_precond_denoiser_recovers_gaussian_posterior():
    # an eps model that knows the VP continuous-time marginal of a Gaussian prior N(m, c):
    m, c, pre = 0.4, 0.25, D.VPPrecond()

    def eps_model(x, t):  # x = x_t / ... at VP time t; abar = 1/(1 + sigma(t)^2)
        s = pre.sigma(t / (pre.M - 1))
        abar = 1 / (1 + s ** 2)
        return jnp.concatenate([jnp.sqrt(1 - abar) * (x - jnp.sqrt(abar) * m) / (abar * c + 1 - abar)] * 2, -1)

    den = pre.denoiser(eps_model)
    x, sigma = jnp.full((1, 1, 1), 2.0), 0.8
    np.testing.assert_allclose(den(x, sigma), m + c / (c + sigma ** 2) * (2.0 - m), rtol=1e-4)


def test_eps_model_from_gaussian_denoiser_is_exact():
    abar = D.base_alphas_cumprod()
    m, c = -0.3, 0.5
    eps_model = D.eps_model_from_denoiser(D.gaussian_denoiser(m, c), abar)
    t, x = 400, jnp.array([[[0.9]]])
    a = abar[t]
    expected = np.sqrt(1 - a) * (0.9 - np.sqrt(a) * m) / (a * c + 1 - a)
    np.testing.assert_allclose(eps_model(x, t), expected, rtol=1e-4)


def test_gaussian_mixture_denoiser_matches_quadrature():
    w, means, var = np.array([0.3, 0.7]), np.array([[-1.0], [0.8]]), np.array([[0.1], [0.3]])
    den = D.gaussian_mixture_denoiser(w, means, var)
    grid = np.linspace(-6, 6, 200001)
    prior = sum(wk * np.exp(-(grid - mk) ** 2 / (2 * vk)) / np.sqrt(2 * np.pi * vk)
                for wk, mk, vk in zip(w, means[:, 0], var[:, 0]))
    for x, sigma in [(0.2, 0.5), (-2.0, 1.5)]:
        post = prior * np.exp(-(x - grid) ** 2 / (2 * sigma ** 2))
        ref = (grid * post).sum() / post.sum()
        np.testing.assert_allclose(float(den(jnp.array([x]), sigma)[0]), ref, rtol=1e-4)
