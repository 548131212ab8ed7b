"""Simulation data, rewards and off-support ratios of GGDMOptim (`train.py`, `test_func.py`, `main.py`).

Linear-latent data: x = Aᵀz, z ~ N(0, I_d), A (d×D) with orthonormal rows loaded from the committed
`hyperparameters.npz` (it cannot be regenerated from a seed). Unit-sphere data: x = n/‖n‖, n ~ N(0, I_D).
Rewards (one sample x of shape (D,) → scalar):
  quadratic  f₁(x) = 10 − (θᵀx − 3)²   (θ = θ₂, or θ₁ = Aᵀβ*)
  negnormplus f₂(x) = 5 − 0.5‖x − b‖  (b = b₂, or b₁ = 4·1)
  linear     θᵀx                       (unit sphere)
Ratios: ‖x⊥‖/(‖x∥‖ + 1e-8), x∥ = x AᵀA (linear latent); ‖x‖ − 1 (unit sphere).
"""
from __future__ import annotations

import os
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

REWARDS = ("quadratic_theta1", "quadratic_theta2", "negnormplus_b1", "negnormplus_b2", "linear")


class Problem(NamedTuple):
    """One simulation: data sampler, reward, ratio and the projector (None for the sphere)."""
    data: str
    dim: int
    reward: Callable[[jnp.ndarray], jnp.ndarray]
    ratio: Callable[[jnp.ndarray], jnp.ndarray]
    sample_data: Callable[[jax.Array, int], jnp.ndarray]
    A: np.ndarray | None


def load_linear_latent(path: str | os.PathLike) -> dict:
    """The committed linear-latent hyperparameters: A (d, D), theta_1, theta_2 (D,), b_1 (D,), b_2 (D,)."""
    with np.load(path) as f:
        missing = {"A", "theta_1", "theta_2", "b_1", "b_2"} - set(f.files)
        if missing:
            raise ValueError(f"{path} is not a linear-latent hyperparameter file: missing {sorted(missing)}")
        A = np.asarray(f["A"], np.float64)
        D = A.shape[1]
        return {"A": A, "theta_1": f["theta_1"].reshape(D), "theta_2": f["theta_2"].reshape(D),
                "b_1": np.broadcast_to(f["b_1"], (D,)).astype(np.float64), "b_2": f["b_2"].reshape(D)}


def load_unit_ball(path: str | os.PathLike) -> dict:
    """The committed unit-sphere hyperparameters: theta (D,)."""
    with np.load(path) as f:
        if "theta" not in f.files:
            raise ValueError(f"{path} is not a unit-ball hyperparameter file: no 'theta'")
        return {"theta": np.asarray(f["theta"], np.float64).reshape(-1)}


def quadratic(theta) -> Callable:
    """f₁(x) = 10 − (θᵀx − 3)²."""
    theta = jnp.asarray(theta, jnp.float32)
    return lambda x: 10.0 - (jnp.dot(x, theta) - 3.0) ** 2


def negnormplus(b) -> Callable:
    """f₂(x) = 5 − 0.5‖x − b‖."""
    b = jnp.asarray(b, jnp.float32)
    return lambda x: 5.0 - 0.5 * jnp.linalg.norm(x - b)


def linear(theta) -> Callable:
    """f(x) = θᵀx."""
    theta = jnp.asarray(theta, jnp.float32)
    return lambda x: jnp.dot(x, theta)


def subspace_ratio(A) -> Callable:
    """‖x⊥‖/(‖x∥‖ + 1e-8) with x∥ = AᵀA x (the reference `off_support_ratio`)."""
    P = jnp.asarray(A.T @ A, jnp.float32)

    def ratio(x):
        par = P @ x
        return jnp.linalg.norm(x - par) / (jnp.linalg.norm(par) + 1e-8)
    return ratio


def sphere_ratio(x):
    """‖x‖ − 1 (signed)."""
    return jnp.linalg.norm(x) - 1.0


def reward_fn(name: str, hyper: dict) -> Callable:
    """The reward called `name` (one of REWARDS) built from loaded hyperparameters."""
    table = {"quadratic_theta1": lambda: quadratic(hyper["theta_1"]),
             "quadratic_theta2": lambda: quadratic(hyper["theta_2"]),
             "negnormplus_b1": lambda: negnormplus(hyper["b_1"]),
             "negnormplus_b2": lambda: negnormplus(hyper["b_2"]),
             "linear": lambda: linear(hyper["theta"])}
    if name not in table:
        raise ValueError(f"unknown reward {name!r}; expected one of {REWARDS}")
    try:
        return table[name]()
    except KeyError as e:
        raise ValueError(f"reward {name!r} needs {e.args[0]!r}, absent from the loaded hyperparameters") from None


def make_problem(data: str, reward: str, hyperparameters: str | os.PathLike) -> Problem:
    """Builds the linear-latent or unit-sphere problem from a hyperparameter `.npz`."""
    if data == "linear_latent":
        hyper = load_linear_latent(hyperparameters)
        if reward == "linear":
            raise ValueError("reward 'linear' belongs to the unit_ball data")
        A = hyper["A"]
        A32 = jnp.asarray(A, jnp.float32)

        def sample(key, n):
            return jax.random.normal(key, (n, A.shape[0])) @ A32
        return Problem(data, A.shape[1], reward_fn(reward, hyper), subspace_ratio(A), sample, A)
    if data == "unit_ball":
        hyper = load_unit_ball(hyperparameters)
        if reward != "linear":
            raise ValueError(f"unit_ball data takes reward 'linear', got {reward!r}")
        D = hyper["theta"].shape[0]

        def sample(key, n):
            x = jax.random.normal(key, (n, D))
            return x / jnp.linalg.norm(x, axis=1, keepdims=True)
        return Problem(data, D, reward_fn(reward, hyper), sphere_ratio, sample, None)
    raise ValueError(f"unknown data {data!r}; expected 'linear_latent' or 'unit_ball'")
