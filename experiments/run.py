"""Posterior sampling over a data set: `python -m experiments.run --config configs/ffhq/dps_sr4.py`.

Overrides: `--config.solver.scale=0.5 --config.data.end=10`; `--resume RUN_DIR` finishes an
interrupted run (same config; images already in its metrics.csv are skipped); `--num_samples K`
draws K posterior samples per measurement (mean and std images; `recon` is sample 0, or with
`--config.eval.oracle_best_of_n=True` the sample closest to the ground truth, an oracle choice that
is labelled as such). Writes into a fresh `output.root/<name>/<timestamp>` directory:
config.json, label/ measurement/ recon/ [mean/ std/ samples/] PNGs, grid.png, metrics.csv
(PSNR, SSIM, LPIPS of the saved 8-bit images on [0, 1]) and summary.json (with FID of recon/ against
label/ or `eval.fid_reference`). LPIPS and FID need weights converted once (docs/metrics.md); without
them they are skipped with a one-line notice.
"""
from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from jaxinv import cli, sharding
from jaxinv.runner import execute


def parse(argv):
    """(config, resume_dir, num_samples) from command-line arguments (argv[0] is the program)."""
    argv = list(argv)
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "preset file, e.g. configs/ffhq/dps_sr4.py", flag_values=fv,
                                    sys_argv=argv)
    flags.DEFINE_string("resume", None, "finish the run in this directory", flag_values=fv)
    flags.DEFINE_integer("num_samples", None, "posterior samples per measurement (overrides eval.num_samples)",
                         flag_values=fv)
    cli.parse_config_flags(fv, argv)
    return fv.config, fv.resume, fv.num_samples


def main(argv=None) -> int:
    def job(args):
        sharding.initialize_distributed()
        return execute(*parse(args))

    return cli.main(job, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
