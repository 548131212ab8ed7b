"""Fresh run directories (never reusing an existing one) and PNG output of [-1, 1] images."""

from __future__ import annotations

import datetime
import os

import numpy as np
from PIL import Image


def fresh_run_dir(root: str, name: str) -> str:
    """Creates `root/name/<UTC timestamp>[-k]` and returns it; an existing directory is never reused."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, name, stamp)
    path, k = base, 1
    while True:
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            path, k = f"{base}-{k}", k + 1


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[-1, 1] float (H, W, C) → uint8 (the seeds' `(x + 1) / 2` then clip)."""
    return np.round(np.clip((np.asarray(image, np.float32) + 1.0) / 2.0, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_image(path: str, image: np.ndarray) -> None:
    Image.fromarray(to_uint8(image)).save(path)


def save_grid(path: str, images: np.ndarray, columns: int | None = None, pad: int = 2) -> None:
    """Tiles a batch (N, H, W, C) of [-1, 1] images into one PNG, white between tiles."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or n
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, c), 1.0, np.float32)
    for i, image in enumerate(images):
        r, q = divmod(i, columns)
        grid[r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = image
    save_image(path, grid)
