"""Posterior sampling over a data set, for every registered method: `execute(config)` -> run directory.

What `experiments.run` does after parsing its command line, and what the demo reuses. The whole
config is checked before data or weights are read; images are batched (`data.batch_size`) and
split over every device; `resume` finishes a run; `eval.num_samples` draws K samples per image.
"""
from __future__ import annotations

import csv
import os
import sys
import time

import jax
import numpy as np

from jaxinv import build, sharding
from jaxinv.data import batches, caption_csv, image_folder, npz_images, tfds_images
from jaxinv.execution import resolve_loop
from jaxinv.progress import steps_bar
from jaxinv.runner.batch import batch_fn_for, check_finite_batch
from jaxinv.runner.files import read_rows, save_outputs, start_run, summarize, write_grid
from jaxinv.runner.metrics import check_metrics


def load_examples(data):
    kind, end = data.source, data.end
    args = (data.path, int(data.image_size), int(data.start), None if end is None else int(end))
    if kind == "image_folder":
        return image_folder(*args)
    if kind == "npz":
        return npz_images(*args)
    if kind == "caption_csv":
        return caption_csv(*args)
    if kind == "tfds":
        return tfds_images(data.path, data.split, *args[1:])
    raise ValueError(f"unknown data.source {kind!r}; expected image_folder, npz, caption_csv or tfds")


def check_run_config(config) -> build.OperatorSource:
    """The whole config checked (solver, operator, noise, loop, metrics) before data or weights are
    read; returns the run's operators (built once: a nonlinear blur loads a network)."""
    operators = build.check_config(config)
    resolve_loop(config.execution.loop)
    if build.method_of(config).network is not None and config.execution.loop == "host":
        raise ValueError(f"{config.solver.name} runs its steps in one lax.scan: execution.loop 'host' is for the "
                         "methods on the ADM UNet; use 'auto' or 'scan'")
    check_metrics(config)
    return operators


def loop_of(config) -> str:
    return "scan" if build.method_of(config).network is not None else resolve_loop(config.execution.loop)


