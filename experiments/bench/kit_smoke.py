"""The GPU kit's correctness smoke: the crosschecks of `experiments.crosscheck` on this machine's first device.

Each check replays a recording of the original torch code (`../shared/fixtures`) and is passed when
its error is below the check's own threshold, the one its CPU tests hold it to. A check is named
`CHECK:RECORDING` (RECORDING relative to the fixtures folder, without its suffix), e.g.
`dps:dps/dps_tiny_sr4`. `check_files` lists what each one reads, so `gpu_kit_prep` copies exactly
those into `.gpukit/fixtures` (the lent machine gets the repo, not `../shared`).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIT_DIR = os.path.join(ROOT, ".gpukit")           # ignored; carried to the lent machine
FIXTURE_DIRS = (os.path.join(KIT_DIR, "fixtures"), os.path.join(os.path.dirname(ROOT), "shared", "fixtures"))
NETWORK = ("adm/adm_tiny_a.pt", "adm/adm_tiny_a_config.json")     # the tiny ADM the sampler recordings used
VQVAE = ("vq/vqvae.pt", "vq/vqvae_config.json")
SAMPLER_CHECKS = ("dps", "codps", "spgd", "daps")
CHECKS = ("adm", "g2d2") + SAMPLER_CHECKS


def parse_check(spec: str) -> tuple[str, str]:
    check, _, recording = spec.partition(":")
    if check not in CHECKS or not recording:
        raise ValueError(f"smoke check {spec!r} must be CHECK:RECORDING with CHECK one of {CHECKS}, "
                         "e.g. 'dps:dps/dps_tiny_sr4'")
    return check, recording


def check_files(spec: str) -> list[str]:
    """The fixture files (relative paths) that the check `spec` reads."""
    check, rec = parse_check(spec)
    if check == "adm":
        return [f"{rec}.pt", f"{rec}_config.json", f"{rec}_io.npz"]
    own = [f"{rec}.npz", f"{rec}.json"]
    return own + list(VQVAE if check == "g2d2" else NETWORK)


def check_args(spec: str, root: str) -> argparse.Namespace:
    """The arguments `experiments.crosscheck CHECK` takes for the recording, under the fixtures folder `root`."""
    check, rec = parse_check(spec)
    path = lambda rel: os.path.join(root, rel)  # noqa: E731
    if check == "adm":
        return argparse.Namespace(checkpoint=path(f"{rec}.pt"), model_config=path(f"{rec}_config.json"),
                                  io=path(f"{rec}_io.npz"))
    args = argparse.Namespace(fixture=path(f"{rec}.npz"), spec=path(f"{rec}.json"))
    if check == "g2d2":
        from experiments.crosscheck.g2d2 import THRESHOLD

        args.vqvae, args.threshold = path("vq"), THRESHOLD
    else:
        args.checkpoint, args.model_config = path(NETWORK[0]), path(NETWORK[1])
    return args


def fixtures_root(config) -> tuple[str | None, str]:
    """(folder, why): `config.fixtures` if set, else `.gpukit/fixtures`, else `../shared/fixtures`."""
    candidates = (config.fixtures,) if config.fixtures else FIXTURE_DIRS
    for folder in candidates:
        if os.path.isdir(folder):
            return folder, folder
    return None, f"no fixtures folder among {list(candidates)} (run experiments.bench.gpu_kit_prep here)"


def precision_context(precision: str):
    """'default' leaves JAX's default matmul/conv precision (TF32 on recent GPUs); else jax.default_matmul_precision."""
    import jax

    return contextlib.nullcontext() if precision == "default" else jax.default_matmul_precision(precision)


def one_check(spec: str, root: str, precision: str) -> dict:
    check, _ = parse_check(spec)
    module = importlib.import_module(f"experiments.crosscheck.{check}")
    args = check_args(spec, root)
    start = time.perf_counter()
    with precision_context(precision):
        err, threshold = module.run(args)
    return {"what": "crosscheck", "impl": "jax", "max_abs_err": float(err), "threshold": float(threshold),
            "passed": bool(err < threshold), "wall_s": time.perf_counter() - start}


def smoke_section(rec, config) -> None:
    root, why = fixtures_root(config)
    for precision in config.smoke.precisions:
        for spec in config.smoke.checks:
            check, recording = parse_check(spec)
            context = dict(check=check, recording=recording, precision=precision)
            if root is None:
                rec.skip(f"crosscheck {check}", why, **context)
            else:
                rec.measure(f"crosscheck {check}", lambda spec=spec: [one_check(spec, root, precision)], **context)
