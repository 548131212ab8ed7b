"""Reading torch state dicts (.pt / .pth / .bin with torch, .safetensors without) into numpy."""

from __future__ import annotations

import os

import numpy as np


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Returns `{key: float32/int numpy array}` from a state dict file.

    `.safetensors` needs only the `safetensors` package; anything else is read with
    `torch.load(weights_only=True)`, which refuses pickled code. A checkpoint that wraps its state
    dict (`{"state_dict": ...}`, `{"model": ...}`, `{"params": ...}`) is unwrapped.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        tensors = load_file(path)
        return {k: _to_numpy_float(v) for k, v in tensors.items()}
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    out = {}
    for k, v in obj.items():
        if not hasattr(v, "detach"):
            raise ValueError(f"{path}: entry {k!r} is not a tensor ({type(v).__name__})")
        v = v.detach().cpu()
        if v.is_floating_point():
            v = v.float()
        out[k] = v.numpy()
    return out


def _to_numpy_float(a: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.floating) or a.dtype.name == "bfloat16":
        return np.asarray(a, dtype=np.float32)
    return a
