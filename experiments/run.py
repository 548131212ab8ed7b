"""Posterior sampling over a data set: `python -m experiments.run --config configs/ffhq/dps_sr4.py`.

Overrides: `--config.solver.scale=0.5 --config.data.end=10`; `--resume RUN_DIR` finishes an
interrupted run (same config; images already in its metrics.csv are skipped); `--num_samples K`
draws K posterior samples per measurement (mean and std images; `recon` is sample 0, or with
`--config.eval.oracle_best_of_n=True` the sample closest to the ground truth, an oracle choice that
is labelled as such). Writes into a fresh `output.root/<name>/<timestamp>` directory:
config.json, label/ measurement/ recon/ [mean/ std/ samples/] PNGs, grid.png, metrics.csv
(PSNR, SSIM, LPIPS of the saved 8-bit images on [0, 1]) and summary.json (with FID of recon/ against
label/ or `eval.fid_reference`). LPIPS and FID need weights converted once (docs/metrics.md); without
them they are skipped with a one-line notice.
"""
from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import ConfigDict, config_flags
from PIL import Image

from configs.defaults import get_config as default_config
from experiments.eval_metrics import check_metrics, per_image_metrics, set_metrics
from jaxinv import build, cli, sharding
from jaxinv.data import batches, caption_csv, image_folder, npz_images, tfds_images
from jaxinv.execution import batch_sampler, network_batch_sampler, resolve_loop
from jaxinv.io import fresh_run_dir, save_grid, save_image
from jaxinv.io.run_dir import to_uint8
from jaxinv.metrics import psnr, ssim
from jaxinv.progress import steps_bar
from jaxinv.solvers.driver import DivergenceError, check_finite

METRICS = {"psnr": psnr, "ssim": ssim}
VERSIONED = ("jax", "jaxlib", "flax", "numpy", "ml_collections", "orbax-checkpoint", "optax", "jaxinv")


def parse(argv):
    """(config, resume_dir, num_samples) from command-line arguments (argv[0] is the program)."""
    argv = list(argv)
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "preset file, e.g. configs/ffhq/dps_sr4.py", flag_values=fv,
                                    sys_argv=argv)
    flags.DEFINE_string("resume", None, "finish the run in this directory", flag_values=fv)
    flags.DEFINE_integer("num_samples", None, "posterior samples per measurement (overrides eval.num_samples)",
                         flag_values=fv)
    cli.parse_config_flags(fv, argv)
    return fv.config, fv.resume, fv.num_samples


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


def saved_png_floats(image) -> np.ndarray:
    """The saved 8-bit PNG of a [-1, 1] image, as floats in [0, 1] (what metrics are computed on)."""
    return to_uint8(image).astype(np.float32) / 255.0


def image_metrics(names, label, image, fns=METRICS) -> dict:
    return {m: float(fns[m](jnp.asarray(saved_png_floats(label)), jnp.asarray(saved_png_floats(image)))) for m in names}


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 127.5 - 1.0


def versions(names=VERSIONED) -> dict:
    """Installed versions of the distributions `names` (None where absent)."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def read_rows(path) -> list[dict]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def start_run(config, resume):
    """The run directory and its config: a fresh directory, or the resumed one (config must match)."""
    if resume is None:
        run_dir = fresh_run_dir(config.output.root, config.name)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2, sort_keys=True))
        return config, run_dir
    saved_path = os.path.join(resume, "config.json")
    if not os.path.isfile(saved_path):
        raise FileNotFoundError(f"--resume {resume!r} is not a run directory (no config.json)")
    with open(saved_path) as f:
        saved = json.load(f)
    if config is None:
        restored = ConfigDict(saved)
        for key, value in default_config().items():
            if key not in restored:     # a config group added after the run was written
                restored[key] = value
        return restored, resume
    if json.loads(config.to_json_best_effort(sort_keys=True)) != saved:
        raise ValueError(f"--resume {resume!r}: the given config differs from the run's config.json "
                         "(resume with the same overrides, or omit --config to reuse the saved one)")
    return config, resume


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


def save_outputs(run_dir, config, name, label, shown, samples) -> dict:
    """PNGs of one image and its metrics row; `recon` is sample 0 or the oracle best of N."""
    fns = per_image_metrics(config)
    metric_names = tuple(m for m in config.eval.metrics if m in fns)
    per_sample = [image_metrics(metric_names or ("psnr",), label, s, fns) for s in samples]
    pick = 0
    if config.eval.oracle_best_of_n:
        pick = int(np.argmax([m.get("psnr", -np.inf) for m in per_sample]))
    row = {"name": name, **{m: per_sample[pick][m] for m in metric_names}}
    for sub, image in (("label", label), ("measurement", shown), ("recon", samples[pick])):
        save_image(os.path.join(run_dir, sub, f"{name}.png"), image)
    if len(samples) > 1:
        mean, std = samples.mean(0), samples.std(0)
        save_image(os.path.join(run_dir, "mean", f"{name}.png"), mean)
        save_image(os.path.join(run_dir, "std", f"{name}.png"), np.clip(2.0 * std - 1.0, -1, 1))  # std 0 black, 1 white
        for j, s in enumerate(samples):
            save_image(os.path.join(run_dir, "samples", f"{name}_{j}.png"), s)
        row.update({f"{m}_mean": v for m, v in image_metrics(metric_names, label, mean, fns).items()})
        if config.eval.oracle_best_of_n:
            row["oracle_pick"] = pick
    return row


def write_grid(run_dir, names, with_mean):
    columns = ("label", "measurement", "recon") + (("mean", "std") if with_mean else ())
    tiles = [read_png(os.path.join(run_dir, c, f"{n}.png")) for n in names for c in columns]
    if tiles:
        save_grid(os.path.join(run_dir, "grid.png"), np.stack(tiles), columns=len(columns))


def _numeric(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def summarize(run_dir, config, rows, timings, execution=None, model=None) -> dict:
    metrics = {}
    for key in rows[0] if rows else ():
        if key in ("name", "oracle_pick") or not _numeric(rows[0][key]):
            continue
        values = np.array([float(r[key]) for r in rows])
        metrics[key] = {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}
    summary = {
        "name": config.name, "source": config.source, "num_images": len(rows), "metrics": metrics,
        "metrics_on": "saved 8-bit PNGs mapped to [0, 1] (label vs recon)",
        **set_metrics(run_dir, config, [r["name"] for r in rows]),
        "recon": ("oracle best of N against the ground truth (NOT a blind estimate)" if config.eval.oracle_best_of_n
                  else "posterior sample 0"),
        "num_samples": int(config.eval.num_samples), "timings": timings,
        "devices": [str(d) for d in jax.devices()], "execution": execution, "versions": versions(),
        **({"model": model} if model else {}),
    }
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


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
    if config is not None:
        operators = check_run_config(config)
        examples = load_examples(config.data)     # fail on bad data before any model work
        network = build.load_network(config)
    writes = sharding.is_writer()
    config, run_dir = start_run(config, resume) if writes or resume is not None else (config, None)
    if resume is not None:
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


def main(argv=None) -> int:
    def job(args):
        sharding.initialize_distributed()
        return execute(*parse(args))

    return cli.main(job, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
