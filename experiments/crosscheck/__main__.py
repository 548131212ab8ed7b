"""Replays the original code's recorded outputs: `python -m experiments.crosscheck <what> ...`.

Each submodule of this package is one check; it defines `HELP`, `add_arguments(parser)` and
`run(args) -> (max_abs_err, threshold)`. The last printed line is `max_abs_err=<float>` and the
exit status is 0 only when the error is below the check's threshold.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import experiments.crosscheck as package
from jaxinv import cli


def crosscheck(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.crosscheck", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="check", required=True)
    checks = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        sub = subparsers.add_parser(info.name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        checks[info.name] = module
    args = parser.parse_args(argv)
    err, threshold = checks[args.check].run(args)
    print(f"threshold={threshold:.3g}")
    print(f"max_abs_err={err:.6g}")
    return 0 if err < threshold else 1


def main(argv: list[str] | None = None) -> int:
    return cli.main(crosscheck, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
