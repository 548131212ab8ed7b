"""BKSE `KernelWizard` state dict (e.g. `GOPRO_wVAE.pth`) -> `jaxinv.models.bkse` params.

    python -m convert.bkse --checkpoint GOPRO_wVAE.pth --options OPTIONS.json --output DIR

Every key is accounted for. The adaptKernel path (`feature_extractor.*`, `adapter.*`,
`recon_trunk.*`) maps one-to-one onto the Flax tree. The kernel extractor (`kernel_extractor.*`,
the encoder F of a sharp/blurred pair, unused by the blur operator) is checked key by key and shape
by shape against the layout the options imply, then left out of the output: an unknown, missing or
misshapen key in either part fails the conversion.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Mapping

import jax
import numpy as np

from convert.strict import ConversionError, map_state_dict, split_torch_key, torch_to_flax_array, unflatten
from jaxinv import cli
from jaxinv.models.bkse import MODEL_NAME, KernelWizardConfig, init_shapes, read_options

KERNEL_EXTRACTOR_PREFIX = "kernel_extractor."


def flax_path(key: str) -> tuple[list[str], str]:
    """`adapter.model.submodule.down.1.weight` -> ([adapter, model, submodule, down_1], weight)."""
    return split_torch_key(key)


def flax_rule(key: str, value: np.ndarray):
    """Conv OIHW -> HWIO; ConvTranspose (in, out, kh, kw) -> (kh, kw, out, in), the layout of Flax's
    `ConvTranspose(transpose_kernel=True)`: the same axis permutation as a convolution."""
    modules, leaf = flax_path(key)
    if not modules or value.ndim not in (1, 4):
        return None
    try:
        name, array = torch_to_flax_array(leaf, value)
    except KeyError:
        return None
    return tuple(modules) + (name,), array


def kernel_extractor_shapes(config: KernelWizardConfig) -> dict[str, tuple[int, ...]]:
    """Torch keys and shapes of `KernelExtractor(opt)` (`models/kernel_encoding/kernel_wizard.py`).

    Sequential `model`: ReflectionPad, conv7 (index 1), norm, ReLU, then 5 stride-2 convs at 4, 7, ...,
    16 (channels min(nf 2^i, out) -> min(nf 2^(i+1), out), out = 2 kernel_dim with the VAE), then
    `n_blocks` ResnetBlocks whose `conv_block` holds two 3x3 convs. Convs carry a bias only with
    InstanceNorm; "none" and "instance" norms have no parameters.
    """
    c = config
    bias = c.extractor_norm == "instance"
    out_nc = 2 * c.kernel_dim if c.use_vae else c.kernel_dim
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name, cout, cin, k):
        shapes[f"{KERNEL_EXTRACTOR_PREFIX}{name}.weight"] = (cout, cin, k, k)
        if bias:
            shapes[f"{KERNEL_EXTRACTOR_PREFIX}{name}.bias"] = (cout,)

    conv("model.1", c.nf, 2 * c.nf if c.extractor_use_sharp else c.nf, 7)
    for i in range(5):
        conv(f"model.{4 + 3 * i}", min(c.nf * 2 ** (i + 1), out_nc), min(c.nf * 2**i, out_nc), 3)
    pad_layer = 0 if c.extractor_padding_type == "zero" else 1
    first = pad_layer
    second = first + 3 + int(c.extractor_use_dropout) + pad_layer  # conv, norm, relu, [dropout], [pad]
    for b in range(c.extractor_n_blocks):
        conv(f"model.{19 + b}.conv_block.{first}", out_nc, out_nc, 3)
        conv(f"model.{19 + b}.conv_block.{second}", out_nc, out_nc, 3)
    return shapes


def convert_state_dict(state_dict: Mapping[str, np.ndarray], config: KernelWizardConfig | Mapping) -> dict:
    """Strictly maps a KernelWizard state dict onto the adaptKernel parameter tree (see module doc)."""
    if not isinstance(config, KernelWizardConfig):
        config = KernelWizardConfig.from_options(config)
    extractor = {k: v for k, v in state_dict.items() if k.startswith(KERNEL_EXTRACTOR_PREFIX)}
    blur_path = {k: v for k, v in state_dict.items() if not k.startswith(KERNEL_EXTRACTOR_PREFIX)}
    problems = []
    expected_extractor = unflatten(
        {tuple(k.split(".")): jax.ShapeDtypeStruct(s, np.float32) for k, s in kernel_extractor_shapes(config).items()}
    )
    try:
        map_state_dict(extractor, lambda k, v: (tuple(k.split(".")), v), expected_extractor,
                       what="BKSE kernel extractor (checked, not converted)")
    except ConversionError as err:
        problems.append(str(err))
    try:
        params = map_state_dict(blur_path, flax_rule, init_shapes(config), what="BKSE KernelWizard adaptKernel path")
    except ConversionError as err:
        problems.append(str(err))
    if problems:
        raise ConversionError("\n".join(problems))
    return params


def convert_checkpoint(
    checkpoint: str | os.PathLike, options: str | os.PathLike | Mapping, output: str | os.PathLike
) -> str:
    """Converts `checkpoint` (a torch state_dict file) under `options` and writes an orbax checkpoint to `output`."""
    from convert.torch_io import load_state_dict
    from jaxinv.checkpoint import save_params

    config = options if isinstance(options, KernelWizardConfig) else (
        KernelWizardConfig.from_options(options) if isinstance(options, Mapping) else read_options(options))
    state_dict = load_state_dict(checkpoint)
    params = convert_state_dict(state_dict, config)
    model_config = {"model": MODEL_NAME, "config": config.to_dict(), "source": os.path.basename(os.fspath(checkpoint))}
    return save_params(output, params, model_config)


def convert(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m convert.bkse", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="BKSE KernelWizard .pth state_dict (e.g. GOPRO_wVAE.pth)")
    parser.add_argument("--options", required=True,
                        help="options as JSON: the KernelWizard section or a whole options file "
                             "(YAML too if PyYAML is installed)")
    parser.add_argument("--output", required=True, help="new directory for the converted checkpoint")
    args = parser.parse_args(argv)
    return convert_checkpoint(args.checkpoint, args.options, args.output)


def main(argv: list[str] | None = None) -> int:
    return cli.main(convert, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
