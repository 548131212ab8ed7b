"""The demo: `python -m experiments.demo [--config configs/demo.py[:full]] [--config.tasks=sr4 ...]`.

For each task of the demo config, every diffusion solver and every classical baseline runs through
`experiments.run` on the same measurements (same operator, same noise keys), each into its own run
directory under one fresh `output.root/demo/<timestamp>/`. Each diffusion solver draws
`num_samples` posterior samples per image in one vmapped call. Then the demo writes `results.csv`
(per image), `table.md` (per task and method, mean ± std over the images: PSNR / SSIM of one sample
and of the posterior mean, and the mean per-pixel posterior std) and `grid.png` (per task and image:
ground truth, measurement, the first baseline, then per solver a sample, the mean and the std), and
prints the table.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time

import numpy as np
from absl import flags
from ml_collections import config_flags

from configs import defaults
from configs.demo import SOLVER_FIELDS, TASKS, WEIGHT_FIELDS
from jaxinv import runner
from jaxinv import cli
from jaxinv.io import fresh_run_dir
from jaxinv.solvers import registry
from jaxinv.solvers.driver import DivergenceError


def method_label(method: str) -> str:
    return registry.get(method).label


def parse(argv):
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", "configs/demo.py", "demo config", flag_values=fv, sys_argv=list(argv))
    cli.parse_config_flags(fv, argv)
    return fv.config


def _names(csv_field: str, known, what: str) -> list[str]:
    names = [n.strip() for n in csv_field.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown demo {what} {unknown or csv_field!r}; expected a comma-separated subset of {list(known)}")
    return names


def run_config(demo, task: str, method: str, root: str):
    """The `experiments.run` config of one (task, method) of the demo."""
    c = defaults.get_config()
    c.name = f"{task}_{method}"
    c.source = f"configs/demo.py: task {task}, method {method}"
    c.seed = int(demo.seed)
    c.model.preset = "demo"
    c.model.checkpoint_dir = demo.prior_dir
    c.model.torch_checkpoint = "(none: the demo prior is trained by `python -m experiments.train --config configs/train/demo.py`)"
    t = TASKS[task]
    c.operator.name = t["operator"]
    c.operator.params = dict(t["params"])
    c.operator.seed = int(demo.operator_seed)
    c.noise.params.sigma = float(demo.noise_sigma)
    c.solver.name = method
    for path, value in SOLVER_FIELDS.get(method, {}).items():
        group, field = path.split(".")
        setattr(getattr(c, group), field, value)
    solver = registry.get(method)
    if method in demo.steps:
        solver.set_steps(c, int(demo.steps[method]))
    weight_key = f"{method}_{task}"
    if weight_key in demo.weights:
        setattr(c.solver, WEIGHT_FIELDS[method], float(demo.weights[weight_key]))
    if method in SOLVER_FIELDS:   # the classical baselines are deterministic: one sample
        c.eval.num_samples = int(demo.num_samples)
    c.eval.metrics = ("psnr", "ssim")   # LPIPS needs converted VGG16 weights (docs/metrics.md); FID needs thousands of images
    c.data.source = "image_folder"
    c.data.path = demo.image_dir
    c.data.image_size = int(demo.image_size)
    c.data.end = int(demo.num_images)
    c.data.batch_size = int(demo.batch_size)
    c.output.root = root
    c.output.progress = False     # many short runs: the per-image bar is enough
    return c


def summarize_table(results: dict) -> str:
    """Markdown: one row per (task, method), mean ± std over the images of the PSNR / SSIM of one sample
    and of the posterior mean of the K samples, and the mean per-pixel posterior std ([0, 1] units)."""
    lines = ["| task | method | PSNR sample (dB) | PSNR mean (dB) | SSIM sample | SSIM mean | posterior std |",
             "|---|---|---|---|---|---|---|"]

    def stat(rows, key, digits, scale=1.0):
        if key not in rows[0]:
            return "–"
        values = scale * np.array([float(r[key]) for r in rows])
        return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"

    for (task, method), rows in results.items():
        if isinstance(rows, str):
            lines.append(f"| {task} | {method_label(method)} | diverged | {rows} | | | |")
            continue
        lines.append(f"| {task} | {method_label(method)} | {stat(rows, 'psnr', 2)} | {stat(rows, 'psnr_mean', 2)} | "
                     f"{stat(rows, 'ssim', 3)} | {stat(rows, 'ssim_mean', 3)} | {stat(rows, 'posterior_std', 3, 0.5)} |")
    return "\n".join(lines)


STD_GAIN = 5   # the grid's std tiles: white = a per-pixel std of 0.1 on [0, 1]


def write_grid(path: str, run_dirs: dict, tasks, solvers, image_names, with_mean: bool, scale: int = 2) -> None:
    """Labelled PNG; rows (task, image), columns: truth, measurement, the task's first baseline, then per
    solver one sample and, with K > 1 samples, their mean and per-pixel std (x STD_GAIN)."""
    from PIL import Image, ImageDraw

    views = ("recon", "mean", "std") if with_mean else ("recon",)
    names = {"recon": "", "mean": " mean", "std": f" std x{STD_GAIN}"}
    header = ["truth", "measurement", "classical"] + [f"{method_label(m)}{names[v]}" for m in solvers for v in views]
    rows = []
    for task in tasks:
        baseline = TASKS[task]["baselines"][0]
        first = run_dirs[(task, baseline)]
        for name in image_names:
            row = [os.path.join(first, sub, f"{name}.png") for sub in ("label", "measurement", "recon")]
            row += [os.path.join(run_dirs[(task, m)], v, f"{name}.png") if (task, m) in run_dirs else None
                    for m in solvers for v in views]
            rows.append((f"{task}\n{name}", row))
    tile = Image.open(rows[0][1][0]).size[0] * scale
    pad, left, top = 4, 110, 20
    canvas = Image.new("RGB", (left + len(header) * (tile + pad), top + len(rows) * (tile + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, label in enumerate(header):
        draw.text((left + j * (tile + pad) + 4, 4), label, fill="black")
    for i, (label, paths) in enumerate(rows):
        y = top + i * (tile + pad)
        draw.multiline_text((4, y + tile // 3), label, fill="black")
        for j, p in enumerate(paths):
            if p is None:   # a diverged method: left blank
                continue
            image = Image.open(p).convert("RGB")
            if os.path.basename(os.path.dirname(p)) == "std":
                image = image.point(lambda v: min(255, STD_GAIN * v))
            canvas.paste(image.resize((tile, tile), Image.NEAREST), (left + j * (tile + pad), y))
    canvas.save(path)


def execute(demo, progress: bool = True) -> tuple[str, str]:
    """Runs the demo; returns (demo directory, markdown table)."""
    tasks = _names(demo.tasks, TASKS, "tasks")
    solvers = _names(demo.solvers, SOLVER_FIELDS, "solvers")
    demo_dir = fresh_run_dir(demo.output.root, demo.name)
    with open(os.path.join(demo_dir, "config.json"), "w") as f:
        f.write(demo.to_json_best_effort(indent=2))
    results, run_dirs, seconds = {}, {}, {}
    for task in tasks:
        for method in list(TASKS[task]["baselines"]) + solvers:
            if progress:
                print(f"[demo] {task}: {method_label(method)}", flush=True)
            t0 = time.perf_counter()
            try:
                run_dir = runner.execute(run_config(demo, task, method, demo_dir), progress=progress)
            except DivergenceError as e:   # recorded in the table; the other methods still run
                print(f"[demo] {task}: {method_label(method)} diverged: {e}", file=sys.stderr)
                results[(task, method)] = str(e)
                continue
            finally:
                seconds[f"{task}_{method}"] = time.perf_counter() - t0
            run_dirs[(task, method)] = run_dir
            results[(task, method)] = runner.read_rows(os.path.join(run_dir, "metrics.csv"))
    with open(os.path.join(demo_dir, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        columns = ["psnr", "ssim", "psnr_mean", "ssim_mean", "posterior_std", "residual"]
        writer.writerow(["task", "method", "image"] + columns + ["run_dir"])
        for (task, method), rows in results.items():
            for r in rows if isinstance(rows, list) else ():
                writer.writerow([task, method, r["name"]] + [r.get(k, "") for k in columns]
                                + [os.path.relpath(run_dirs[(task, method)], demo_dir)])
    table = summarize_table(results)
    with open(os.path.join(demo_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(demo_dir, "timings.json"), "w") as f:
        json.dump({"seconds_per_run (includes compilation)": seconds}, f, indent=2)
    names = [r["name"] for r in next(rows for rows in results.values() if isinstance(rows, list))]
    write_grid(os.path.join(demo_dir, "grid.png"), run_dirs, tasks, solvers, names, int(demo.num_samples) > 1)
    return demo_dir, table


def main(argv=None) -> int:
    def job(args):
        demo_dir, table = execute(parse(args))
        print(table)
        return demo_dir

    return cli.main(job, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