def execute(config, resume=None, num_samples=None, progress=True) -> str | None:
    """Run (or finish) the experiment of `config`; returns the run directory (None on processes > 0).

    The batch is split over every device (`jaxinv.sharding.data_mesh`): `data.batch_size` is
    rounded up to a multiple of the device count. Multi-host: every process samples its rows and
    process 0 alone writes files (`--resume` then needs the run directory on a shared filesystem).
    """
    from tqdm import tqdm

    if config is None and resume is None:
        raise ValueError("give --config configs/<dataset>/<solver>_<task>.py (or --resume RUN_DIR)")
    if config is not None and num_samples is not None:
        config.eval.num_samples = int(num_samples)
    if config is not None and int(config.eval.num_samples) < 1:
        raise ValueError(f"eval.num_samples must be >= 1, got {config.eval.num_samples}")
    given = config is not None
    if given:   # a bad config, data folder or checkpoint fails before a run directory is made
        operators = check_run_config(config)
        examples = load_examples(config.data)
        network = build.load_network(config)
    writes = sharding.is_writer()
    config, run_dir = start_run(config, resume) if writes or resume is not None else (config, None)
    if not given:
        operators = check_run_config(config)
        examples = load_examples(config.data)
        network = build.load_network(config)
    metrics_path = None if run_dir is None else os.path.join(run_dir, "metrics.csv")
    done = {r["name"] for r in read_rows(metrics_path)} if metrics_path else set()
    todo = [(i, ex) for i, ex in enumerate(examples) if ex.name not in done]
    for sub in ("label", "measurement", "recon") + (("mean", "std", "samples") if config.eval.num_samples > 1 else ()):
        if writes:
            os.makedirs(os.path.join(run_dir, sub), exist_ok=True)

    mesh = sharding.data_mesh()
    noise = build.build_noise(config)
    batch_fn = batch_fn_for(config, network, operators, noise, mesh)
    bs = sharding.padded_batch_size(int(config.data.batch_size), mesh)
    execution = {**sharding.describe(mesh), "batch_size": bs, "per_device_batch": bs // mesh.size,
                 "config_batch_size": int(config.data.batch_size), "loop": loop_of(config)}
    t0 = time.perf_counter()
    conditions, columns = network.condition(examples) if network.condition else (None, [{}] * len(examples))
    condition_s = time.perf_counter() - t0
    if progress and writes:
        padded = f" (data.batch_size {config.data.batch_size} rounded up)" if bs != int(config.data.batch_size) else ""
        print(f"sampling on {mesh.size} {execution['platform']} device(s), {execution['process_count']} process(es): "
              f"batch {bs}{padded} = {bs // mesh.size} per device", file=sys.stderr)
    params = sharding.replicate(mesh, network.params)
    shared_operator = None if operators.per_image else sharding.replicate(mesh, operators.batch([]))
    compile_s = sample_s = 0.0
    method = build.method_of(config)
    num_steps = 0 if method.classical else int(method.steps(config))
    bar = tqdm(total=len(examples), initial=len(examples) - len(todo), unit="img", disable=not (progress and writes))
    with bar:
        for start in range(0, len(todo), bs):
            chunk = todo[start:start + bs]
            batch = next(batches([ex for _, ex in chunk], bs))
            indices = [i for i, _ in chunk] + [chunk[-1][0]] * (bs - len(chunk))
            operator = operators.batch(indices)
            placed_operator = sharding.shard_batch(mesh, operator) if operators.per_image else shared_operator
            images, placed_indices = sharding.shard_batch(mesh, (batch.images, np.array(indices)))
            cond = None if conditions is None else sharding.shard_batch(
                mesh, jax.tree.map(lambda a: np.asarray(a)[np.array(indices)], conditions))
            t0 = time.perf_counter()
            with steps_bar(num_steps, disable=not (progress and writes and config.output.progress),
                           desc=f"batch {start // bs + 1}", position=1):
                out = sharding.to_host(jax.block_until_ready(batch_fn(params, placed_operator, images, placed_indices, cond)))
            elapsed = time.perf_counter() - t0
            if start == 0:
                compile_s = elapsed
            else:
                sample_s += elapsed
            check_finite_batch(config.solver.name, out, [ex.name for _, ex in chunk])
            if not writes:      # its bar is disabled too
                continue
            with open(metrics_path, "a", newline="") as f:
                writer = None
                for b, name in enumerate(batch.names):
                    row_op = jax.tree.map(lambda a, b=b: a[b], operator) if operators.per_image else operator
                    shown = row_op.show(out["y"][b])
                    row = save_outputs(run_dir, config, name, batch.images[b], shown, np.asarray(out["samples"][b]))
                    row["residual"] = float(out["residual"][b].mean())
                    row.update(columns[chunk[b][0]])
                    if writer is None:
                        writer = csv.DictWriter(f, fieldnames=list(row))
                        if f.tell() == 0:
                            writer.writeheader()
                    writer.writerow(row)
            bar.update(len(chunk))
            bar.set_postfix(img_per_s=f"{len(chunk) / elapsed:.2f}", residual=f"{float(out['residual'].mean()):.4g}")
    if not writes:
        return None
    rows = read_rows(metrics_path)
    write_grid(run_dir, [r["name"] for r in rows[: int(config.output.grid_images)]], config.eval.num_samples > 1)
    n_timed = max(len(todo) - min(bs, len(todo)), 0)
    timings = {"first_batch_s (includes compilation)": compile_s, "sample_s": sample_s,
               "images_per_s (after the first batch)": (n_timed / sample_s) if sample_s > 0 else None,
               "images_this_invocation": len(todo)}
    if network.condition:
        timings["condition_s (all images)"] = condition_s
    summarize(run_dir, config, rows, timings, execution, network.info)
    return run_dir
