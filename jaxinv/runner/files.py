"""The files of a run directory: config.json, resume, per-image PNGs and metrics rows, grid.png, summary.json.

Metrics are computed on what is saved: the 8-bit PNGs mapped to [0, 1].
"""
from __future__ import annotations

import csv
import importlib.metadata
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict
from PIL import Image

from jaxinv.io import fresh_run_dir, save_grid, save_image, to_uint8
from jaxinv.runner.metrics import PER_IMAGE, per_image_metrics, set_metrics

VERSIONED = ("jax", "jaxlib", "flax", "numpy", "ml_collections", "orbax-checkpoint", "optax", "jaxinv")


def saved_png_floats(image) -> np.ndarray:
    """The saved 8-bit PNG of a [-1, 1] image, as floats in [0, 1] (what metrics are computed on)."""
    return to_uint8(image).astype(np.float32) / 255.0


def image_metrics(names, label, image, fns=PER_IMAGE) -> dict:
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
        from configs.defaults import get_config as default_config

        for key, value in default_config().items():
            if key not in restored:     # a config group added after the run was written
                restored[key] = value
        return restored, resume
    if json.loads(config.to_json_best_effort(sort_keys=True)) != saved:
        raise ValueError(f"--resume {resume!r}: the given config differs from the run's config.json "
                         "(resume with the same overrides, or omit --config to reuse the saved one)")
    return config, resume


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
        # moments of the images as saved (in [-1, 1]): the mean's PSNR is then at least that of the samples'
        # mean squared error (Jensen), which a mean of unclipped samples need not be
        clipped = np.clip(samples, -1, 1)
        mean, std = clipped.mean(0), clipped.std(0)
        save_image(os.path.join(run_dir, "mean", f"{name}.png"), mean)
        save_image(os.path.join(run_dir, "std", f"{name}.png"), np.clip(2.0 * std - 1.0, -1, 1))  # std 0 black, 1 white
        for j, s in enumerate(samples):
            save_image(os.path.join(run_dir, "samples", f"{name}_{j}.png"), s)
        row.update({f"{m}_mean": v for m, v in image_metrics(metric_names, label, mean, fns).items()})
        row["posterior_std"] = float(std.mean())   # per-pixel std of the K samples, averaged ([-1, 1] units)
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
