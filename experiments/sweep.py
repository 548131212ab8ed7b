"""Seeds x hyper-parameter grid in ONE compiled call:
`python -m experiments.sweep --config configs/ffhq/dps_sr4.py --sweep.seeds=16 --sweep.grid='solver.scale=[0.1,0.3,1.0]'`.

The grid's parameters are traced values (the method's `traced` fields: DPS/CoDPS `scale`, SPGD
`lr`), so the whole sweep is `jit(vmap_images(vmap_(setting, seed)(sample)))`: one trace, one
compilation, one call, however many settings and seeds. Several keys (`'solver.scale=[..];...'`)
give their Cartesian product. Seed k of image i uses the key of posterior sample k in
`experiments.run` (`--num_samples`), and the measurement of image i is run's, so a setting's
outputs are those of a run with that value. Writes into a fresh `output.root/<name>_sweep/<timestamp>`:
config.json, sweep.csv (one row per setting, image and seed: PSNR, SSIM on the 8-bit images,
residual ||y - A(x)||), summary.json (per-setting mean/std, traces, timings) and sweep.png.
"""
from __future__ import annotations

import ast
import csv
import itertools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from jax.sharding import NamedSharding, PartitionSpec

from jaxinv import build, cli, sharding
from jaxinv.data import batches
from jaxinv.io import fresh_run_dir
from jaxinv.progress import steps_bar
from jaxinv.runner import image_metrics, load_examples
from jaxinv.solvers import BATCH_AXIS, registry


def sweep_defaults() -> ml_collections.ConfigDict:
    s = ml_collections.ConfigDict()
    s.seeds = 4        # posterior samples (keys) per image and setting
    s.grid = ""        # 'solver.scale=[0.1,0.3,1.0]'; ';' separates keys (Cartesian product)
    s.metrics = ("psnr", "ssim")
    return s


def parse_grid(text: str, solver: str) -> dict[str, list[float]]:
    """'solver.scale=[0.1,0.3]' -> {'scale': [0.1, 0.3]}; every key must be a traced parameter of `solver`."""
    if not text.strip():
        raise ValueError("give --sweep.grid='solver.<param>=[v1,v2,...]'")
    grid = {}
    for part in (p for p in text.split(";") if p.strip()):
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or not key.startswith("solver."):
            raise ValueError(f"grid entry {part!r} must read solver.<param>=[v1,v2,...]")
        try:
            parsed = ast.literal_eval(values.strip())
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"grid values of {key} must be a list of numbers, got {values!r}") from e
        parsed = list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
        if not parsed or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parsed):
            raise ValueError(f"grid values of {key} must be a non-empty list of numbers, got {values!r}")
        grid[key[len("solver."):]] = [float(v) for v in parsed]
    registry.check_hparams(solver, grid)
    return grid


