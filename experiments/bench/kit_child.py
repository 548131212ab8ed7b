"""One section of the GPU kit in a process of its own.

    python -m experiments.bench.kit_child SECTION CONFIG ROWS DEADLINE

`experiments.bench.gpu_kit` starts one such process per section, so a crash, an out-of-memory or a
section past its time loses only that section, device memory starts empty in each, and JAX's
process-wide peak (`peak_bytes_in_use` never goes down) covers one section's calls only. Every event
is one JSON line appended to ROWS and flushed at once: what a killed section measured survives.
CONFIG is the kit config as JSON; DEADLINE a Unix time: no measurement starts less than
`config.min_left_s` before it.
"""
from __future__ import annotations

import json
import sys
import time
import traceback

import ml_collections

SECTIONS = ("smoke", "case_bfloat16", "case_float32", "large", "g2d2")


class Recorder:
    """Appends the section's events to `path`: `start` before each measurement, then its `row`s, or an
    `error` (the exception and the end of its traceback), or `skipped` when the deadline is too close."""

    def __init__(self, path: str, section: str, deadline: float, min_left_s: float):
        self.path, self.section, self.deadline, self.min_left_s = path, section, deadline, min_left_s
        self.started = time.time()

    def left(self) -> float:
        return self.deadline - time.time()

    def emit(self, kind: str, **fields) -> None:
        event = {"kind": kind, "section": self.section, "at_s": round(time.time() - self.started, 3), **fields}
        line = json.dumps(event, default=_jsonable)
        with open(self.path, "a") as f:
            f.write(line + "\n")

    def guard(self, label: str, fn, **context):
        """fn()'s value, or None with an `error` event (a failed measurement does not stop the section)."""
        self.emit("start", label=label, **context)
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - recorded in results.json; the next measurement still runs
            self.emit("error", label=label, error=f"{type(e).__name__}: {e}"[:2000],
                      traceback="".join(traceback.format_exc().splitlines(keepends=True)[-12:]), **context)
            print(f"[{self.section}] {label}: {type(e).__name__}: {e}", flush=True)
            return None

    def skip(self, label: str, reason: str, **context) -> None:
        self.emit("skipped", label=label, reason=reason, **context)
        print(f"[{self.section}] {label}: skipped ({reason})", flush=True)

    def measure(self, label: str, fn, **context) -> list[dict]:
        """Runs fn() -> rows unless less than `min_left_s` is left; emits each row with `context`."""
        if self.left() < self.min_left_s:
            self.skip(label, f"time budget: {max(self.left(), 0.0):.0f} s of the section's left", **context)
            return []
        rows = self.guard(label, fn, **context) or []
        for row in rows:
            self.emit("row", label=label, **{**context, **row})
            print(f"[{self.section}] {label}: {_brief({**context, **row})}", flush=True)
        return rows


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _brief(row: dict) -> str:
    keys = ("what", "impl", "dtype", "batch", "check", "precision", "wall_s", "images_per_s", "paper_s_per_image",
            "max_abs_err", "passed", "mfu", "memory_mb")
    return " ".join(f"{k}={row[k]:.4g}" if isinstance(row.get(k), float) else f"{k}={row[k]}"
                    for k in keys if row.get(k) is not None)


def environment() -> dict:
    """Where this section ran: JAX's devices and precision, torch's CUDA device and TF32 switches."""
    import jax

    device = jax.devices()[0]
    env = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()], "device_kind": device.device_kind,
           "platform": device.platform, "device_bytes_limit": (device.memory_stats() or {}).get("bytes_limit"),
           "jax_default_matmul_precision": str(getattr(jax.config, "jax_default_matmul_precision", "unknown"))}
    try:
        import torch
    except ImportError as e:
        return {**env, "torch": f"not importable: {e}"}
    env.update(torch=torch.__version__, cuda_available=torch.cuda.is_available(),
               torch_matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
               torch_cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)
    if torch.cuda.is_available():
        env["torch_device_name"] = torch.cuda.get_device_name(0)
    return env


def run_section(section: str, config, rec: Recorder) -> None:
    if section == "smoke":
        from experiments.bench.kit_smoke import smoke_section

        smoke_section(rec, config)
    elif section.startswith("case_"):
        from experiments.bench.kit_case import case_section

        case_section(rec, config, config.case, section.removeprefix("case_"), tuple(config.batch_sizes),
                     tuple(config.unet_calls), tuple(config.solvers), dict(config.adm_overrides))
    elif section == "large":
        from experiments.bench.kit_case import case_section

        large = config.large
        case_section(rec, config, large.case, large.dtype, (int(large.batch),), tuple(large.unet_calls), (),
                     dict(large.adm_overrides))
    elif section == "g2d2":
        from experiments.bench.kit_g2d2 import g2d2_section

        g2d2_section(rec, config)
    else:
        raise ValueError(f"unknown kit section {section!r}; expected one of {SECTIONS}")


def main(argv=None) -> int:
    section, config_path, rows_path, deadline = (sys.argv[1:] if argv is None else argv)
    with open(config_path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    rec = Recorder(rows_path, section, float(deadline), float(config.min_left_s))
    env = rec.guard("environment", environment)
    if env is not None:
        rec.emit("environment", **env)
    run_section(section, config, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
