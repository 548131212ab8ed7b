"""guided-diffusion `UNetModel` state dict (`ffhq_10m.pt`, `256x256_diffusion_uncond.pt`, ...) -> Flax.

    python -m convert.adm --checkpoint ffhq_10m.pt --model-config ffhq_10m --output ckpt/ffhq_10m

`--model-config` is a preset name (`ffhq_10m`, `imagenet_256_uncond`) or a JSON file of
`create_model` keyword arguments. Every torch key must land on exactly one parameter of
`jaxinv.models.adm.ADMUNet` with the right shape, or conversion fails listing the offending keys.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Mapping

import numpy as np

from convert.strict import map_state_dict, split_torch_key
from jaxinv import cli
from jaxinv.models.adm import ADMConfig, init_shapes, resolve_config

# Submodules whose torch parameters are 1x1 `conv1d` (O, I, 1) but are dense layers here.
_CONV1D_AS_DENSE = ("qkv", "proj_out")


def flax_path(key: str) -> tuple[tuple[str, ...], str]:
    """`input_blocks.1.0.in_layers.2.weight` -> `(input_blocks_1_0, in_layers_2)`, `weight`."""
    modules, leaf = split_torch_key(key)
    return tuple(modules), leaf


def flax_rule(key: str, value: np.ndarray):
    """Torch key and array -> (Flax path, array) with the layout change its module type needs."""
    modules, leaf = flax_path(key)
    if not modules or leaf not in ("weight", "bias"):
        return None
    if leaf == "bias":
        return modules + ("bias",), value
    if modules[-1] == "label_emb" and value.ndim == 2:
        return modules + ("embedding",), value
    if modules[-1] in _CONV1D_AS_DENSE and value.ndim == 3 and value.shape[-1] == 1:
        return modules + ("kernel",), value[:, :, 0].T
    if value.ndim == 4:  # conv OIHW -> HWIO
        return modules + ("kernel",), np.transpose(value, (2, 3, 1, 0))
    if value.ndim == 2:  # linear (out, in) -> (in, out)
        return modules + ("kernel",), value.T
    if value.ndim == 1:  # GroupNorm weight
        return modules + ("scale",), value
    return None


def convert_state_dict(state_dict: Mapping[str, np.ndarray], model_config: Any) -> dict:
    """Strictly maps a guided-diffusion state dict onto the `ADMUNet` parameter tree (numpy leaves).

    `model_config`: preset name, JSON path, dict of `create_model` kwargs or `ADMConfig`. The
    expected tree comes from `jax.eval_shape` of the module's init, so no random weights are made.
    """
    config = resolve_config(model_config)
    return map_state_dict(state_dict, flax_rule, init_shapes(config), what="guided-diffusion UNet checkpoint")


def convert_checkpoint(src: str | os.PathLike, model_config: Any, dest: str | os.PathLike) -> str:
    """Reads `src` (.pt/.safetensors), converts it strictly and writes params + config JSON to `dest`."""
    from convert.torch_io import load_state_dict
    from jaxinv.checkpoint import PARAMS_SUBDIR, save_params

    dest = os.fspath(dest)
    if os.path.exists(os.path.join(dest, PARAMS_SUBDIR)):
        raise FileExistsError(f"{dest} already holds a checkpoint; choose a new output directory")
    config: ADMConfig = resolve_config(model_config)
    params = convert_state_dict(load_state_dict(src), config)
    return save_params(dest, params, config.to_dict())


def convert(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m convert.adm", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="guided-diffusion state dict (.pt)")
    parser.add_argument("--model-config", required=True,
                        help="preset (ffhq_10m, imagenet_256_uncond) or JSON file of create_model kwargs")
    parser.add_argument("--output", required=True, help="new directory for the Flax checkpoint")
    args = parser.parse_args(argv)
    return convert_checkpoint(args.checkpoint, args.model_config, args.output)


def main(argv: list[str] | None = None) -> int:
    return cli.main(convert, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
