"""Exact posteriors: closed forms against brute force, and every solver on a Gaussian prior (d = 20)."""
import numpy as np
import pytest

from jaxinv.solvers.gaussian_posterior import (gaussian_posterior, mixture_moments, mixture_posterior, sample_mixture,
                                               sliced_wasserstein)

N = 400
D = 20
STEPS = (10, 100)
CONDITIONAL = ("dps", "codps", "codps+", "spgd", "ddrm", "ddnm+", "pgdm", "reddiff", "daps")
EXACT_DATA_STEP = ("diffpir",)


def test_mixture_posterior_matches_quadrature_in_1d():
    """1-D prior 0.3 N(-1, 0.2) + 0.7 N(1.5, 0.5), y = 2 x + 0.3 n: weights/moments by numerical integration."""
    w, mu, c = np.array([0.3, 0.7]), np.array([[-1.0], [1.5]]), np.array([[0.2], [0.5]])
    a, y, s = np.array([[2.0]]), np.array([0.4]), 0.3
    grid = np.linspace(-8, 8, 200001)
    prior = sum(wk * np.exp(-0.5 * (grid - m[0]) ** 2 / v[0]) / np.sqrt(2 * np.pi * v[0]) for wk, m, v in zip(w, mu, c))
    post = prior * np.exp(-0.5 * (y[0] - 2.0 * grid) ** 2 / s ** 2)
    post /= np.trapezoid(post, grid)
    mean = np.trapezoid(grid * post, grid)
    var = np.trapezoid((grid - mean) ** 2 * post, grid)
    pw, pm, pc = mixture_posterior(w, mu, c, a, y, s)
    got_mean, got_var = mixture_moments(pw, pm, pc)
    np.testing.assert_allclose([got_mean[0], got_var[0]], [mean, var], rtol=1e-6)
    m1, c1 = gaussian_posterior(mu[1], c[1], a, y, s)
    np.testing.assert_allclose([m1[0], c1[0, 0]], [(1.5 / 0.5 + 2 * 0.4 / 0.09) / (1 / 0.5 + 4 / 0.09),
                                                  1 / (1 / 0.5 + 4 / 0.09)], rtol=1e-12)


def test_sliced_wasserstein_of_shifted_gaussians():
    """SW_2 between N(0, I) and N(delta, I) is |delta| sqrt(E theta_1^2) = |delta| / sqrt(d) for a shift along e_1."""
    rng = np.random.default_rng(0)
    d, n = 4, 20000
    a = rng.standard_normal((n, d))
    b = rng.standard_normal((n, d)) + np.array([2.0, 0, 0, 0])
    assert abs(sliced_wasserstein(rng, a, b, 2000) - 2.0 / np.sqrt(d)) < 0.03
    cov = np.array([[[1.0, 0.5], [0.5, 2.0]]])
    draws = sample_mixture(rng, np.ones(1), np.zeros((1, 2)), cov, 50000)
    np.testing.assert_allclose(np.cov(draws.T), cov[0], atol=0.05)


@pytest.fixture(scope="module")
def gaussian_results():
    from experiments.posterior_bench import UNCONDITIONAL, evaluate, make_problem, solver_samples

    problem = make_problem("gaussian", D, "random", seed=D)
    results = {}
    for name in ("ddpm", "euler") + CONDITIONAL + EXACT_DATA_STEP:
        for steps in (STEPS[1],) if name in UNCONDITIONAL else STEPS:
            samples = solver_samples(problem, name, steps, N, seed=0)
            results[name, steps] = evaluate(problem, samples, name in UNCONDITIONAL, seed=0)
    return results


def test_unconditional_samplers_reproduce_the_prior(gaussian_results):
    # measured (d=20, n=400, 100 steps): ddpm mean 0.019 / var 0.11; euler mean 0.019 / var 0.08;
    # the sampling error of a 400-sample mean of variance 0.25 alone is 0.025 RMS
    for name in ("ddpm", "euler"):
        r = gaussian_results[name, STEPS[1]]
        assert r["mean_err"] < 0.05 and r["var_err"] < 0.2 and r["sw"] < 0.09, (name, r)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_posterior_mean_error_falls_with_steps(gaussian_results, name):
    coarse, fine = gaussian_results[name, STEPS[0]], gaussian_results[name, STEPS[1]]
    assert fine["mean_err"] < 0.8 * coarse["mean_err"], (coarse, fine)
    assert fine["mean_err"] < FINE_MEAN_BOUND[name], fine


# measured mean RMS errors at 100 steps (d=20, random A, n=400): see docs/posterior_bench.md
FINE_MEAN_BOUND = {"dps": 0.05, "codps": 0.06, "codps+": 0.07, "spgd": 0.05, "ddrm": 0.03, "ddnm+": 0.03,
                   "pgdm": 0.04, "reddiff": 0.04, "daps": 0.12}


@pytest.mark.parametrize("name", EXACT_DATA_STEP)
def test_exact_data_step_reaches_the_posterior_mean(gaussian_results, name):
    """The closed-form data step puts the mean near the posterior's from few steps on (measured, DiffPIR:
    0.014 at 10 steps, 0.026 at 100 with these draws, 0.010 / 0.012 with others: about the error of a
    400-sample mean, 0.016-0.025 here); the spread still improves with steps (SW 0.085 -> 0.049)."""
    coarse, fine = gaussian_results[name, STEPS[0]], gaussian_results[name, STEPS[1]]
    assert max(coarse["mean_err"], fine["mean_err"]) < 0.035, (coarse, fine)
    assert fine["sw"] < 0.7 * coarse["sw"], (coarse, fine)


def test_posterior_statistics_are_in_monte_carlo_units():
    """Exact draws: mean and std errors about 1 standard error (RMS over d coordinates), 90% intervals
    hold 90% of fresh exact draws; a mean shifted by 4 standard errors or a std halved shows."""
    from experiments.posterior_bench import posterior_statistics

    rng = np.random.default_rng(0)
    d, k = 200, 400
    mean, var = rng.standard_normal(d), rng.uniform(0.1, 1.0, d)
    draw = lambda n: mean + np.sqrt(var) * rng.standard_normal((n, d))  # noqa: E731
    exact = posterior_statistics(draw(k), mean, var, draw(k))
    assert 0.85 < exact["mean_z"] < 1.15 and 0.85 < exact["std_z"] < 1.15, exact
    assert abs(exact["cov90"] - 0.9) < 0.01, exact
    shifted = posterior_statistics(draw(k) + 4 * np.sqrt(var / k), mean, var, draw(k))
    assert shifted["mean_z"] > 3.5 and abs(shifted["std_z"] - exact["std_z"]) < 0.3, shifted
    narrow = posterior_statistics(mean + 0.5 * (draw(k) - mean), mean, var, draw(k))
    assert narrow["std_z"] > 10 and narrow["cov90"] < 0.65, narrow
