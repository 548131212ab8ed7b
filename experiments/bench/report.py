"""The benchmark's outputs: results.csv (one row per measurement), table.md, summary.json, plots."""
from __future__ import annotations

import csv
import json
import os

import numpy as np

MEMORY_NOTE = ("peak_rss_growth_mb: growth of this process's resident set over the call, sampled every 2 ms by a "
               "thread (CPU; includes allocator caching, misses peaks shorter than 2 ms); xla_temp_mb: XLA's "
               "temp buffer size of the compiled sampler (memory_analysis); device_peak_mb: the JAX device's "
               "peak_bytes_in_use where the backend keeps it (GPU, not the CPU client)")
VERSIONED = ("jax", "jaxlib", "flax", "numpy", "torch", "deepinv", "ml_collections")
COLUMNS = ("case", "dtype", "batch", "devices", "solver", "impl", "steps", "nfe", "compile_s", "wall_s",
           "images_per_s", "s_per_nfe", "s_per_image", "gflops_per_s", "mfu", "peak_rss_growth_mb", "xla_temp_mb",
           "device_peak_mb", "all_s")
# plain torch loops of the same update (experiments/bench/torch_peer.py), one per solver that has one
TORCH_STEP_LOOPS = {"dps": "torch DPS step loop", "codps_plus": "torch CoDPS+ step loop",
                    "spgd": "torch SPGD step loop"}
JAX_IMPL = {"scan": "jax scan", "host": "jax host loop"}   # the runner's step loops (jaxinv.execution)


def versions() -> dict:
    from jaxinv.runner import versions as installed_versions

    return installed_versions(VERSIONED)


def _fmt(value, digits=3):
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def one_line(row) -> str:
    return (f"[{row['case']}/{row['dtype']} b{row['batch']}] {row['solver']:>16} {row['impl']:<36} "
            f"{_fmt(row.get('images_per_s'))} img/s, {_fmt(row.get('s_per_nfe'))} s/NFE"
            + (f", compile {_fmt(row.get('compile_s'))} s" if row.get("compile_s") else ""))


def ratios(rows) -> list[dict]:
    """Each JAX figure's images/s over each PyTorch peer's, per (case, dtype, batch, solver)."""
    out = []
    groups = {}
    for r in rows:
        groups.setdefault((r["case"], r["dtype"], r["batch"], r["solver"]), []).append(r)
    for (case, dtype, batch, solver), group in groups.items():
        ours = [r for r in group if r["impl"].startswith("jax")]
        peers = [r for r in group if not r["impl"].startswith("jax")]
        for j in ours:
            for r in peers:
                out.append({"case": case, "dtype": dtype, "batch": batch, "solver": solver, "jax": j["impl"],
                            "peer": r["impl"], "jax_over_torch": j["images_per_s"] / r["images_per_s"],
                            "jax_s_per_nfe": j["s_per_nfe"], "torch_s_per_nfe": r["s_per_nfe"]})
    return out


def _largest_batch(table, config, solver: str, jax_impl: str, peer: str):
    head = [t for t in table if t["solver"] == solver and t["jax"] == jax_impl and t["peer"] == peer
            and t["case"] == config.cases[0] and t["dtype"] == config.dtypes[0]]
    return max(head, key=lambda t: t["batch"])["jax_over_torch"] if head else None


def summarize(rows, config, headline_impl: str) -> dict:
    """Ratios, the headline (JAX DPS (`headline_impl`) images/s over deepinv DPS's) and, per solver, JAX
    over the plain torch step loop of the same update; first case, first dtype, largest batch."""
    for r in rows:
        peak = dict(config.peak_flops).get(r["dtype"], 0.0)
        if r.get("gflops_per_s") and peak:
            r["mfu"] = r["gflops_per_s"] * 1e9 / peak
    table = ratios(rows)
    step_loops = {solver: _largest_batch(table, config, solver, headline_impl, peer)
                  for solver, peer in TORCH_STEP_LOOPS.items()}
    return {"ratios": table, "jax_over_torch_dps": _largest_batch(table, config, "dps", headline_impl, "deepinv DPS"),
            "jax_over_torch_step_loop": {k: v for k, v in step_loops.items() if v is not None},
            "dps_step_breakdown": step_breakdown(rows, config, headline_impl), "headline_impl": headline_impl}


