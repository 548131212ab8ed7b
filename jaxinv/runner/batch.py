"""The batch function of a run: measurements, posterior samples and residuals of one batch, data parallel."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import sharding
from jaxinv.execution import batch_sampler, network_batch_sampler
from jaxinv.solvers.driver import DivergenceError, check_finite

_BATCH_FNS: dict = {}


def batch_fn_for(config, network, operators, noise, mesh):
    """`make_batch_fn`, reused within a process for configs that differ only in data, names or output
    (but `output.progress`, which compiles the step reports in or out)."""
    fields = json.loads(config.to_json_best_effort(sort_keys=True))
    for key in ("name", "source", "output", "data"):
        fields.pop(key, None)
    devices = tuple(d.id for d in mesh.devices.flat)
    key = (json.dumps(fields, sort_keys=True), bool(config.output.progress), repr(network.module),
           operators.per_image, devices)
    if key not in _BATCH_FNS:
        _BATCH_FNS[key] = make_batch_fn(config, network, operators, noise, mesh)
    return _BATCH_FNS[key]


def make_batch_fn(config, network, operators, noise, mesh):
    """(params, operator, images, indices, cond) -> dict(y, samples (B, K, ...), residual (B, K), diagnostics).

    Three jitted stages: the measurements and keys, the sampler and the residuals. The sampler is
    `jaxinv.execution.batch_sampler` on the ADM UNet (its step loop as `execution.loop` says), or
    `network_batch_sampler` on a method's own network (`build.load_network`), which takes the
    per-image conditioning `cond`. Data parallel over `mesh` (`jaxinv.sharding`): images, indices,
    conditioning, per-image operators and every output are split along the batch axis; params and
    a shared operator are replicated. B must be a multiple of the device count.
    """
    base = jax.random.PRNGKey(int(config.seed))
    key_measure, key_sample = jax.random.split(base)
    k = int(config.eval.num_samples)
    op_axis = 0 if operators.per_image else None
    split, replicated = sharding.batch_sharding(mesh), sharding.replicated_sharding(mesh)
    op_sharding = split if operators.per_image else replicated

    def measure_one(operator, x, index):
        y = noise.sample(jax.random.fold_in(key_measure, index), operator.forward(x))
        return y, jax.random.split(jax.random.fold_in(key_sample, index), k)

    def residual_one(operator, y, samples):
        return jax.vmap(lambda s: jnp.linalg.norm(y - operator.forward(s)))(samples)

    # No donation: the inputs are a few images, far smaller than the sampler's activations.
    measure = jax.jit(jax.vmap(measure_one, in_axes=(op_axis, 0, 0)), in_shardings=(op_sharding, split, split),
                      out_shardings=split)
    residual = jax.jit(jax.vmap(residual_one, in_axes=(op_axis, 0, 0)), out_shardings=split)
    if network.sample is None:
        adm = batch_sampler(config, network.module, op_axis, config.execution.loop, mesh)
        sample = lambda params, operator, y, keys, cond: adm(params, operator, y, keys)  # noqa: E731
    else:
        sample = network_batch_sampler(network, op_axis, mesh)

    def batch_fn(params, operator, images, indices, cond=None):
        y, keys = measure(operator, images, indices)
        out = sample(params, operator, y, keys, cond)
        return {"y": y, "samples": out["sample"], "residual": residual(operator, y, out["sample"]),
                "diagnostics": out["diagnostics"]}

    return batch_fn


def check_finite_batch(solver, out, names) -> None:
    """DivergenceError naming the images whose samples went NaN/inf (padding rows are not checked)."""
    if "finite" in out["diagnostics"]:
        check_finite(out["diagnostics"])   # SPGD: names the first annealing step
    bad = ~np.isfinite(np.asarray(out["samples"][: len(names)])).reshape(len(names), -1).all(axis=1)
    if bad.any():
        raise DivergenceError(f"{solver}: NaN/inf in the samples of {[n for n, b in zip(names, bad) if b]}; "
                              "the guidance step (solver.scale / solver.lr) is likely too large")
