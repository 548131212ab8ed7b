"""The JAX side of the benchmark: the ADM UNet with converted weights, and the jitted, vmapped samplers.

`make_batch` is the one place where a batch (operator, measurements, keys) is built; it shards
them over the devices of `bench_mesh` (parameters replicated), as the runner does.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from configs.presets import preset
from convert.adm import convert_state_dict
from jaxinv import build, sharding
from jaxinv.models.adm import ADMConfig, ADMUNet
from jaxinv.solvers import registry

def parse_case(case: str) -> tuple[str, int]:
    """"ffhq_10m@64" -> ("ffhq_10m", 64): a guided-diffusion layout at an image size."""
    layout, _, size = case.partition("@")
    if not size.isdigit():
        raise ValueError(f"bench case {case!r} must be LAYOUT@IMAGE_SIZE, e.g. 'ffhq_10m@64'")
    return layout, int(size)


def adm_config(layout: str, image_size: int) -> ADMConfig:
    """The preset network applied to `image_size` inputs (attention at the same downsampling factors)."""
    return ADMConfig.preset(layout).at_image_size(image_size)


def module_and_params(layout: str, image_size: int, state_dict: dict, dtype: str = "float32", remat: bool = False):
    """`ADMUNet` and the torch weights converted by `convert.adm` (strict: every key lands once)."""
    config = adm_config(layout, image_size)
    params = convert_state_dict(state_dict, config)
    return ADMUNet(config, dtype=dtype, remat=remat), jax.tree_util.tree_map(jnp.asarray, params)


def unet_fns(module):
    """jit'd `forward(params, x, t)` and `vjp(params, x, t, cotangent)` (gradient w.r.t. the input)."""
    def forward(params, x, t):
        return module.apply({"params": params}, x, t)

    def vjp(params, x, t, cotangent):
        _, pull = jax.vjp(lambda x: forward(params, x, t), x)
        return pull(cotangent)[0]

    return jax.jit(forward), jax.jit(vjp)


def flop_count(fn, *args) -> float | None:
    """XLA's FLOP estimate of one call (`lower(...).cost_analysis()`), counted once, not timed."""
    try:
        cost = fn.lower(*args).cost_analysis()
    except Exception:  # noqa: BLE001 - some backends have no cost model; MFU is then omitted
        return None
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    return float(cost["flops"]) if cost and "flops" in cost else None


def solver_config(solver: str, layout: str, image_size: int, steps: int, num_inner: int, dtype: str):
    """The ffhq 4x super-resolution preset of `solver`, shortened to `steps` sampling steps
    (`num_inner` gradient steps per step for a method with that field, SPGD's J)."""
    method = registry.get(solver)
    if method.classical:
        raise ValueError(f"{solver!r} is a classical baseline: the bench times diffusion methods")
    c = preset("ffhq", solver, "sr4")
    c.model.preset, c.model.dtype = layout, dtype
    c.data.image_size = image_size
    c.output.progress = False    # timed programs without step reports
    method.set_steps(c, steps)
    if "num_inner" in method.fields:
        c.solver.num_inner = num_inner
    return c


def network_evaluations(config) -> int:
    """UNet evaluations per sample: one per step (DPS, CoDPS+), J per annealing step (SPGD)."""
    return build.method_of(config).network_evaluations(config)


def make_batch(config, batch_size: int, seed: int = 0, mesh=None):
    """(operator, y (B, ...), keys (B, 1, 2), op_axis): smooth random ground truths measured by the
    preset's operator, one posterior sample each. With a `jaxinv.sharding` mesh, y, keys and a
    per-image operator are split over its devices and a shared operator is replicated."""
    shape = build.image_shape(config)
    operators = build.OperatorSource(config)
    operator = operators.batch(list(range(batch_size)))
    noise = build.build_noise(config)
    key_x, key_noise, key_sample = jax.random.split(jax.random.PRNGKey(seed), 3)
    coarse = jax.random.uniform(key_x, (batch_size, shape[0] // 8, shape[1] // 8, 3), minval=-1, maxval=1)
    x = jax.image.resize(coarse, (batch_size, *shape), "linear")
    op_axis = 0 if operators.per_image else None
    y = jax.vmap(lambda op, x, k: noise.sample(k, op.forward(x)), in_axes=(op_axis, 0, 0))(
        operator, x, jax.random.split(key_noise, batch_size))
    keys = jax.random.split(key_sample, batch_size)[:, None]
    if mesh is not None:
        operator = (sharding.shard_batch if operators.per_image else sharding.replicate)(mesh, operator)
        y, keys = sharding.shard_batch(mesh, (y, keys))
    return operator, y, keys, op_axis


def bench_mesh(batch_size: int):
    """A data mesh over as many local devices as split `batch_size` evenly (all of them when they do)."""
    devices = jax.local_devices()
    return sharding.data_mesh(devices[:math.gcd(batch_size, len(devices))])


def memory_analysis(compiled) -> dict:
    """XLA's buffer sizes of a compiled program (bytes), where the backend reports them."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001
        return {}
    if m is None:
        return {}
    return {k: int(getattr(m, k)) for k in ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes")
            if hasattr(m, k)}


def device_peak_bytes() -> int | None:
    """`peak_bytes_in_use` of the first device (GPU); None on CPU, whose client keeps no such stats."""
    stats = jax.devices()[0].memory_stats()
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def random_input(batch: int, image_size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, image_size, image_size, 3)).astype(np.float32)
    t = np.full((batch,), 500.0, np.float32)
    return x, t
