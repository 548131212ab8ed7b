"""Here, where PyPI is reachable: fill `.gpukit/` (ignored by git) with what the GPU kit needs on a bare lent machine.

    python -m experiments.bench.gpu_kit_prep [--config configs/bench/gpu_quick.py] [--no-wheels]

`.gpukit/wheels`: WHEELS, downloaded for CPython 3.12 on manylinux x86_64 without their dependencies.
The lent machine has Python 3.12 with jax, flax, optax, orbax-checkpoint, chex, torch, torchvision,
torchmetrics, einops, h5py, requests, scipy, matplotlib, pillow and tqdm (docs/benchmarks.md, "GPU
kit"); of jaxinv's requirements it lacks ml_collections, of deepinv 0.5.0's natsort.
`.gpukit/fixtures`: the files the config's smoke checks read, copied from `../shared/fixtures`,
which does not travel with the repo. Prints the size of what the device tool would send (the repo's
tracked and untracked-not-ignored files, plus `.gpukit`) against its 64 MiB limit, and exits 1 above it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from experiments.bench.kit_smoke import FIXTURE_DIRS, KIT_DIR, ROOT, check_files

WHEELS = ("ml_collections==1.1.0", "deepinv==0.5.0", "natsort==8.4.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
LIMIT_MIB = 64.0
MIB = 2.0 ** 20


def download_wheels(dest: str) -> list[str]:
    """`pip download` of WHEELS into `dest`; refuses a folder holding other wheels (two versions of one
    package stop the whole install on the lent machine)."""
    from jaxinv.cli import UserError

    os.makedirs(dest, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", *(f"--platform={p}" for p in PLATFORMS), "-d", dest, *WHEELS]
    subprocess.run(cmd, check=True)
    names = sorted(f for f in os.listdir(dest) if f.endswith(".whl"))
    wanted = {w.split("==")[0].replace("-", "_").lower() + "-" + w.split("==")[1] for w in WHEELS}
    stale = [n for n in names if "-".join(n.split("-")[:2]).lower() not in wanted]
    if stale:
        raise UserError(f"{dest} holds wheels that are not in WHEELS: {stale}; remove them")
    return names


def copy_fixtures(checks, source: str, dest: str) -> list[str]:
    """Copies every file the smoke `checks` read from `source` to the same relative path under `dest`."""
    from jaxinv.cli import UserError

    files = sorted({f for spec in checks for f in check_files(spec)})
    missing = [f for f in files if not os.path.isfile(os.path.join(source, f))]
    if missing:
        raise UserError(f"the fixtures folder {source} lacks {missing}")
    for f in files:
        os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
        shutil.copyfile(os.path.join(source, f), os.path.join(dest, f))
    return files


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def travelling_bytes(root: str = ROOT) -> int:
    """Bytes of the repo's tracked and untracked-not-ignored files: what the device tool sends besides `carry`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    return sum(os.path.getsize(os.path.join(root, p)) for p in listed if p and os.path.isfile(os.path.join(root, p)))


def prep(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench.gpu_kit_prep",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join("configs", "bench", "gpu_quick.py"))
    parser.add_argument("--fixtures", default=FIXTURE_DIRS[1], help="the shared fixtures (default ../shared/fixtures)")
    parser.add_argument("--no-wheels", action="store_true", help="only copy the fixtures")
    args = parser.parse_args(argv)
    from experiments.bench.gpu_kit import load_config

    config = load_config(args.config, [])
    files = copy_fixtures(config.smoke.checks, args.fixtures, os.path.join(KIT_DIR, "fixtures"))
    print(f"copied {len(files)} fixture files into {os.path.join(KIT_DIR, 'fixtures')}")
    if not args.no_wheels:
        for name in download_wheels(os.path.join(KIT_DIR, "wheels")):
            print(f"wheel {name}: {os.path.getsize(os.path.join(KIT_DIR, 'wheels', name)) / MIB:.2f} MiB")
    kit, tree = folder_bytes(KIT_DIR) / MIB, travelling_bytes() / MIB
    print(f"travels: repo {tree:.1f} MiB + .gpukit {kit:.1f} MiB = {tree + kit:.1f} MiB of {LIMIT_MIB:.0f} MiB")
    print("carry: [\".gpukit\"]")
    return 0 if tree + kit <= LIMIT_MIB else 1


def main(argv=None) -> int:
    from jaxinv import cli

    return cli.main(prep, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
