"""The GPU kit: on a bare lent GPU machine, install the carried wheels, then measure and crosscheck in one command.

    python3 -m experiments.bench.gpu_kit --out DIR [--config configs/bench/gpu_quick.py] \
        [--wheels .gpukit/wheels] [--config.FIELD=VALUE ...]

1. Installs every wheel of `--wheels` (default `.gpukit/wheels`, made here by
   `experiments.bench.gpu_kit_prep`; none there: nothing installed) with `pip --no-index --no-deps
   --target` into a temporary folder that the sections import first. jaxinv itself runs from the repo.
2. Runs each section of `config.sections` (configs/bench/gpu_quick.py says what each measures) in a
   process of its own (`experiments.bench.kit_child`) within its budget; one that overruns is killed,
   and what it measured before stays.
3. After every section rewrites DIR/results.json, DIR/table.md and DIR/kit.png from DIR/rows.jsonl
   (one JSON line per event); DIR/kit.log holds the output. A timeout of the whole command still
   leaves the sections done so far.

DIR must be new or empty. Exit status 0 when every section ran without an error and every crosscheck
passed, 1 otherwise (results.json lists the problems), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join("configs", "bench", "gpu_quick.py")
DEFAULT_WHEELS = os.path.join(ROOT, ".gpukit", "wheels")


class Log:
    """Prints and appends to DIR/kit.log (thread-safe: the sections' output arrives from reader threads)."""

    def __init__(self, path: str):
        self.path, self.lock = path, threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            print(line, flush=True)
            with open(self.path, "a") as f:
                f.write(line + "\n")


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(prog="python -m experiments.bench.gpu_kit", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (new or empty)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="kit config, e.g. configs/bench/gpu_dry.py")
    parser.add_argument("--wheels", default=None, help=f"folder of wheels to install first (default {DEFAULT_WHEELS})")
    args, overrides = parser.parse_known_args(argv)
    bad = [a for a in overrides if not a.startswith("--config.")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config fields are set with --config.FIELD=VALUE)")
    return args, overrides


def prepare_out(path: str) -> str:
    from jaxinv.cli import UserError

    if os.path.isdir(path) and os.listdir(path):
        raise UserError(f"output folder {path} is not empty: give a new or empty folder")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"output folder {path} is a file: give a new or empty folder")
    os.makedirs(path, exist_ok=True)
    return path


def install_wheels(folder: str | None, log: Log) -> dict:
    """pip-installs the folder's wheels into a fresh temporary folder (put first on sys.path and PYTHONPATH)."""
    from jaxinv.cli import UserError

    if folder is not None and not os.path.isdir(folder):
        raise UserError(f"--wheels {folder}: no such folder (make it with python -m experiments.bench.gpu_kit_prep)")
    wheels = sorted(glob.glob(os.path.join(folder or DEFAULT_WHEELS, "*.whl")))
    if not wheels:
        log(f"no wheels in {folder or DEFAULT_WHEELS}: nothing installed")
        return {"wheels": [], "site": None}
    site = tempfile.mkdtemp(prefix="gpukit-site-")
    start = time.time()
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--upgrade", "--target", site, *wheels]
    done = subprocess.run(cmd, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log(f"[pip] {line}")
    if done.returncode:
        raise UserError(f"installing the wheels of {folder or DEFAULT_WHEELS} failed (pip exit {done.returncode})")
    sys.path.insert(0, site)
    log(f"installed {len(wheels)} wheels into {site} in {time.time() - start:.1f} s")
    return {"wheels": [os.path.basename(w) for w in wheels], "site": site, "install_s": time.time() - start}


def load_config(path: str, overrides: list[str]):
    from experiments.bench.__main__ import parse
    from experiments.bench.kit_child import SECTIONS
    from experiments.bench.kit_smoke import parse_check

    config = parse(["gpu_kit", "--config", path, *overrides])
    unknown = [s for s in config.sections if s not in SECTIONS or s not in config.budgets]
    if unknown:
        raise ValueError(f"config.sections {unknown}: each must be one of {SECTIONS} with a config.budgets entry")
    for spec in config.smoke.checks:
        parse_check(spec)
    return config


def gpu_info() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,clocks.max.sm,driver_version",
                           "--format=csv,noheader"], capture_output=True, text=True)
    return done.stdout.strip() or None


