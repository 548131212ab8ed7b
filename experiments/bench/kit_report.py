"""The GPU kit's outputs from the sections' events (rows.jsonl): results.json, table.md and kit.png.

The kit's goals are reported, never asserted: JAX DPS at least 3x deepinv's DPS in images/s
(batch 8, bf16, same NFE), bf16 MFU of the DPS step at least 35%, and JAX's memory of a call at most
torch's for the same call; every crosscheck within its CPU limit.
"""
from __future__ import annotations

import json
import os

NOTES = (
    "paper_s_per_image = wall / NFE x the paper's NFE per image (the ffhq SR x4 preset of the method) / batch; "
    "deepinv DPS's NFE is its own count of network calls.",
    "MFU = XLA's FLOP count of the UNet at batch 1 (forward, or forward + input VJP for DPS and SPGD) x NFE x batch "
    "/ wall / peak_flops[dtype]; the float32 peak is the non-tensor-core one, while XLA and cuDNN use TF32 tensor "
    "cores for float32 convolutions by default (see each section's environment), so float32 MFU can exceed 1.",
    "memory_mb of a JAX row: XLA's memory_analysis of the compiled call (arguments + outputs + temps - aliased, "
    "weights and inputs included); of a torch row: torch.cuda.max_memory_allocated over its timed calls (weights "
    "and inputs live). device_peak_mb: JAX's peak_bytes_in_use, process-wide and never decreasing, so it bounds "
    "every call of its section so far (each section runs in a fresh process).",
    "deepinv's DPS runs with its defaults: its sampler state (the SDE's x, the data-fidelity step) in float64, "
    "the DiffUNet in float32 or under autocast.",
    "Timings: median of the timed calls after one warm-up each, JAX and torch interleaved; compile_s is JAX's "
    "lower + compile of that program, excluded from wall_s.",
)
ROW_COLUMNS = ("case", "dtype", "batch", "what", "impl", "steps", "nfe", "compile_s", "wall_s", "images_per_s",
               "s_per_nfe", "paper_nfe", "paper_s_per_image", "tflops_per_s", "mfu", "memory_mb", "device_peak_mb")


def read_events(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _find(rows, **match):
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


PEERS = {"unet_forward": "torch", "unet_forward_vjp": "torch", "dps": "deepinv DPS"}


def memory_pairs(rows: list[dict]) -> list[tuple[str, float]]:
    """(description, JAX MB / torch MB) for every call measured in both frameworks."""
    out = []
    for j in rows:
        if not j.get("impl", "").startswith("jax") or j.get("memory_mb") is None or j.get("what") not in PEERS:
            continue
        for t in _find(rows, case=j["case"], dtype=j["dtype"], batch=j["batch"], what=j["what"], impl=PEERS[j["what"]]):
            if t.get("memory_mb"):
                out.append((f"{j['case']} {j['dtype']} b{j['batch']} {j['what']}: JAX {j['memory_mb']:.0f} MB, "
                             f"torch {t['memory_mb']:.0f} MB", j["memory_mb"] / t["memory_mb"]))
    return out


def goals(rows: list[dict], config) -> list[dict]:
    """Each goal's measured value, its target and whether it is met (None: not measured)."""
    case = config.case
    jax_dps = _find(rows, case=case, dtype="bfloat16", batch=8, what="dps", impl="jax scan")
    torch_dps = _find(rows, case=case, dtype="bfloat16", batch=8, what="dps", impl="deepinv DPS")
    speedup = torch_dps[0]["s_per_nfe"] / jax_dps[0]["s_per_nfe"] if jax_dps and torch_dps else None
    mfu = jax_dps[0].get("mfu") if jax_dps else None
    out = [{"goal": "JAX DPS / deepinv DPS images/s (batch 8, bf16, per NFE)", "value": speedup, "target": 3.0,
            "met": None if speedup is None else speedup >= 3.0},
           {"goal": "bf16 MFU of the JAX DPS step (batch 8)", "value": mfu, "target": 0.35,
            "met": None if mfu is None else mfu >= 0.35}]
    pairs = memory_pairs(rows)
    worst = max((ratio for _, ratio in pairs), default=None)
    out.append({"goal": "JAX memory / torch memory of the same call (worst)", "value": worst, "target": 1.0,
                "met": None if worst is None else worst <= 1.0, "pairs": [text for text, _ in pairs]})
    checks = [r for r in rows if r.get("what") == "crosscheck" and r.get("precision") == "highest"]
    out.append({"goal": "crosschecks (float32, precision highest) within their CPU limits",
                "value": sum(r["passed"] for r in checks), "target": len(checks),
                "met": None if not checks else all(r["passed"] for r in checks)})
    return out


def summarize(events: list[dict], sections: list[dict], config, extra: dict) -> dict:
    rows = [e for e in events if e["kind"] == "row"]
    problems = [e for e in events if e["kind"] in ("error", "skipped", "killed", "crashed")]
    return {"config": config.to_dict(), "sections": sections, **extra,
            "environment": {e["section"]: {k: v for k, v in e.items() if k not in ("kind", "section")}
                            for e in events if e["kind"] == "environment"},
            "cases": [e for e in events if e["kind"] == "case"], "goals": goals(rows, config),
            "rows": rows, "problems": problems, "notes": list(NOTES)}


def _fmt(value) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _table(rows, columns) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]


