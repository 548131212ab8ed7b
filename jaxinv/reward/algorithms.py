"""Algorithms 1 and 2 of GGDM (GGDMOptim `main.py:optimize`).

Algorithm 1, per round k and per sample i (each sample is its own optimisation chain):
    g_i = ∇f(z_i),  y_i = δ + g_iᵀ z_i  (target of the linearised reward f(z_i) + g_iᵀ(x − z_i)),
    z_i ← guided DDPM sample with G / G_loss towards gᵀx̂₀ = y.
Algorithm 2 adds, before sampling in rounds k ≥ `ft_start_round`, one Adam(b2 = 0.99) step of the
ε-MSE loss on the current batch z (random t ~ U{0..T−1} and ε per sample); the optimiser state
persists across rounds. Round 0 is the unguided batch.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxinv.reward.guidance import GuidanceConfig, guided_sample_batch
from jaxinv.reward.schedule import CosineSchedule


class RoundMetrics(NamedTuple):
    reward: jnp.ndarray        # batch mean f(z)
    ratio: jnp.ndarray         # batch mean off-support ratio
    top_k_reward: jnp.ndarray  # mean f over the top-k samples
    top_k_ratio: jnp.ndarray   # their mean ratio
    mean_target: jnp.ndarray   # mean y used to produce this batch (0 for round 0)
    nonfinite: jnp.ndarray     # samples with a non-finite coordinate


def round_metrics(reward, ratio, z, y, top_k: int = 4) -> RoundMetrics:
    r = jax.vmap(reward)(z)
    q = jax.vmap(ratio)(z)
    k = min(top_k, z.shape[0])
    _, idx = jax.lax.top_k(r, k)
    return RoundMetrics(jnp.mean(r), jnp.mean(q), jnp.mean(r[idx]), jnp.mean(q[idx]), jnp.mean(y),
                        jnp.sum(~jnp.all(jnp.isfinite(z), axis=1)))


def targets(reward, z, delta):
    """g_i = ∇f(z_i), y_i = δ + g_iᵀz_i for a batch z (B, D)."""
    g = jax.vmap(jax.grad(reward))(z)
    return g, delta + jnp.sum(g * z, axis=1)


def algorithm1_round(eps_fn, params, sched, cfg: GuidanceConfig, reward, delta, z, x_T, noises):
    """One round of Algorithm 1 from the batch z with start x_T (B, D) and noises (T, B, D)."""
    g, y = targets(reward, z, delta)
    return guided_sample_batch(eps_fn, params, sched, cfg, x_T, noises, g, y), y


def unguided_batch(eps_fn, params, sched, x_T, noises):
    """Round 0: plain DDPM sampling of the batch."""
    B = x_T.shape[0]
    zeros = jnp.zeros((B,), x_T.dtype)
    return guided_sample_batch(eps_fn, params, sched, GuidanceConfig("none"), x_T, noises,
                               jnp.zeros_like(x_T), zeros)


def eps_loss(eps_fn, params, sched: CosineSchedule, x0, key):
    """mean‖ε̂(√ᾱ_t x₀ + √h_t ε, t) − ε‖² over batch and coordinates, t ~ U{0..T−1} per sample."""
    kt, kn = jax.random.split(key)
    t = jax.random.randint(kt, (x0.shape[0],), 0, sched.num_steps)
    noise = jax.random.normal(kn, x0.shape, x0.dtype)
    xt = sched.sqrt_alphas_cumprod[t][:, None] * x0 + sched.sqrt_one_minus_alphas_cumprod[t][:, None] * noise
    pred = eps_fn(params, xt, t)   # every ε-model here accepts a batch (B, D) with steps (B,)
    return jnp.mean((pred - noise) ** 2)


def adam(lr: float) -> optax.GradientTransformation:
    """torch.optim.Adam(lr, betas=(0.9, 0.99)) as in the reference pretraining and fine-tuning."""
    return optax.adam(lr, b1=0.9, b2=0.99, eps=1e-8)


class RunState(NamedTuple):
    params: object
    opt_state: object
    z: jnp.ndarray
    key: jax.Array


def make_round_step(eps_fn: Callable, sched: CosineSchedule, cfg: GuidanceConfig, reward, ratio,
                    delta: float, batch: int, dim: int, finetune_lr: float | None = None,
                    ft_start_round: int = 0, ft_rounds: int | None = None, top_k: int = 4):
    """Returns (init, step) for one seed; `step(state, k)` runs round k ≥ 1 (Alg. 1, or Alg. 2 if
    `finetune_lr` is set). `init(params, key)` draws round 0 (unguided)."""
    T = sched.num_steps
    opt = adam(finetune_lr) if finetune_lr is not None else None

    def draws(key):
        k1, k2 = jax.random.split(key)
        return jax.random.normal(k1, (batch, dim)), jax.random.normal(k2, (T, batch, dim))

    def init(params, key):
        key, sub = jax.random.split(key)
        x_T, noises = draws(sub)
        z = unguided_batch(eps_fn, params, sched, x_T, noises)
        opt_state = opt.init(params) if opt is not None else None
        return RunState(params, opt_state, z, key), round_metrics(reward, ratio, z, jnp.zeros(batch), top_k)

    def step(state: RunState, k):
        key, k_ft, k_draw = jax.random.split(state.key, 3)
        params, opt_state = state.params, state.opt_state
        if opt is not None:
            def finetune(po):
                p, o = po
                grads = jax.grad(lambda q: eps_loss(eps_fn, q, sched, state.z, k_ft))(p)
                updates, o = opt.update(grads, o, p)
                return optax.apply_updates(p, updates), o
            active = k - 1 >= ft_start_round
            if ft_rounds is not None:
                active &= k - 1 < ft_start_round + ft_rounds
            params, opt_state = jax.lax.cond(active, finetune, lambda po: po, (params, opt_state))
        x_T, noises = draws(k_draw)
        z, y = algorithm1_round(eps_fn, params, sched, cfg, reward, delta, state.z, x_T, noises)
        return RunState(params, opt_state, z, key), round_metrics(reward, ratio, z, y, top_k)

    return init, step