def _pump(stream, log: Log, section: str) -> None:
    for line in stream:
        log(f"  {section}| {line.rstrip()}")


def last_started(rows_path: str, section: str) -> str | None:
    """The label of the section's last measurement that began and never ended (the one a kill interrupted)."""
    from experiments.bench.kit_report import read_events

    open_label = None
    for e in read_events(rows_path):
        if e.get("section") != section:
            continue
        if e["kind"] == "start":
            open_label = e["label"]
        elif e["kind"] in ("row", "error", "skipped") and e.get("label") == open_label:
            open_label = None
    return open_label


def append_event(rows_path: str, **event) -> None:
    with open(rows_path, "a") as f:
        f.write(json.dumps(event) + "\n")


def run_section(name: str, allot: float, grace: float, config_path: str, rows_path: str, env: dict, log: Log) -> str:
    """Runs one section's process for at most `allot` + `grace` s; returns its status."""
    deadline = time.time() + allot
    proc = subprocess.Popen([sys.executable, "-m", "experiments.bench.kit_child", name, config_path, rows_path,
                             repr(deadline)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    reader = threading.Thread(target=_pump, args=(proc.stdout, log, name), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=allot + grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
        append_event(rows_path, kind="killed", section=name, label=last_started(rows_path, name),
                     reason=f"the section's {allot:.0f} s ran out")
        return "killed"
    reader.join(timeout=5)
    if code:
        append_event(rows_path, kind="crashed", section=name, label=last_started(rows_path, name),
                     reason=f"exit status {code} (kit.log has its output)")
        return f"exit {code}"
    return "done"


def child_env(site: str | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, ROOT, env.get("PYTHONPATH")) if p)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")   # JAX and torch share the device
    env["PYTHONUNBUFFERED"] = "1"
    return env


def kit(argv: list[str]) -> int:
    args, overrides = parse_args(argv)
    out = prepare_out(args.out)
    log = Log(os.path.join(out, "kit.log"))
    started = time.time()
    install = install_wheels(args.wheels, log)
    config = load_config(args.config, overrides)
    from experiments.bench import kit_report

    work = tempfile.mkdtemp(prefix="gpukit-")
    config_path, rows_path = os.path.join(work, "config.json"), os.path.join(out, "rows.jsonl")
    with open(config_path, "w") as f:
        f.write(config.to_json())
    env, sections, spare = child_env(install["site"]), [], 0.0
    extra = {"install": install, "gpu": gpu_info(), "started_unix": started}
    for name in config.sections:
        left = float(config.total_budget_s) - sum(s["used_s"] for s in sections)
        allot = min(float(config.budgets[name]) + spare, left)
        if allot < float(config.min_left_s):
            append_event(rows_path, kind="skipped", section=name, label="section",
                         reason=f"total budget: {max(left, 0.0):.0f} s left")
            sections.append({"section": name, "budget_s": config.budgets[name], "allotted_s": 0.0, "used_s": 0.0,
                             "status": "skipped"})
            continue
        log(f"== {name}: {allot:.0f} s")
        start = time.time()
        status = run_section(name, allot, float(config.grace_s), config_path, rows_path, env, log)
        used = time.time() - start
        spare = max(allot - used, 0.0)
        sections.append({"section": name, "budget_s": config.budgets[name], "allotted_s": allot, "used_s": used,
                         "status": status})
        summary = kit_report.summarize(kit_report.read_events(rows_path), sections, config,
                                       dict(extra, wall_s=time.time() - started))
        kit_report.write(out, summary)
    summary = kit_report.summarize(kit_report.read_events(rows_path), sections, config,
                                   dict(extra, wall_s=time.time() - started))
    kit_report.write(out, summary)
    for g in summary["goals"]:
        log(f"goal: {g['goal']}: {g['value']} (target {g['target']}, met: {g['met']})")
    failed = [p for p in summary["problems"] if p["kind"] != "skipped"]
    failed += [r for r in summary["rows"] if r.get("what") == "crosscheck" and not r["passed"]]
    log(f"{len(summary['rows'])} rows, {len(summary['problems'])} not measured, {len(failed)} failures; "
        f"{time.time() - started:.0f} s; wrote {out}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def main(argv=None) -> int:
    from jaxinv import cli

    return cli.main(kit, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
