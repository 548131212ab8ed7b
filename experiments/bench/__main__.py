"""`python -m experiments.bench --config configs/bench/<name>.py [--config.batch_sizes='(1,2)']`.

`xla_flags` of the config are appended to XLA_FLAGS before JAX starts (they must precede backend
initialisation). The last line printed is `jax_over_torch_dps=<ratio>`.
"""
from __future__ import annotations

import os
import sys


def parse(argv):
    from absl import flags
    from ml_collections import config_flags

    from jaxinv import cli

    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "bench config, e.g. configs/bench/cpu_quick.py", flag_values=fv,
                                    sys_argv=list(argv))
    cli.parse_config_flags(fv, argv)
    if fv.config is None:
        raise ValueError("give --config configs/bench/<name>.py")
    return fv.config


def bench(argv) -> int:
    config = parse(argv)
    if config.xla_flags:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + config.xla_flags).strip()
    from experiments.bench.runner import execute

    run_dir, summary = execute(config)
    print(f"wrote {run_dir}")
    ratio = summary["jax_over_torch_dps"]
    print(f"jax_over_torch_dps={ratio:.3f}" if ratio is not None else "jax_over_torch_dps=nan")
    for solver, ratio in summary["jax_over_torch_step_loop"].items():
        print(f"jax_over_torch_{solver}_step_loop={ratio:.3f}")
    return 0


def main(argv=None) -> int:
    from jaxinv import cli

    return cli.main(bench, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
