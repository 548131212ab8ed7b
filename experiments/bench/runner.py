"""One benchmark run: for each case (layout@size, dtype) and batch size, the UNet and the samplers of
both frameworks, timed round-robin in this process; results go to a fresh run directory."""
from __future__ import annotations

import contextlib
import os

import jax
import numpy as np

from experiments.bench import jax_side, report
from experiments.bench.timing import interleaved, machine, timed
from jaxinv import sharding
from jaxinv.execution import batch_sampler, resolve_loop
from jaxinv.io import fresh_run_dir
from jaxinv.solvers import registry

MB = 1024.0 ** 2
JAX_IMPL = report.JAX_IMPL
TORCH_STEP_LOOPS = report.TORCH_STEP_LOOPS


def _ready(x):
    return jax.block_until_ready(x)


class TorchPeer:
    """deepinv's DiffUNet (and its DPS) on one device, with a sync that makes timings honest."""

    def __init__(self, layout, image_size, config, dtype):
        import torch

        from experiments.bench import torch_peer

        self.torch, self.peer = torch, torch_peer
        torch_peer.set_threads(int(config.torch.threads))
        self.device = config.torch.device
        self.image_size = image_size
        self.dtype = dtype
        self.net = torch_peer.build_diffunet(layout, seed=int(config.seed)).to(self.device)
        self.state_dict = torch_peer.numpy_state_dict(self.net)

    def autocast(self):
        if self.dtype == "bfloat16":
            return self.torch.autocast(device_type=self.device.split(":")[0], dtype=self.torch.bfloat16)
        return contextlib.nullcontext()

    def sync(self):
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def tensor(self, array):
        return self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def call(self, fn):
        def run():
            with self.autocast():
                out = fn()
            self.sync()
            return out
        return run


def unet_equivalence(module, params, peer, image_size: int, seed: int) -> dict:
    """Max |JAX - torch| of the raw UNet output on one random input (float32, batch 1, t = 500)."""
    x, t = jax_side.random_input(1, image_size, seed)
    ours = np.asarray(module.apply({"params": params}, x, t))
    theirs = peer.peer.unet_output(peer.net.cpu(), x, t)
    peer.net.to(peer.device)
    return {"max_abs_err": float(np.max(np.abs(ours - theirs))), "max_abs_output": float(np.max(np.abs(theirs))),
            "shape": list(ours.shape)}


def bench_unet(module, params, peer, batch, image_size, repeats, seed, flops) -> list[dict]:
    forward, vjp = jax_side.unet_fns(module)
    x, t = jax_side.random_input(batch, image_size, seed)
    cotangent = np.random.default_rng(seed + 1).standard_normal((*x.shape[:3], module.config.out_channels)).astype(np.float32)
    xj, tj, cj = jax.device_put(x), jax.device_put(t), jax.device_put(cotangent)
    _, fwd_compile = timed(lambda: _ready(forward(params, xj, tj)))
    _, vjp_compile = timed(lambda: _ready(vjp(params, xj, tj, cj)))
    calls = {"jax/unet_forward": lambda: _ready(forward(params, xj, tj)),
             "jax/unet_forward_vjp": lambda: _ready(vjp(params, xj, tj, cj))}
    if peer is not None:
        fwd_t, vjp_t = peer.peer.unet_forward_fn(peer.net), peer.peer.unet_vjp_fn(peer.net)
        xt, tt = peer.tensor(x.transpose(0, 3, 1, 2)), peer.tensor(t)
        ct = peer.tensor(cotangent.transpose(0, 3, 1, 2))
        calls["torch/unet_forward"] = peer.call(lambda: fwd_t(xt, tt))
        calls["torch/unet_forward_vjp"] = peer.call(lambda: vjp_t(xt, tt, ct))
        for name in ("torch/unet_forward", "torch/unet_forward_vjp"):
            calls[name]()
        order = ["jax/unet_forward", "torch/unet_forward", "jax/unet_forward_vjp", "torch/unet_forward_vjp"]
        calls = {k: calls[k] for k in order}
    times = interleaved(calls, repeats)
    rows = []
    for name, m in times.items():
        impl, what = name.split("/")
        f = flops.get(what)
        rows.append({"solver": what, "impl": impl, "batch": batch, "steps": 1, "nfe": 1,
                     "compile_s": (fwd_compile if what == "unet_forward" else vjp_compile) if impl == "jax" else None,
                     "wall_s": m["median_s"], "images_per_s": batch / m["median_s"], "s_per_nfe": m["median_s"],
                     "s_per_image": m["median_s"] / batch, "peak_rss_growth_mb": m["peak_rss_growth_bytes"] / MB,
                     "gflops_per_s": (f * batch / m["median_s"] / 1e9) if f else None, "all_s": m["all_s"]})
    return rows