def settings_of(grid: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """The Cartesian product as one float32 array per parameter, shape (S,)."""
    names = list(grid)
    rows = list(itertools.product(*(grid[n] for n in names)))
    return {n: np.array([r[i] for r in rows], np.float32) for i, n in enumerate(names)}


def make_sweep_fn(config, module, per_image_operator: bool, num_seeds: int, mesh=None):
    """jit: (params, operator, images, indices, settings) -> dict(y (B,...), samples (S,B,K,...), residual (S,B,K)).

    `settings` maps each traced parameter to an (S,) array. `trace_count()` says how often the
    Python body was traced (1 for a whole sweep: no loop over seeds or settings). With a
    `jaxinv.sharding` mesh the images (B, a multiple of its device count), their indices and
    per-image operators are split over its devices and so are the outputs' image axes; params,
    settings and a shared operator are replicated.
    """
    sample_one = build.make_sample_fn(config, module)
    noise = build.build_noise(config)
    key_measure, key_sample = jax.random.split(jax.random.PRNGKey(int(config.seed)))
    traces = [0]

    def measure(operator, x, index):
        return noise.sample(jax.random.fold_in(key_measure, index), operator.forward(x))

    def per_image(params, operator, y, index, settings):
        # Settings x seeds as ONE flat vmap axis (setting-major): nesting two vmaps here hits an XLA CPU
        # crash (YNN transpose fusion, jaxlib 0.10.2) and the flat axis is what the batch looks like anyway.
        num_settings = next(iter(settings.values())).shape[0]
        keys = jax.random.split(jax.random.fold_in(key_sample, index), num_seeds)
        flat_keys = jnp.tile(keys, (num_settings, 1))
        flat_settings = {n: jnp.repeat(v, num_seeds) for n, v in settings.items()}
        samples = jax.vmap(lambda key, h: sample_one(params, operator, y, key, h)["sample"])(flat_keys, flat_settings)
        residual = jax.vmap(lambda s: jnp.linalg.norm(y - operator.forward(s)))(samples)
        return (samples.reshape(num_settings, num_seeds, *samples.shape[1:]),
                residual.reshape(num_settings, num_seeds))

    op_axis = 0 if per_image_operator else None

    def sweep(params, operator, images, indices, settings):
        traces[0] += 1
        y = jax.vmap(measure, in_axes=(op_axis, 0, 0))(operator, images, indices)
        samples, residual = jax.vmap(per_image, in_axes=(None, op_axis, 0, 0, None), axis_name=BATCH_AXIS)(
            params, operator, y, indices, settings)
        return {"y": y, "samples": jnp.swapaxes(samples, 0, 1), "residual": jnp.swapaxes(residual, 0, 1)}

    if mesh is None:
        fn = jax.jit(sweep)
    else:
        rows, copies = sharding.batch_sharding(mesh), sharding.replicated_sharding(mesh)
        image_axis_1 = NamedSharding(mesh, PartitionSpec(None, sharding.DATA_AXIS))
        fn = jax.jit(sweep, in_shardings=(copies, rows if per_image_operator else copies, rows, rows, copies),
                     out_shardings={"y": rows, "samples": image_axis_1, "residual": image_axis_1})
    fn.trace_count = lambda: traces[0]
    return fn


def parse(argv):
    argv = list(argv)
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "preset file, e.g. configs/ffhq/dps_sr4.py", flag_values=fv,
                                    sys_argv=argv)
    config_flags.DEFINE_config_dict("sweep", sweep_defaults(), "seeds and grid", flag_values=fv, sys_argv=argv)
    cli.parse_config_flags(fv, argv)
    return fv.config, fv.sweep


def metric_rows(config, sweep_cfg, names, labels, samples, residual, settings) -> list[dict]:
    rows = []
    for s in range(samples.shape[0]):
        setting = {n: float(v[s]) for n, v in settings.items()}
        for b, name in enumerate(names):
            for k in range(samples.shape[2]):
                m = image_metrics(tuple(sweep_cfg.metrics), labels[b], samples[s, b, k])
                rows.append({"setting": s, **setting, "image": name, "seed": k, **m,
                             "residual": float(residual[s, b, k])})
    return rows


def summarize(rows, settings, metrics) -> list[dict]:
    out = []
    for s in range(len(next(iter(settings.values())))):
        sel = [r for r in rows if r["setting"] == s]
        entry = {"setting": s, **{n: float(v[s]) for n, v in settings.items()}}
        for m in (*metrics, "residual"):
            values = np.array([r[m] for r in sel])
            entry[m] = {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}
        out.append(entry)
    return out


