"""Score models for the simulations and their DDPM pretraining (GGDMOptim `main.py:pretrain`).

Pretraining: Adam(lr, b1 0.9, b2 0.99), ε-MSE loss with t ~ U{0..T−1}, x_t = √ᾱ_t x₀ + √h_t ε,
batches taken in order from a fixed set of N samples (the reference DataLoader does not shuffle).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.reward.algorithms import adam, eps_loss
from jaxinv.reward.mlp import MLPScore
from jaxinv.reward.oracle import oracle_eps, oracle_params
from jaxinv.reward.schedule import CosineSchedule
from jaxinv.reward.unet1d import Unet1D

SCORE_MODELS = ("oracle", "mlp", "unet")


def build_score(kind: str, sched: CosineSchedule, dim: int, key, A=None, mlp_hidden=(512, 512, 512),
                mlp_skip: bool = True, unet_dim: int = 64,
                unet_mults=(1, 2, 4, 8)) -> tuple[Callable, object]:
    """(eps_fn, params) with eps_fn(params, x (D,), t) → ε̂ (D,) for 'oracle', 'mlp' or 'unet'."""
    if kind == "oracle":
        if A is None:
            raise ValueError("the oracle score exists only for linear_latent data (needs A)")
        return functools.partial(oracle_eps, sched=sched), oracle_params(A)
    if kind == "mlp":
        model = MLPScore(tuple(mlp_hidden), skip=mlp_skip,
                         sqrt_one_minus_abar=tuple(np.asarray(sched.sqrt_one_minus_alphas_cumprod).tolist()))
    elif kind == "unet":
        model = Unet1D(unet_dim, tuple(unet_mults))
    else:
        raise ValueError(f"unknown score model {kind!r}; expected one of {SCORE_MODELS}")
    params = model.init(key, jnp.zeros((1, dim)), jnp.zeros((1,), jnp.int32))["params"]
    return (lambda p, x, t: model.apply({"params": p}, x, t)), params


def pretrain(eps_fn, params, sched: CosineSchedule, data, key, epochs: float, batch: int, lr: float,
             chunk: int = 256, progress: bool = True):
    """Adam on the ε-loss over `data` (N, D) in fixed batch order; returns (params, losses per step)."""
    data = jnp.asarray(data, jnp.float32)
    nb = data.shape[0] // batch
    if nb == 0:
        raise ValueError(f"batch {batch} is larger than the data set ({data.shape[0]})")
    total = int(round(epochs * nb))
    opt = adam(lr)
    opt_state = opt.init(params)

    @jax.jit
    def run_chunk(params, opt_state, key, start):
        def step(carry, i):
            p, o, k = carry
            k, sub = jax.random.split(k)
            x0 = jax.lax.dynamic_slice_in_dim(data, ((start + i) % nb) * batch, batch)
            loss, grads = jax.value_and_grad(lambda q: eps_loss(eps_fn, q, sched, x0, sub))(p)
            updates, o = opt.update(grads, o, p)
            return (optax.apply_updates(p, updates), o, k), loss
        (p, o, k), losses = jax.lax.scan(step, (params, opt_state, key), jnp.arange(chunk))
        return p, o, k, losses

    losses = []
    it = range(0, total, chunk)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="pretrain", unit=f"x{chunk} steps")
    for start in it:
        params, opt_state, key, l = run_chunk(params, opt_state, key, start)
        losses.append(np.asarray(l))
    return params, np.concatenate(losses)[:total] if losses else np.zeros(0)


def eps_mse_at(eps_fn, params, sched, data, t: int, key) -> float:
    """ε-MSE at one step t over `data` (diagnostic: the first reverse step amplifies it ≈32×)."""
    x0 = jnp.asarray(data, jnp.float32)
    noise = jax.random.normal(key, x0.shape)
    xt = sched.sqrt_alphas_cumprod[t] * x0 + sched.sqrt_one_minus_alphas_cumprod[t] * noise
    pred = jax.vmap(lambda x: eps_fn(params, x, t))(xt)
    return float(jnp.mean((pred - noise) ** 2))