def step_breakdown(rows, config, headline_impl: str) -> list[dict]:
    """One DPS network evaluation split into the UNet forward, its input VJP (forward + VJP less the
    forward) and the rest of the step (the DPS s/NFE less forward + VJP: the residual, its norm, the
    DDPM update, dispatch), per framework; first case and dtype, every batch. Raw UNet calls and steps
    are timed separately; the raw calls have measured slower than the same work inside a step, in
    both frameworks, so `rest_s` can come out negative (docs/benchmarks.md)."""
    out = []
    for batch in sorted({r["batch"] for r in rows}):
        sel = {(r["impl"], r["solver"]): r["s_per_nfe"] for r in rows if r["batch"] == batch
               and r["case"] == config.cases[0] and r["dtype"] == config.dtypes[0]}
        for framework, step_impl in (("jax", headline_impl), ("torch", TORCH_STEP_LOOPS["dps"]), ("torch", "deepinv DPS")):
            keys = ((framework, "unet_forward"), (framework, "unet_forward_vjp"), (step_impl, "dps"))
            if all(k in sel for k in keys):
                forward, forward_vjp, step = (sel[k] for k in keys)
                out.append({"batch": batch, "impl": step_impl, "step_s": step, "forward_s": forward,
                            "vjp_s": forward_vjp - forward, "rest_s": step - forward_vjp})
    return out


def markdown(rows, summary) -> str:
    lines = ["| case | dtype | batch | what | impl | NFE | compile s | wall s | images/s | s/NFE | GFLOP/s | MFU | "
             "peak RSS growth MB | XLA temp MB |", "|" + "---|" * 14]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k in (
            "case", "dtype", "batch", "solver", "impl", "nfe", "compile_s", "wall_s", "images_per_s", "s_per_nfe",
            "gflops_per_s", "mfu", "peak_rss_growth_mb", "xla_temp_mb")) + " |")
    lines += ["", "| case | dtype | batch | what | JAX | PyTorch peer | JAX/torch images/s | JAX s/NFE | torch s/NFE |",
              "|" + "---|" * 9]
    for t in summary["ratios"]:
        lines.append("| " + " | ".join(_fmt(t[k]) for k in ("case", "dtype", "batch", "solver", "jax", "peer",
                                                              "jax_over_torch", "jax_s_per_nfe", "torch_s_per_nfe")) + " |")
    if summary.get("dps_step_breakdown"):
        lines += ["", "| batch | DPS step of | s/NFE | UNet forward s | input VJP s | rest s |", "|" + "---|" * 6]
        lines += ["| " + " | ".join(_fmt(b[k]) for k in ("batch", "impl", "step_s", "forward_s", "vjp_s", "rest_s")) + " |"
                  for b in summary["dps_step_breakdown"]]
    eq = summary.get("equivalence", {})
    if eq:
        lines += ["", "| case | UNet max abs err (JAX vs torch, fp32) | max abs output |", "|---|---|---|"]
        lines += [f"| {k} | {v['max_abs_err']:.3g} | {v['max_abs_output']:.3g} |" for k, v in eq.items()]
    lines += ["", f"Memory: {MEMORY_NOTE}."]
    return "\n".join(lines) + "\n"


def plot(path, rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    whats = sorted({r["solver"] for r in rows})
    fig, axes = plt.subplots(1, len(whats), figsize=(4 * len(whats), 3.5), squeeze=False)
    for ax, what in zip(axes[0], whats):
        for (case, dtype, impl) in sorted({(r["case"], r["dtype"], r["impl"]) for r in rows if r["solver"] == what}):
            sel = sorted((r for r in rows if (r["solver"], r["case"], r["dtype"], r["impl"]) == (what, case, dtype, impl)),
                         key=lambda r: r["batch"])
            ax.plot([r["batch"] for r in sel], [r["images_per_s"] for r in sel], marker="o",
                    label=f"{impl} ({case}, {dtype})")
        ax.set_title(what)
        ax.set_xlabel("batch size")
        ax.set_ylabel("images / s")
        ax.set_yscale("log")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(run_dir, rows, summary, config) -> None:
    with open(os.path.join(run_dir, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items()})
    with open(os.path.join(run_dir, "table.md"), "w") as f:
        f.write(markdown(rows, summary))
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    plot(os.path.join(run_dir, "images_per_s.png"), rows)