def loops(config) -> list[str]:
    """`config.loops` resolved on this platform ("auto" -> host on the CPU, scan elsewhere), duplicates dropped."""
    return list(dict.fromkeys(resolve_loop(loop) for loop in config.loops))


def network_cost(solver: str) -> str:
    """The raw UNet measurement one network evaluation of `solver` costs: with or without its VJP."""
    return "unet_forward_vjp" if registry.get(solver).network_gradient else "unet_forward"


def torch_step(solver, peer, cfg, physics, y, image_size: int):
    """(step(x, noise), network evaluations per step) of the plain torch loop of `solver`'s update,
    with the preset's hyperparameters, at a mid-trajectory time (t = 500, sigma = 1)."""
    s = cfg.solver
    if solver == "dps":
        step = peer.peer.dps_step_fn(peer.net, physics, y, scale=float(s.scale))
        return (lambda x, z: step(x, 500, z)), 1
    if solver == "codps_plus":
        step = peer.peer.codps_plus_step_fn(peer.net, physics, y, image_size, float(cfg.noise.params.sigma),
                                            float(s.scale), float(s.inv_var))
        return (lambda x, z: step(x, 500, z)), 1
    step = peer.peer.spgd_step_fn(peer.net, physics, y, int(s.num_inner), float(s.lr))
    return (lambda x, z: step(x, 1.0, 0.1)), int(s.num_inner)


def bench_solver(solver, config, case, dtype, module, params, peer, batch, flops) -> list[dict]:
    layout, image_size = jax_side.parse_case(case)
    steps = int(config.steps[solver])
    cfg = jax_side.solver_config(solver, layout, image_size, steps, int(config.spgd_inner), dtype)
    nfe = jax_side.network_evaluations(cfg)
    mesh = jax_side.bench_mesh(batch)
    params = sharding.replicate(mesh, params)
    operator, y, keys, op_axis = jax_side.make_batch(cfg, batch, int(config.seed), mesh)
    calls, compile_s, memory = {}, {}, {}
    for loop in loops(config):
        fn = batch_sampler(cfg, module, op_axis, loop, mesh)
        impl = JAX_IMPL[loop]
        if hasattr(fn, "lower"):   # one XLA program: compiled ahead of time
            compiled, compile_s[impl] = timed(lambda fn=fn: fn.lower(params, operator, y, keys).compile())
            memory[impl] = jax_side.memory_analysis(compiled)
            calls[impl] = lambda c=compiled: _ready(c(params, operator, y, keys)["sample"])
        else:                      # host loop: its first call compiles the stages, then samples once
            calls[impl] = lambda fn=fn: _ready(fn(params, operator, y, keys)["sample"])
            _, compile_s[impl] = timed(calls[impl])
    torch_nfe, step_nfe = {}, {}
    if peer is not None and solver in TORCH_STEP_LOOPS:
        physics = peer.peer.sr_physics(image_size)
        physics = physics.to(peer.device) if hasattr(physics, "to") else physics
        y_t = peer.peer.deepinv_measurement(physics, batch, image_size, int(config.seed), peer.device)
        shape = (batch, 3, image_size, image_size)
        if solver == "dps":
            # deepinv's DDPM solver evaluates the network at all but its last time step: steps + 1 of them
            # give the same number of guided network evaluations as ours.
            dps, counter = peer.peer.make_deepinv_dps(peer.net, steps + 1, float(cfg.solver.scale), peer.device)
            calls["deepinv DPS"] = peer.call(lambda: dps(y_t, physics, x_init=shape, seed=int(config.seed)))
        name = TORCH_STEP_LOOPS[solver]
        step, step_nfe[name] = torch_step(solver, peer, cfg, physics, y_t, image_size)
        gen = peer.torch.Generator().manual_seed(int(config.seed))
        x_t = peer.torch.randn(shape, generator=gen).to(peer.device)
        z_t = peer.torch.randn(shape, generator=gen).to(peer.device)
        calls[name] = peer.call(lambda: step(x_t, z_t))
        calls[name]()
    if "deepinv DPS" in calls:
        counter.calls = 0
    times = interleaved(calls, int(config.repeats))
    if "deepinv DPS" in calls:
        torch_nfe["deepinv DPS"] = counter.calls // int(config.repeats)
    rows = []
    for impl, m in times.items():
        wall = m["median_s"]
        row = {"solver": solver, "impl": impl, "batch": batch, "steps": steps,
               "peak_rss_growth_mb": m["peak_rss_growth_bytes"] / MB, "all_s": m["all_s"]}
        if impl in compile_s:
            per_nfe_flops = flops.get(network_cost(solver))
            # the host loop's compile time is its first call less one steady call
            first = compile_s[impl] - (wall if impl == JAX_IMPL["host"] else 0.0)
            row.update(nfe=nfe, compile_s=first, wall_s=wall, images_per_s=batch / wall,
                       s_per_nfe=wall / nfe, s_per_image=wall / batch, devices=mesh.size,
                       xla_temp_mb=memory[impl].get("temp_size_in_bytes", 0) / MB if memory.get(impl) else None,
                       gflops_per_s=(per_nfe_flops * nfe * batch / wall / 1e9) if per_nfe_flops else None,
                       device_peak_mb=(lambda b: b / MB if b else None)(jax_side.device_peak_bytes()))
        elif impl == "deepinv DPS":
            n = torch_nfe[impl]
            row.update(nfe=n, wall_s=wall, images_per_s=batch / wall, s_per_nfe=wall / n, s_per_image=wall / batch)
        else:  # one step timed; the loop of `steps` steps extrapolated from it
            row.update(nfe=steps * step_nfe[impl], wall_s=wall * steps, images_per_s=batch / (wall * steps),
                       s_per_nfe=wall / step_nfe[impl], s_per_image=wall * steps / batch)
        rows.append(row)
    return rows


