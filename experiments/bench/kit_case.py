"""The GPU kit's measurements of one case (LAYOUT@SIZE at one compute dtype), in priority order per batch size:
the ADM UNet forward and forward + input VJP against deepinv's `DiffUNet` on the same weights, then each
solver's sampler as one `lax.scan` (deepinv's DPS beside JAX's DPS).

Speed: medians of `repeats` calls after one warm-up, the frameworks interleaved (`timing.interleaved`).
A short run of `steps` sampling steps is extrapolated to the paper's network evaluations per image
(the ffhq SR x4 preset of each method): paper_s_per_image = wall / NFE x paper NFE / batch.
MFU = XLA's FLOP count of the UNet (batch 1, forward or forward + VJP) x NFE x batch / wall / peak.
Memory of one call: JAX, XLA's `memory_analysis` of the compiled program (arguments + outputs + temps
- aliased: weights and inputs included); torch, `max_memory_allocated` over the timed calls after
`reset_peak_memory_stats` (weights and inputs live, so the two are alike). JAX's `peak_bytes_in_use`
is reported too, but it is process-wide and never goes down: it bounds every call so far.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from configs.presets import preset
from experiments.bench import jax_side, runner
from experiments.bench.timing import interleaved, timed
from jaxinv import sharding
from jaxinv.execution import batch_sampler
from jaxinv.models.adm import ADMConfig, ADMUNet, init_shapes
from jaxinv.solvers import registry

MB = 2.0 ** 20
XLA_MEMORY = "xla memory_analysis: arguments + outputs + temps - aliased"
TORCH_MEMORY = "torch.cuda.max_memory_allocated"


def _ready(x):
    return jax.block_until_ready(x)


def random_params(shapes, seed: int):
    """Seeded parameters of the shapes in `shapes` (a tree of ShapeDtypeStruct): kernels and embeddings
    N(0, 1/fan_in), norm scales 1, biases 0. Drawn by numpy on the host, which compiles nothing: a jitted
    `init` compiles the network's forward pass, and draws on the device compile a program per shape,
    which costs more than the draw at the dry run's sizes."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = getattr(path[-1], "key", "")
        if name in ("scale", "bias"):
            value = np.full(leaf.shape, 1.0 if name == "scale" else 0.0, np.float32)
        else:
            fan_in = max(math.prod(leaf.shape[:-1]), 1)
            value = rng.standard_normal(leaf.shape, np.float32) / np.float32(math.sqrt(fan_in))
        return jnp.asarray(value, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@dataclasses.dataclass
class Case:
    """The JAX network of a case, its weights, and the torch peer on the same weights (None, and why)."""
    layout: str
    image_size: int
    dtype: str
    module: ADMUNet
    params: dict
    peer: runner.TorchPeer | None
    peer_missing: str | None
    weights: str


def why_no_peer(config, layout: str, overrides: dict) -> str | None:
    from experiments.bench.torch_peer import DIFFUNET_LAYOUTS

    if not config.torch.enabled:
        return "config.torch.enabled is False"
    if overrides:
        return "adm_overrides change the layout; deepinv's DiffUNet builds only " + ", ".join(DIFFUNET_LAYOUTS)
    if layout not in DIFFUNET_LAYOUTS:
        return f"deepinv's DiffUNet has no {layout!r} layout"
    try:
        import deepinv  # noqa: F401
    except ImportError as e:
        return f"deepinv is not importable ({e})"
    return None


def build_case(config, case: str, dtype: str, overrides: dict) -> Case:
    layout, image_size = jax_side.parse_case(case)
    missing = why_no_peer(config, layout, overrides)
    if missing is None:
        import torch

        torch.backends.cudnn.benchmark = bool(config.torch.cudnn_benchmark)
        peer = runner.TorchPeer(layout, image_size, config, dtype)
        module, params = jax_side.module_and_params(layout, image_size, peer.state_dict, dtype)
        peer.state_dict = None
        return Case(layout, image_size, dtype, module, params, peer, None,
                    "deepinv DiffUNet, seeded random, converted by convert.adm")
    adm = dataclasses.replace(ADMConfig.preset(layout), **overrides).at_image_size(image_size)
    params = random_params(init_shapes(adm), int(config.seed))
    return Case(layout, image_size, dtype, ADMUNet(adm, dtype=dtype), params, None, missing,
                "JAX, seeded random (no torch peer)")


def flops_per_image(case: Case) -> dict:
    """XLA's FLOP count of one network evaluation at batch 1: forward, and forward + input VJP."""
    forward, vjp = jax_side.unet_fns(case.module)
    x, t = jax_side.random_input(1, case.image_size)
    cotangent = np.zeros((*x.shape[:3], case.module.config.out_channels), np.float32)
    return {"unet_forward": jax_side.flop_count(forward, case.params, x, t),
            "unet_forward_vjp": jax_side.flop_count(vjp, case.params, x, t, cotangent)}


def xla_memory_mb(compiled) -> dict:
    m = jax_side.memory_analysis(compiled)
    if not m:
        return {}
    alias = getattr(compiled.memory_analysis(), "alias_size_in_bytes", 0)
    total = m.get("argument_size_in_bytes", 0) + m.get("output_size_in_bytes", 0) + m.get("temp_size_in_bytes", 0)
    return {"memory_mb": (total - alias) / MB, "memory_source": XLA_MEMORY,
            "xla_temp_mb": m.get("temp_size_in_bytes", 0) / MB}


class TorchMemory:
    """The peak of torch's CUDA allocator over a block (None off CUDA)."""

    def __init__(self, peer):
        self.cuda = peer is not None and peer.device.startswith("cuda")
        self.torch, self.peak = (peer.torch if peer is not None else None), None

    def __enter__(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.peak = self.torch.cuda.max_memory_allocated() / MB


def timed_group(calls: dict, repeats: int, peer) -> tuple[dict, float | None]:
    """One warm-up call each, then `interleaved` medians; and torch's allocator peak over the timed calls
    (one torch call per group, so the peak is that call's)."""
    for call in calls.values():
        call()
    with TorchMemory(peer) as memory:
        times = interleaved(calls, repeats, memory=False)
    return times, memory.peak


def speed_fields(wall: float, batch: int, nfe: int, flops: float | None, peak_flops: float) -> dict:
    out = {"wall_s": wall, "images_per_s": batch / wall, "nfe": nfe, "s_per_nfe": wall / nfe}
    if flops:
        out["tflops_per_s"] = flops * nfe * batch / wall / 1e12
        out["mfu"] = flops * nfe * batch / wall / peak_flops if peak_flops else None
    return out


def unet_rows(case: Case, batch: int, config, flops: dict, calls: tuple) -> list[dict]:
    """The UNet `calls` ("unet_forward", "unet_forward_vjp") in that order, JAX and torch; the forward
    outputs of the two compared."""
    forward, vjp = jax_side.unet_fns(case.module)
    x, t = jax_side.random_input(batch, case.image_size, int(config.seed))
    cotangent = np.random.default_rng(int(config.seed) + 1).standard_normal(
        (*x.shape[:3], case.module.config.out_channels)).astype(np.float32)
    xj, tj, cj = jax.device_put(x), jax.device_put(t), jax.device_put(cotangent)
    peak_flops = float(dict(config.peak_flops).get(case.dtype, 0.0))
    programs = {"unet_forward": (forward, (case.params, xj, tj)), "unet_forward_vjp": (vjp, (case.params, xj, tj, cj))}
    rows = []
    for what in calls:
        fn, args = programs[what]
        compiled, compile_s = timed(lambda fn=fn, args=args: fn.lower(*args).compile())
        timed_calls = {"jax": lambda c=compiled, args=args: _ready(c(*args))}
        if case.peer is not None:
            p = case.peer
            xt, tt, ct = p.tensor(x.transpose(0, 3, 1, 2)), p.tensor(t), p.tensor(cotangent.transpose(0, 3, 1, 2))
            torch_fn = p.peer.unet_forward_fn(p.net) if what == "unet_forward" else p.peer.unet_vjp_fn(p.net)
            torch_args = (xt, tt) if what == "unet_forward" else (xt, tt, ct)
            timed_calls["torch"] = p.call(lambda f=torch_fn, a=torch_args: f(*a))
        times, torch_peak = timed_group(timed_calls, int(config.unet_repeats), case.peer)
        base = dict(what=what, steps=1)
        rows.append(dict(base, impl="jax", compile_s=compile_s, all_s=times["jax"]["all_s"],
                         device_peak_mb=device_peak_mb(), **xla_memory_mb(compiled),
                         **speed_fields(times["jax"]["median_s"], batch, 1, flops[what], peak_flops)))
        if "torch" in timed_calls:
            rows.append(dict(base, impl="torch", all_s=times["torch"]["all_s"], memory_mb=torch_peak,
                             memory_source=TORCH_MEMORY if torch_peak is not None else None,
                             **speed_fields(times["torch"]["median_s"], batch, 1, flops[what], peak_flops)))
            if what == "unet_forward":
                rows[-2].update(_agreement(np.asarray(timed_calls["jax"]()), timed_calls["torch"]()))
    return rows


def _agreement(ours: np.ndarray, theirs) -> dict:
    """Max |JAX - torch| of the two forward outputs on the same input (NHWC vs NCHW)."""
    theirs = theirs.float().cpu().numpy().transpose(0, 2, 3, 1)
    ours = ours.astype(np.float32)
    return {"vs_torch_max_abs_err": float(np.max(np.abs(ours - theirs))),
            "torch_max_abs_output": float(np.max(np.abs(theirs)))}


def device_peak_mb():
    peak = jax_side.device_peak_bytes()
    return peak / MB if peak else None


def paper_budget(solver: str) -> tuple[int, int]:
    """(sampling steps, network evaluations) per image of the method's ffhq SR x4 preset (the paper's)."""
    c = preset("ffhq", solver, "sr4")
    method = registry.get(solver)
    return int(method.steps(c)), int(method.network_evaluations(c))


def solver_rows(case: Case, solver: str, batch: int, config, flops: dict) -> list[dict]:
    """`steps` sampling steps of `solver` as one scanned program (and deepinv's DPS for "dps")."""
    steps = int(config.steps[solver])
    cfg = jax_side.solver_config(solver, case.layout, case.image_size, steps, int(config.spgd_inner), case.dtype)
    nfe = jax_side.network_evaluations(cfg)
    paper_steps, paper_nfe = paper_budget(solver)
    mesh = jax_side.bench_mesh(batch)
    params = sharding.replicate(mesh, case.params)
    operator, y, keys, op_axis = jax_side.make_batch(cfg, batch, int(config.seed), mesh)
    fn = batch_sampler(cfg, case.module, op_axis, "scan", mesh)
    compiled, compile_s = timed(lambda: fn.lower(params, operator, y, keys).compile())
    calls = {"jax scan": lambda: _ready(compiled(params, operator, y, keys)["sample"])}
    counter = None
    if solver == "dps" and case.peer is not None:
        calls["deepinv DPS"], counter = _deepinv_dps(case, cfg, batch, steps, int(config.seed))
    times, torch_peak = timed_group(calls, int(config.repeats), case.peer)
    peak_flops = float(dict(config.peak_flops).get(case.dtype, 0.0))
    per_nfe = flops[runner.network_cost(solver)]
    paper = dict(what=solver, paper_steps=paper_steps, paper_nfe=paper_nfe)
    rows = [dict(paper, impl="jax scan", steps=steps, compile_s=compile_s, all_s=times["jax scan"]["all_s"],
                 device_peak_mb=device_peak_mb(), **xla_memory_mb(compiled),
                 **speed_fields(times["jax scan"]["median_s"], batch, nfe, per_nfe, peak_flops))]
    if counter is not None:
        torch_nfe = counter.calls // (int(config.repeats) + 1)      # the warm-up call counted too
        rows.append(dict(paper, impl="deepinv DPS", steps=steps, all_s=times["deepinv DPS"]["all_s"],
                         memory_mb=torch_peak, memory_source=TORCH_MEMORY if torch_peak is not None else None,
                         **speed_fields(times["deepinv DPS"]["median_s"], batch, torch_nfe, per_nfe, peak_flops)))
    for r in rows:
        r["paper_s_per_image"] = r["s_per_nfe"] * paper_nfe / batch
        r["paper_images_per_s"] = 1.0 / r["paper_s_per_image"]
    return rows


def _deepinv_dps(case: Case, cfg, batch: int, steps: int, seed: int):
    """deepinv's DPS (DDPM solver) on the same SR x4 problem size: steps + 1 time steps evaluate the
    network `steps` times, like ours (its own count is what the row reports)."""
    p = case.peer
    physics = p.peer.sr_physics(case.image_size)
    physics = physics.to(p.device) if hasattr(physics, "to") else physics
    y = p.peer.deepinv_measurement(physics, batch, case.image_size, seed, p.device)
    dps, counter = p.peer.make_deepinv_dps(p.net, steps + 1, float(cfg.solver.scale), p.device)
    shape = (batch, 3, case.image_size, case.image_size)
    return p.call(lambda: dps(y, physics, x_init=shape, seed=seed)), counter


def case_section(rec, config, case: str, dtype: str, batches: tuple, unet_calls: tuple, solvers: tuple,
                 overrides: dict) -> None:
    context = dict(case=case, dtype=dtype)
    built = rec.guard("setup", lambda: build_case(config, case, dtype, overrides), **context)
    if built is None:
        return
    rec.emit("case", weights=built.weights, torch_peer_missing=built.peer_missing,
             params_m=sum(int(np.prod(a.shape)) for a in jax.tree.leaves(built.params)) / 1e6, **context)
    if built.peer_missing:
        rec.skip("torch peer", built.peer_missing, **context)
    flops = rec.guard("flop count", lambda: flops_per_image(built), **context) or {}
    flops = {k: flops.get(k) for k in ("unet_forward", "unet_forward_vjp")}
    for batch in batches:
        rec.measure(f"unet b{batch}", lambda: unet_rows(built, batch, config, flops, unet_calls), batch=batch,
                    **context)
        for solver in solvers:
            rec.measure(f"{solver} b{batch}", lambda s=solver: solver_rows(built, s, batch, config, flops),
                        batch=batch, **context)
