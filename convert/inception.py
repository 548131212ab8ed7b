"""pytorch-fid's FID Inception weights (`pt_inception-2015-12-05-6726825d.pth`) -> Flax `FIDInceptionV3`.

    python -m convert.inception --weights pt_inception-2015-12-05-6726825d.pth --output checkpoints/pt_inception

Keys are those of `pytorch_fid.inception.fid_inception_v3()`: `<block>[.<branch>].conv.weight` and
`.bn.{weight,bias,running_mean,running_var}`. The 1008-way `fc` head is not part of the pool3
features and is dropped by name, as are BatchNorm `num_batches_tracked` counters. Everything else
must land on exactly one parameter or statistic with the right shape, or conversion fails naming
the key (torchvision's own `inception_v3_google` weights, with `AuxLogits`, are refused).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Mapping

import numpy as np

from convert.strict import map_state_dict, split_torch_key
from jaxinv import cli
from jaxinv.models.inception import MODEL_NAME, inception_shapes

DROPPED = ("fc.weight", "fc.bias", "num_batches_tracked")
_BN_LEAVES = {"weight": ("params", "scale"), "bias": ("params", "bias"),
              "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


def flax_rule(key: str, value: np.ndarray):
    """`Mixed_6b.branch7x7_2.conv.weight` -> `params/Mixed_6b/branch7x7_2/conv/kernel` (HWIO), etc."""
    modules, leaf = split_torch_key(key)
    if len(modules) < 2:
        return None
    if modules[-1] == "conv" and leaf == "weight" and value.ndim == 4:
        return ("params", *modules, "kernel"), np.transpose(value, (2, 3, 1, 0))
    if modules[-1] == "bn" and leaf in _BN_LEAVES and value.ndim == 1:
        collection, name = _BN_LEAVES[leaf]
        return (collection, *modules, name), value
    return None


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
    """Strictly maps a pytorch-fid Inception state dict onto `{'params', 'batch_stats'}` (numpy)."""
    return map_state_dict(state_dict, flax_rule, inception_shapes(), ignore=DROPPED,
                          what="pytorch-fid Inception checkpoint")


def convert_checkpoint(src: str | os.PathLike, dest: str | os.PathLike) -> str:
    """Reads `src`, converts it strictly and writes the variables + config JSON to `dest`."""
    from convert.torch_io import load_state_dict
    from jaxinv.checkpoint import PARAMS_SUBDIR, save_params

    dest = os.fspath(dest)
    if os.path.exists(os.path.join(dest, PARAMS_SUBDIR)):
        raise FileExistsError(f"{dest} already holds a checkpoint; choose a new output directory")
    variables = convert_state_dict(load_state_dict(src))
    return save_params(dest, variables, {"model": MODEL_NAME, "weights": os.path.basename(os.fspath(src))})


def convert(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m convert.inception", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="pt_inception-2015-12-05-6726825d.pth (pytorch-fid)")
    parser.add_argument("--output", required=True, help="new directory for the Flax checkpoint")
    args = parser.parse_args(argv)
    return convert_checkpoint(args.weights, args.output)


def main(argv: list[str] | None = None) -> int:
    return cli.main(convert, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
