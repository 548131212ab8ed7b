"""BKSE `KernelWizard.adaptKernel(x, kernel)`: converted Flax model against the original's recorded output."""
from __future__ import annotations

import argparse
import tempfile

import jax.numpy as jnp
import numpy as np

HELP = "BKSE KernelWizard.adaptKernel (nonlinear blur): convert a .pth and replay a recorded (x, kernel, out)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="KernelWizard .pth state_dict")
    parser.add_argument("--options", required=True, help="its options (JSON: KernelWizard section or whole file)")
    parser.add_argument("--io", required=True, help="npz with x (B,3,H,W) in [0,1], kernel (B,kernel_dim,H/128,W/128), out")


def run(args) -> tuple[float, float]:
    from convert.bkse import convert_checkpoint
    from jaxinv.models.bkse import load_kernel_wizard

    io = np.load(args.io)
    for name in ("x", "kernel", "out"):
        if name not in io:
            raise ValueError(f"{args.io} lacks the array {name!r} (has {sorted(io.files)})")
    with tempfile.TemporaryDirectory() as tmp:
        directory = convert_checkpoint(args.checkpoint, args.options, f"{tmp}/converted")
        model, params = load_kernel_wizard(directory)
    x = jnp.asarray(np.asarray(io["x"], np.float32).transpose(0, 2, 3, 1))
    kernel = jnp.asarray(np.asarray(io["kernel"], np.float32).transpose(0, 2, 3, 1))
    out = np.asarray(model.apply({"params": params}, x, kernel)).transpose(0, 3, 1, 2)
    expected = np.asarray(io["out"], np.float32)
    if out.shape != expected.shape:
        raise ValueError(f"output shape {out.shape} differs from the recorded {expected.shape}")
    err = float(np.abs(out.astype(np.float64) - expected).max())
    print(f"adaptKernel output {out.shape}, max|out| = {np.abs(expected).max():.4g}")
    return err, 1e-4 * float(np.abs(expected).max())
