"""torchvision VGG16 + the `lpips` package's linear layers -> Flax `jaxinv.metrics.lpips.LPIPS`.

    python -m convert.lpips --vgg16 vgg16-397923af.pth --output checkpoints/lpips_vgg

`--vgg16` is torchvision's ImageNet `vgg16` state dict (`features.N.weight/bias`; its
`classifier.*` keys are not part of LPIPS and are dropped). `--lin` is the `lpips` package's
`weights/v0.1/vgg.pth` (`lin{k}.model.1.weight`), by default the file of an installed `lpips`.
Every other key must land on exactly one parameter with the right shape, or conversion fails
naming the key.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from typing import Mapping

import numpy as np

from convert.strict import ConversionError, map_state_dict
from jaxinv import cli
from jaxinv.metrics.lpips import MODEL_NAME, lpips_shapes

_FEATURE = re.compile(r"features\.(\d+)\.(weight|bias)")
_LIN = re.compile(r"lin(\d+)\.model\.1\.weight")
DROPPED_PREFIXES = ("classifier.",)  # VGG16's fully connected head: unused by LPIPS


def flax_rule(key: str, value: np.ndarray):
    """A VGG16 `features.N.*` or lpips `lin{k}.model.1.weight` key -> (Flax path, array)."""
    if m := _FEATURE.fullmatch(key):
        index, leaf = m.groups()
        if leaf == "bias":
            return ("net", f"features_{index}", "bias"), value
        if value.ndim == 4:
            return ("net", f"features_{index}", "kernel"), np.transpose(value, (2, 3, 1, 0))
        return None
    if (m := _LIN.fullmatch(key)) and value.ndim == 4:
        return (f"lin{m.group(1)}", "kernel"), np.transpose(value, (2, 3, 1, 0))
    return None


def convert_state_dicts(vgg16: Mapping[str, np.ndarray], lin: Mapping[str, np.ndarray]) -> dict:
    """Strictly maps a torchvision VGG16 state dict plus the lpips lin weights onto `LPIPS` params."""
    overlap = sorted(set(vgg16) & set(lin))
    if overlap:
        raise ConversionError(f"keys present in both the VGG16 and the lin state dict: {', '.join(overlap)}")
    merged = {**vgg16, **lin}
    return map_state_dict(merged, flax_rule, lpips_shapes(), ignore=DROPPED_PREFIXES,
                          what="VGG16 + LPIPS lin checkpoint")


def default_lin_path() -> str | None:
    """`lpips/weights/v0.1/vgg.pth` of an installed `lpips` package (found without importing it)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "weights", "v0.1", "vgg.pth")
    return path if os.path.isfile(path) else None


def convert_checkpoint(vgg16_path: str | os.PathLike, lin_path: str | os.PathLike | None,
                       dest: str | os.PathLike) -> str:
    """Reads both state dicts, converts them strictly and writes params + config JSON to `dest`."""
    from convert.torch_io import load_state_dict
    from jaxinv.checkpoint import PARAMS_SUBDIR, save_params

    dest = os.fspath(dest)
    if os.path.exists(os.path.join(dest, PARAMS_SUBDIR)):
        raise FileExistsError(f"{dest} already holds a checkpoint; choose a new output directory")
    if lin_path is None:
        lin_path = default_lin_path()
        if lin_path is None:
            raise FileNotFoundError("no LPIPS linear weights: pass --lin PATH to lpips/weights/v0.1/vgg.pth "
                                    "(or install the lpips package, which ships it)")
    params = convert_state_dicts(load_state_dict(vgg16_path), load_state_dict(lin_path))
    config = {"model": MODEL_NAME, "vgg16": os.path.basename(os.fspath(vgg16_path)),
              "lin": os.path.basename(os.fspath(lin_path))}
    return save_params(dest, params, config)


def convert(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m convert.lpips", description=__doc__.splitlines()[0])
    parser.add_argument("--vgg16", required=True, help="torchvision vgg16 state dict (vgg16-397923af.pth)")
    parser.add_argument("--lin", default=None,
                        help="lpips linear weights (lpips/weights/v0.1/vgg.pth); default: the installed lpips package's")
    parser.add_argument("--output", required=True, help="new directory for the Flax checkpoint")
    args = parser.parse_args(argv)
    return convert_checkpoint(args.vgg16, args.lin, args.output)


def main(argv: list[str] | None = None) -> int:
    return cli.main(convert, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
