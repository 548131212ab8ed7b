"""The shared solver driver: one `jax.lax.scan` over the sampling steps.

A solver is a `Solver(step, init, output)`: `init(x_T) -> carry`, `step(carry, xs) -> (carry, aux)`
and `output(carry) -> sample`. `xs` holds everything that changes per step (the respaced timestep
and the recorded or freshly drawn noise), so the original code's recorded noise can be replayed
and a seed sweep is a `jax.vmap` over keys. All of it works on ONE sample; batch with `jax.vmap`
(`axis_name=BATCH_AXIS` when a solver couples the batch, e.g. DPS's `batch_norm` flag).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.progress import traced_report

BATCH_AXIS = "batch"


def inner_unroll(length: int) -> int:
    """`lax.scan`'s `unroll` for a loop of network calls inside one sampling step: all of it on the CPU,
    where XLA runs a while-loop body about 2x slower than the same operations unrolled
    (docs/benchmarks.md), none elsewhere (an unrolled loop compiles `length` copies of the network)."""
    return max(int(length), 1) if jax.default_backend() == "cpu" else 1


def _identity(x):
    return x


class Solver(NamedTuple):
    """`step(carry, xs) -> (carry, aux)`; `init(x_init) -> carry` and `output(carry) -> sample` are the
    identity unless the carry holds more than the iterate."""
    step: Callable[[Any, Any], tuple[Any, dict]]
    init: Callable[[jax.Array], Any] = _identity
    output: Callable[[Any], jax.Array] = _identity


def gaussian_noise_sigma(config, what: str) -> float:
    """The measurement noise sigma ([-1, 1] units) of a config whose noise model must be Gaussian."""
    if config.noise.name != "gaussian":
        raise ValueError(f"{what} needs Gaussian noise, not {config.noise.name!r}")
    return float(config.noise.params["sigma"])


def step_draws(xs: dict, shape) -> jax.Array:
    """A step's standard normal draws: the recorded `xs["z"]` (replays) or drawn from its `xs["key"]`
    (sampling: drawing every step's noise up front would hold steps x shape floats)."""
    return xs["z"] if "z" in xs else jax.random.normal(xs["key"], tuple(shape))


def reverse_steps(num_steps: int) -> jax.Array:
    """Respaced indices in sampling order: N-1, ..., 0 (k = 0 is the first, noisiest step)."""
    return jnp.arange(num_steps - 1, -1, -1, dtype=jnp.int32)


def step_noise(key_or_noise, num_steps: int, shape) -> jax.Array:
    """(N, *shape) standard normal draws, one per step: a PRNG key is expanded, an array is checked."""
    if isinstance(key_or_noise, jax.Array) and jnp.issubdtype(key_or_noise.dtype, jax.dtypes.prng_key):
        return jax.random.normal(key_or_noise, (num_steps, *shape))
    if hasattr(key_or_noise, "dtype") and key_or_noise.dtype == jnp.uint32 and key_or_noise.shape == (2,):
        return jax.random.normal(key_or_noise, (num_steps, *shape))
    noise = jnp.asarray(key_or_noise, jnp.float32)
    if noise.shape != (num_steps, *shape):
        raise ValueError(f"recorded noise must have shape {(num_steps, *tuple(shape))} (steps, *sample), got {noise.shape}")
    return noise


def run(solver: Solver, x_init, xs, trajectory_every: int = 0, progress: bool = False) -> dict:
    """Scan `solver.step` over `xs`; returns dict(sample, diagnostics, [trajectory]).

    `diagnostics` stacks each step's aux (e.g. `residual_norm`, shape (N,)). With
    `trajectory_every = k > 0`, `trajectory` holds the carry's sample after steps k-1, 2k-1, ...
    `progress`: the steps report to an open `jaxinv.progress.steps_bar` (every few steps).
    """
    num_steps = jax.tree_util.tree_leaves(xs)[0].shape[0]
    carry = solver.init(x_init)

    def step(inner, i, step_xs):
        inner, aux = solver.step(inner, step_xs)
        if progress:
            traced_report(i, num_steps, aux)
        return inner, aux

    if trajectory_every <= 0:
        if progress:
            carry, aux = jax.lax.scan(lambda c, inputs: step(c, *inputs), carry, (jnp.arange(num_steps), xs))
        else:
            carry, aux = jax.lax.scan(solver.step, carry, xs)
        return {"sample": solver.output(carry), "diagnostics": aux}
    k = int(trajectory_every)
    sample = solver.output(carry)
    buffer = jnp.zeros((num_steps // k, *sample.shape), sample.dtype)

    def body(state, inputs):
        inner, buf = state
        i, step_xs = inputs
        inner, aux = step(inner, i, step_xs)
        slot = jnp.minimum(i // k, max(num_steps // k - 1, 0))
        keep = (i % k == k - 1) & (i // k < num_steps // k)
        buf = jnp.where(keep, buf.at[slot].set(solver.output(inner)), buf)
        return (inner, buf), aux

    (carry, buffer), aux = jax.lax.scan(body, (carry, buffer), (jnp.arange(num_steps), xs))
    return {"sample": solver.output(carry), "diagnostics": aux, "trajectory": buffer}


class DivergenceError(ValueError):
    """A sampler's iterate became NaN/inf."""


def check_finite(diagnostics: dict, what: str = "SPGD",
                 hint: str = "consider decreasing the learning rate `lr`") -> None:
    """Raise if any sample went NaN/inf (host side, after the jitted run), naming the first bad step.

    `diagnostics["finite"]` has shape (..., steps): whether each step's iterate stayed finite.
    """
    finite = np.asarray(diagnostics["finite"])
    if finite.all():
        return
    steps = finite.reshape(-1, finite.shape[-1])
    first = int(np.argmax(~steps.all(axis=0)))
    raise DivergenceError(f"{what}: NaN/inf detected at step {first} (of {finite.shape[-1]}); {hint}.")
