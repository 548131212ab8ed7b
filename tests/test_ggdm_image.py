"""Reward guidance on pixel-space priors, checked on a Gaussian image prior with closed-form ε."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv.reward.image_guidance import (ddpm_arrays, fixed_target_eps, fixed_target_round, guided_eps_images,
                                          iterative_round)
from jaxinv.reward.schedule import make_schedule

SHAPE = (4, 4, 1)
rng = np.random.default_rng(0)
MU = rng.normal(size=SHAPE).astype(np.float32) * 0.3
VAR = rng.uniform(0.05, 0.5, size=SHAPE).astype(np.float32)
SCHED = make_schedule(40)
ABAR = SCHED.alphas_cumprod


def gaussian_eps(x, t):
    """x₀ ~ N(μ, diag v): E[ε | x_t] = √h (x_t − √ᾱ μ)/(ᾱ v + h)."""
    a = ABAR[t].reshape(-1, 1, 1, 1)
    return jnp.sqrt(1 - a) * (x - jnp.sqrt(a) * MU) / (a * VAR + 1 - a)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_guided_eps_closed_form(version):
    x = jnp.asarray(rng.normal(size=(2,) + SHAPE), jnp.float32)
    g = jnp.asarray(rng.normal(size=(2,) + SHAPE), jnp.float32)
    y = jnp.array([0.3, -1.0])
    t = 17
    a, h = float(ABAR[t]), 1 - float(ABAR[t])
    eps = np.asarray(gaussian_eps(x, jnp.full((2,), t)))
    s = -eps / math.sqrt(h)
    x0 = (np.asarray(x) + h * s) / math.sqrt(a)
    gn = np.asarray(g)
    val = (x0 * gn).sum((1, 2, 3))
    if version == "v1":
        beta = math.sqrt(a) / (0.01 + h * (gn ** 2).sum((1, 2, 3)))
        G = s + (beta * (np.asarray(y) - val))[:, None, None, None] * gn
    else:
        grad = math.sqrt(a) * VAR / (a * VAR + h) * gn            # ∂(gᵀx̂₀)/∂x_t for the Gaussian prior
        beta = (a / 2) / (a * 0.01 + h * (grad ** 2).sum((1, 2, 3)))
        G = s - (beta * 2 * (val - np.asarray(y)))[:, None, None, None] * grad
    got = guided_eps_images(gaussian_eps, x, t, ABAR[t], g, y, version)
    np.testing.assert_allclose(np.asarray(got), -G * math.sqrt(h), rtol=1e-4, atol=1e-4)


def test_fixed_target_gradient_and_original_broadcast():
    B = 3
    x = jnp.asarray(rng.normal(size=(B,) + SHAPE), jnp.float32)
    g = jnp.asarray(rng.normal(size=(B,) + SHAPE), jnp.float32)
    r, gz = jnp.array([0.5, 1.0, 2.0]), jnp.array([0.1, -0.2, 0.3])
    t, target, strength = 11, 4.0, 2.0
    a, h = float(ABAR[t]), 1 - float(ABAR[t])
    eps = np.asarray(gaussian_eps(x, jnp.full((B,), t)))
    x0 = (np.asarray(x) - math.sqrt(h) * eps) / math.sqrt(a)
    lin = (np.asarray(g) * x0).sum((1, 2, 3))
    J = (math.sqrt(a) * VAR / (a * VAR + h)) * np.asarray(g)   # ∂⟨g, x̂₀⟩/∂x_t
    per = (lin + np.asarray(r - gz) - target)[:, None, None, None] * J
    got = fixed_target_eps(gaussian_eps, x, t, ABAR[t], g, r - gz, target, strength)
    np.testing.assert_allclose(np.asarray(got), eps + math.sqrt(h) * strength * per, rtol=1e-4, atol=1e-5)
    # the original (B,B) broadcast: batch-mean reward r̄ and a 1/B factor
    coupled = ((lin - np.asarray(gz) + float(r.mean()) - target) / B)[:, None, None, None] * J
    got = fixed_target_eps(gaussian_eps, x, t, ABAR[t], g, (r, gz), target, strength, batch_coupled=True)
    np.testing.assert_allclose(np.asarray(got), eps + math.sqrt(h) * strength * coupled, rtol=1e-4, atol=1e-5)


def _draws(key, B, K):
    k1, k2 = jax.random.split(key)
    return jax.random.normal(k1, (B,) + SHAPE), jax.random.normal(k2, (K, B) + SHAPE)


def test_unguided_sampler_reaches_the_gaussian_prior():
    arrays = ddpm_arrays(ABAR)
    x_T, noises = _draws(jax.random.PRNGKey(0), 4000, 40)
    zero = jnp.zeros((4000,) + SHAPE)
    z = fixed_target_round(gaussian_eps, lambda im: jnp.sum(im), arrays, zero, 0.0, 1.0, x_T, noises, first=True)
    # exact law of the discrete chain: with the Gaussian ε each step is x ← A_t x + b_t + σ_t n
    abar = np.asarray(ABAR, np.float64)
    m, var = np.zeros(SHAPE), np.ones(SHAPE)
    for t in range(39, -1, -1):
        a, ap = abar[t], (abar[t - 1] if t > 0 else 1.0)
        beta = 1 - a / ap
        k = (1 - (1 - a) / (a * VAR + 1 - a)) / math.sqrt(a)         # x̂₀ = k x_t + c
        c = (1 - a) / (a * VAR + 1 - a) * MU
        c1, c2 = beta * math.sqrt(ap) / (1 - a), (1 - ap) * math.sqrt(1 - beta) / (1 - a)
        m, var = (c1 * k + c2) * m + c1 * c, (c1 * k + c2) ** 2 * var + (beta * (1 - ap) / (1 - a) if t > 0 else 0.0)
    n = 4000
    assert np.all(np.abs(np.asarray(z.mean(0)) - m) < 5 * np.sqrt(var / n))
    assert np.all(np.abs(np.asarray(z.var(0)) / var - 1) < 5 * math.sqrt(2 / n))
    assert np.all(np.abs(var / VAR - 1) < 0.3)            # and that law is near the prior


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_iterative_scheme_raises_a_linear_reward(version):
    w = jnp.asarray(rng.normal(size=SHAPE), jnp.float32)
    reward = lambda im: jnp.sum(w * im)
    arrays = ddpm_arrays(ABAR)
    B, K = 64, 40
    key = jax.random.PRNGKey(1)
    x_T, noises = _draws(key, B, K)
    z = fixed_target_round(gaussian_eps, reward, arrays, jnp.zeros((B,) + SHAPE), 0.0, 1.0, x_T, noises, first=True)
    r0 = float(jax.vmap(reward)(z).mean())
    step = jax.jit(lambda z, x, n: iterative_round(gaussian_eps, reward, arrays, z, 0.5, x, n, version))
    for k in range(3):
        x_T, noises = _draws(jax.random.fold_in(key, k + 1), B, K)
        z = step(z, x_T, noises)
    r3 = float(jax.vmap(reward)(z).mean())
    assert r3 > r0 + 0.5, (r0, r3)   # three rounds of δ = 0.5 on a linear reward