def torch_estimates(solver, config, unet_rows, batch) -> list[dict]:
    """Solvers with no torch step loop here (the baselines): their network cost from the raw UNet timings."""
    what = network_cost(solver)
    match = [r for r in unet_rows if r["impl"] == "torch" and r["solver"] == what and r["batch"] == batch]
    if not match:
        return []
    steps = int(config.steps[solver])
    # the NFE of this solver's JAX rows, measured just before in the same batch
    nfe = next(r["nfe"] for r in unet_rows if r["solver"] == solver and r["batch"] == batch
               and r["impl"] in JAX_IMPL.values())
    per = match[0]["wall_s"]
    return [{"solver": solver, "impl": f"torch estimate ({what} x NFE)", "batch": batch, "steps": steps, "nfe": nfe,
             "wall_s": per * nfe, "images_per_s": batch / (per * nfe), "s_per_nfe": per, "s_per_image": per * nfe / batch}]


def execute(config, log=print) -> tuple[str, dict]:
    """Runs every configured case; returns (run directory, summary with the headline ratio)."""
    run_dir = fresh_run_dir(config.output.root, config.name)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    rows, equivalence, flop_table = [], {}, {}
    for case in config.cases:
        layout, image_size = jax_side.parse_case(case)
        for dtype in config.dtypes:
            # The weights always come from deepinv's DiffUNet, so both frameworks run the same network.
            weights = TorchPeer(layout, image_size, config, dtype)
            peer = weights if config.torch.enabled else None
            module, params = jax_side.module_and_params(layout, image_size, weights.state_dict, dtype,
                                                        bool(config.remat))
            key = f"{case}/{dtype}"
            if dtype == "float32":
                equivalence[key] = unet_equivalence(module, params, weights, image_size, int(config.seed))
                log(f"[{key}] UNet JAX vs torch: max abs err {equivalence[key]['max_abs_err']:.3g} "
                    f"(max |out| {equivalence[key]['max_abs_output']:.3g})")
            forward, vjp = jax_side.unet_fns(module)
            x1, t1 = jax_side.random_input(1, image_size)
            c1 = np.zeros((*x1.shape[:3], module.config.out_channels), np.float32)
            flops = {"unet_forward": jax_side.flop_count(forward, params, x1, t1),
                     "unet_forward_vjp": jax_side.flop_count(vjp, params, x1, t1, c1)}
            flop_table[key] = flops
            for batch in config.batch_sizes:
                case_rows = bench_unet(module, params, peer, batch, image_size, int(config.unet_repeats),
                                       int(config.seed), flops)
                for solver in config.solvers:
                    case_rows += bench_solver(solver, config, case, dtype, module, params, peer, batch, flops)
                    if solver not in TORCH_STEP_LOOPS and peer is not None:
                        case_rows += torch_estimates(solver, config, case_rows, batch)
                for r in case_rows:
                    r.update(case=case, dtype=dtype)
                    log(report.one_line(r))
                rows += case_rows
            del peer, weights
    summary = report.summarize(rows, config, JAX_IMPL[loops(config)[0]])
    summary.update(equivalence=equivalence, flops_per_image=flop_table, machine=machine(), versions=report.versions(),
                   xla_flags=os.environ.get("XLA_FLAGS", ""), devices=[str(d) for d in jax.devices()],
                   memory_note=report.MEMORY_NOTE)
    report.write(run_dir, rows, summary, config)
    return run_dir, summary