def markdown(summary: dict) -> str:
    rows = summary["rows"]
    lines = [f"# GPU kit: {summary['config']['name']}", ""]
    env = next(iter(summary["environment"].values()), {})
    lines += [f"Device: {env.get('device_kind', '–')} ({env.get('platform', '–')}); jax {env.get('jax', '–')}, "
              f"torch {env.get('torch', '–')}.", "", "## Goals (reported, not asserted)", ""]
    lines += _table(summary["goals"], ("goal", "value", "target", "met"))
    checks = [r for r in rows if r.get("what") == "crosscheck"]
    if checks:
        lines += ["", "## Crosschecks", ""]
        lines += _table(checks, ("check", "recording", "precision", "max_abs_err", "threshold", "passed", "wall_s"))
    timed = [r for r in rows if r.get("what") not in ("crosscheck", "g2d2_outer_step")]
    if timed:
        lines += ["", "## UNet and samplers", ""] + _table(timed, ROW_COLUMNS)
        agree = [r for r in timed if "vs_torch_max_abs_err" in r]
        if agree:
            lines += ["", "UNet forward, JAX vs torch on the same input:", ""]
            lines += _table(agree, ("case", "dtype", "batch", "vs_torch_max_abs_err", "torch_max_abs_output"))
    g2d2 = [r for r in rows if r.get("what") == "g2d2_outer_step"]
    if g2d2:
        lines += ["", "## G2D2, one outer step", ""]
        lines += _table(g2d2, ("size", "num_inner", "params_m", "compile_s", "wall_s", "paper_steps",
                               "paper_s_per_image", "memory_mb", "xla_temp_mb", "device_peak_mb"))
    if summary["problems"]:
        lines += ["", "## Not measured", ""]
        lines += _table([{**p, "why": p.get("reason") or p.get("error")} for p in summary["problems"]],
                        ("section", "kind", "label", "why"))
    lines += ["", "## Sections", ""] + _table(summary["sections"], ("section", "budget_s", "allotted_s", "used_s",
                                                                    "status"))
    lines += ["", "## Notes", ""] + [f"- {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


def plot(path: str, rows: list[dict]) -> None:
    """Images/s of the UNet calls and of each sampler at its paper's NFE, JAX beside torch (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("UNet calls: images/s", [r for r in rows if r.get("what", "").startswith("unet")], "images_per_s"),
              ("samplers at the paper's NFE: images/s", [r for r in rows if r.get("paper_images_per_s")],
               "paper_images_per_s"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (title, sel, key) in zip(axes, panels):
        groups = sorted({(r["what"], r["dtype"], r["batch"]) for r in sel})
        impls = sorted({r["impl"] for r in sel})
        width = 0.8 / max(len(impls), 1)
        for i, impl in enumerate(impls):
            xs, ys = [], []
            for g, (what, dtype, batch) in enumerate(groups):
                match = _find(sel, what=what, dtype=dtype, batch=batch, impl=impl)
                if match:
                    xs.append(g + i * width)
                    ys.append(match[0][key])
            ax.bar(xs, ys, width, label=impl)
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{w}\n{d} b{b}" for w, d, b in groups], fontsize=6, rotation=45, ha="right")
        ax.set_yscale("log")
        ax.set_title(title)
        if impls:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(out_dir: str, summary: dict) -> None:
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(markdown(summary))
    plot(os.path.join(out_dir, "kit.png"), summary["rows"])