def plot(path, rows, settings, metrics) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(settings)
    single = len(names) == 1
    xs = settings[names[0]] if single else np.arange(len(next(iter(settings.values()))))
    panels = (*metrics, "residual")
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for ax, m in zip(axes[0], panels):
        per = [np.array([r[m] for r in rows if r["setting"] == s]) for s in range(len(xs))]
        for x, v in zip(xs, per):
            ax.scatter(np.full(v.shape, x), v, s=8, alpha=0.4, color="gray")
        ax.errorbar(xs, [v.mean() for v in per], yerr=[v.std() for v in per], marker="o", capsize=3)
        ax.set_xlabel(f"solver.{names[0]}" if single else "setting")
        if single and np.all(xs > 0) and xs.max() / xs.min() >= 10:
            ax.set_xscale("log")
        ax.set_ylabel(m)
        ax.set_title(f"{m}: mean ± std over seeds and images", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def execute(config, sweep_cfg) -> str | None:
    """Runs the sweep of `config` over `sweep_cfg.grid` and `sweep_cfg.seeds`; returns the run directory
    (None on processes other than 0 of a multi-host run: every process samples, process 0 writes)."""
    if config is None:
        raise ValueError("give --config configs/<dataset>/<solver>_<task>.py")
    if int(sweep_cfg.seeds) < 1:
        raise ValueError(f"sweep.seeds must be >= 1, got {sweep_cfg.seeds}")
    method = build.method_of(config)
    if method.classical:
        raise ValueError(f"{config.solver.name!r} is a classical baseline: it has nothing to sweep")
    if method.network is not None:
        raise ValueError(f"{config.solver.name!r} samples with a network of its own: the sweep is for the methods "
                         "on the ADM UNet; run experiments.run once per setting instead")
    operators = build.check_config(config)
    grid = parse_grid(sweep_cfg.grid, config.solver.name)
    settings = settings_of(grid)
    examples = load_examples(config.data)
    if not examples:
        raise ValueError(f"no images in {config.data.path!r} (data.start..data.end)")
    module, params = build.load_model(config.model)
    run_dir = fresh_run_dir(config.output.root, f"{config.name}_sweep") if sharding.is_writer() else None
    if run_dir is not None:
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump({"config": json.loads(config.to_json_best_effort()), "sweep": sweep_cfg.to_dict(),
                       "grid": grid}, f, indent=2)

    # The one place the batch is built: all images at once, padded to a multiple of the device
    # count (the last image repeated) and split over the data mesh; the padding rows are dropped.
    mesh = sharding.data_mesh()
    n = len(examples)
    padded = sharding.padded_batch_size(n, mesh)
    batch = next(batches(examples, padded))
    indices = np.concatenate([np.arange(n), np.full(padded - n, n - 1)])
    operator = operators.batch(list(indices))
    placed = (sharding.replicate(mesh, params),
              (sharding.shard_batch if operators.per_image else sharding.replicate)(mesh, operator),
              *sharding.shard_batch(mesh, (batch.images, indices)), sharding.replicate(mesh, settings))
    fn = make_sweep_fn(config, module, operators.per_image, int(sweep_cfg.seeds), mesh)
    start = time.perf_counter()
    compiled = fn.lower(*placed).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    with steps_bar(0 if method.classical else int(method.steps(config)),
                   disable=not (config.output.progress and sharding.is_writer()), desc="sweep"):
        out = sharding.to_host(jax.block_until_ready(compiled(*placed)))
    run_s = time.perf_counter() - start
    if run_dir is None:
        return None
    out = {"y": out["y"][:n], "samples": out["samples"][:, :n], "residual": out["residual"][:, :n]}

    rows = metric_rows(config, sweep_cfg, batch.names, batch.images, out["samples"], out["residual"], settings)
    with open(os.path.join(run_dir, "sweep.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    metrics = tuple(sweep_cfg.metrics)
    summary = {"name": config.name, "solver": config.solver.name, "grid": grid, "seeds": int(sweep_cfg.seeds),
               "images": list(batch.names), "per_setting": summarize(rows, settings, metrics),
               "traces": fn.trace_count(), "compiled_calls": 1, "compile_s": compile_s, "run_s": run_s,
               "execution": {**sharding.describe(mesh), "padded_images": padded},
               "samples_per_s": out["samples"].shape[0] * out["samples"].shape[1] * out["samples"].shape[2] / run_s,
               "metrics_on": "saved 8-bit images mapped to [0, 1] (label vs sample)"}
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot(os.path.join(run_dir, "sweep.png"), rows, settings, metrics)
    return run_dir


def main(argv=None) -> int:
    def job(args):
        sharding.initialize_distributed()
        return execute(*parse(args))

    return cli.main(job, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
