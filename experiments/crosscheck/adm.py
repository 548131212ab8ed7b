"""The Flax ADM UNet against the original guided-diffusion `UNetModel` on recorded inputs and outputs.

    python -m experiments.crosscheck adm --checkpoint F.pt --model-config F_config.json --io F_io.npz

Converts the checkpoint into a temporary directory, loads it back with `load_adm` (the path a user
takes), and runs the model on the io file's `x` (B,3,H,W), `t` (B,) and, if present, class labels
`y`; the error is the max abs difference to `out` (torch NCHW layout), the threshold 1e-4 max|out|.
"""

from __future__ import annotations

import argparse
import tempfile

import jax
import numpy as np

HELP = "guided-diffusion UNet: converted Flax model vs. the original's recorded output"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="guided-diffusion state dict (.pt)")
    parser.add_argument("--model-config", required=True, help="preset name or JSON of create_model kwargs")
    parser.add_argument("--io", required=True, help="npz with x (B,3,H,W), t (B,), optional y (B,), out (B,C,H,W)")


def run(args: argparse.Namespace) -> tuple[float, float]:
    from convert.adm import convert_checkpoint
    from jaxinv.models.adm import load_adm

    io = np.load(args.io)
    missing = [k for k in ("x", "t", "out") if k not in io]
    if missing:
        raise ValueError(f"{args.io} lacks arrays {missing}")
    x = np.transpose(io["x"].astype(np.float32), (0, 2, 3, 1))
    t = io["t"]
    y = io["y"].astype(np.int32) if "y" in io else None
    expected = io["out"].astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        convert_checkpoint(args.checkpoint, args.model_config, f"{tmp}/adm")
        module, params = load_adm(f"{tmp}/adm")
    with jax.default_matmul_precision("highest"):
        out = jax.jit(module.apply)({"params": params}, x, t, y)
    out = np.transpose(np.asarray(out), (0, 3, 1, 2))
    if out.shape != expected.shape:
        raise ValueError(f"model output {out.shape} does not match the recorded output {expected.shape}")
    err = float(np.max(np.abs(out - expected)))
    threshold = 1e-4 * float(np.max(np.abs(expected)))
    print(f"output {out.shape}, max|out|={np.max(np.abs(expected)):.6g}")
    return err, threshold
