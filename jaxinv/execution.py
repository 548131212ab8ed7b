"""A config's sampler over a batch of measurements and K posterior samples each, with a choice of step loop.

    sample = batch_sampler(config, module, op_axis, loop="auto")
    out = sample(params, operator, y, keys)   # y (B, ...), keys (B, K, 2) -> sample (B, K, ...)

`loop` (config field `execution.loop`):
  "scan": `driver.run` inside one jit: the whole reverse process is one XLA program and one call.
  "host": the same steps from Python, one jitted, batched step per call (the iterate donated). On
      XLA:CPU a while-loop body runs about 2x slower than the same ops at the top level of a
      program (docs/benchmarks.md), so this is the faster loop there; elsewhere the per-step
      dispatch makes it the slower one.
  "auto": "host" on the CPU, "scan" on GPUs and TPUs.
Both run the same step function on the same inputs; samples agree to float rounding (XLA fuses the
two programs differently), not bit for bit.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import build, progress, sharding
from jaxinv.solvers import BATCH_AXIS

LOOPS = ("auto", "scan", "host")


def resolve_loop(loop: str, platform: str | None = None) -> str:
    """"scan" or "host" for `loop` on `platform` (default: the first device's)."""
    if loop not in LOOPS:
        raise ValueError(f"unknown execution.loop {loop!r}; expected one of {LOOPS}")
    if loop != "auto":
        return loop
    return "host" if (platform or jax.devices()[0].platform) == "cpu" else "scan"


def _over_batch(fn, op_axis, num_batched):
    """vmap `fn(params, operator, y, *rest)` over the images (axis_name BATCH_AXIS), then over K inside."""
    def per_image(params, operator, y, *rest):
        return jax.vmap(lambda *r: fn(params, operator, y, *r))(*rest)

    return jax.vmap(per_image, in_axes=(None, op_axis, 0) + (0,) * num_batched, axis_name=BATCH_AXIS)


def network_batch_sampler(network, op_axis, mesh=None):
    """`(params, operator, y, keys, cond) -> {"sample": (B, K, ...), "diagnostics"}` for a method with a
    prior of its own (`jaxinv.solvers.registry.Network`): its steps as one scan, `cond` per image."""
    split = {} if mesh is None else {"out_shardings": sharding.batch_sharding(mesh)}

    def per_image(params, operator, y, keys, cond):
        return jax.vmap(lambda key: network.sample(params, operator, y, key, cond))(keys)

    return jax.jit(jax.vmap(per_image, in_axes=(None, op_axis, 0, 0, 0), axis_name=BATCH_AXIS), **split)


def batch_sampler(config, module, op_axis, loop: str = "auto", mesh=None):
    """`(params, operator, y, keys) -> {"sample": (B, K, ...), "diagnostics": leaves (B, K, steps, ...)}`.

    `op_axis` is 0 for per-image operators (stacked on axis 0) and None for a shared one. With a
    `jaxinv.sharding` mesh the outputs stay split along the batch axis (place the inputs with
    `sharding.shard_batch` / `replicate`). Classical baselines have no steps: both loops are one call.
    """
    split = {} if mesh is None else {"out_shardings": sharding.batch_sharding(mesh)}
    if build.method_of(config).classical or resolve_loop(loop) == "scan":
        return jax.jit(_over_batch(build.make_sample_fn(config, module), op_axis, 1), **split)
    sampler = build.make_sampler(config, module)

    def start_one(params, operator, y, key):
        x_init, xs = sampler.start(key, {})
        return sampler.solver(params, operator, y, {}).init(x_init), xs

    def step_one(i):
        def step(params, operator, y, carry, xs):
            return sampler.solver(params, operator, y, {}).step(carry, jax.tree.map(lambda a: a[i], xs))
        return step

    def output_one(params, operator, y, carry):
        return sampler.solver(params, operator, y, {}).output(carry)

    start = jax.jit(_over_batch(start_one, op_axis, 1), **split)
    step = jax.jit(lambda params, operator, y, carry, xs, i: _over_batch(step_one(i), op_axis, 2)(
        params, operator, y, carry, xs), donate_argnums=(3,), **split)
    output = jax.jit(_over_batch(output_one, op_axis, 1), **split)

    def sample(params, operator, y, keys):
        carry, xs = start(params, operator, y, keys)
        num_steps = jax.tree_util.tree_leaves(xs)[0].shape[2]
        aux = []
        every = progress.report_every(num_steps)
        for i in range(num_steps):
            carry, step_aux = step(params, operator, y, carry, xs, np.int32(i))
            aux.append(step_aux)
            if config.output.progress and progress.is_open() and (i % every == every - 1 or i == num_steps - 1):
                progress.report(i, progress.local_mean(progress.step_residual(step_aux)))
        diagnostics = jax.tree.map(lambda *a: jnp.stack(a, axis=2), *aux) if aux else {}
        return {"sample": output(params, operator, y, carry), "diagnostics": diagnostics}

    return sample
