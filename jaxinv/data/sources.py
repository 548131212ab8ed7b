"""Image sources: a folder, a CSV of `image_path,caption` (the G2D2 format), an npz of uint8 images.

Every source yields float32 (H, W, 3) images in [-1, 1] at the model size, in a deterministic
order, optionally restricted to the subset [start, end).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def center_crop_resize(image: Image.Image, size: int) -> np.ndarray:
    """guided-diffusion's `center_crop_arr`: halve with BOX while the short side ≥ 2·size, resize the
    short side to `size` with BICUBIC, then crop the centre. Grey and RGBA become RGB. Returns uint8."""
    image = image.convert("RGB")
    while min(*image.size) >= 2 * size:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    scale = size / min(*image.size)
    image = image.resize(tuple(round(x * scale) for x in image.size), resample=Image.BICUBIC)
    arr = np.asarray(image)
    top = (arr.shape[0] - size) // 2
    left = (arr.shape[1] - size) // 2
    return arr[top : top + size, left : left + size]


def to_model_range(uint8_image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] → float32 [-1, 1] (the seeds' `Normalize((0.5,)*3, (0.5,)*3)`)."""
    return uint8_image.astype(np.float32) / 127.5 - 1.0


@dataclasses.dataclass(frozen=True)
class Example:
    image: np.ndarray  # (H, W, 3) float32 in [-1, 1]
    name: str  # stable identifier used for output file names
    caption: str | None = None
    label: int | None = None


def _subset(n: int, start: int, end: int | None) -> range:
    end = n if end is None else min(end, n)
    if not 0 <= start <= end:
        raise ValueError(f"invalid subset [start={start}, end={end}) of {n} images")
    return range(start, end)


def _read_image(path: str, size: int | None) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if size is None:
                return to_model_range(np.asarray(image.convert("RGB")))
            return to_model_range(center_crop_resize(image, size))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


def _folder_images(root: str, size: int | None, start: int, end: int | None) -> list[Example]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder not found: {root}")
    names = sorted(f for f in os.listdir(root) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {root}")
    return [
        Example(_read_image(os.path.join(root, names[i]), size), os.path.splitext(names[i])[0])
        for i in _subset(len(names), start, end)
    ]


def image_folder(root: str, size: int, start: int = 0, end: int | None = None) -> list[Example]:
    """Every image file directly in `root`, sorted by file name, at `size`×`size`."""
    return _folder_images(root, size, start, end)


def native_image_folder(root: str, start: int = 0, end: int | None = None) -> list[Example]:
    """Every image file directly in `root`, sorted by file name, at its own size (grey becomes RGB)."""
    return _folder_images(root, None, start, end)


def caption_csv(path: str, size: int, start: int = 0, end: int | None = None) -> list[Example]:
    """Rows `image_path,caption` (header required); relative paths are relative to the CSV."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"caption CSV not found: {path}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image_path", "caption"} <= set(rows[0]):
        raise ValueError(f"{path} must have a header with columns image_path,caption and at least one row")
    base = os.path.dirname(os.path.abspath(path))
    examples = []
    for i in _subset(len(rows), start, end):
        image_path = os.path.join(base, rows[i]["image_path"])
        name = f"{i:05d}_{os.path.splitext(os.path.basename(image_path))[0]}"
        examples.append(Example(_read_image(image_path, size), name, caption=rows[i]["caption"]))
    return examples


def npz_images(path: str, size: int, start: int = 0, end: int | None = None) -> list[Example]:
    """uint8 images (N, H, W, 3) under `arr_0` and optional labels under `arr_1`
    (the layout of openai's `VIRTUAL_imagenet256_labeled.npz`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz file not found: {path}")
    with np.load(path) as data:
        if "arr_0" not in data:
            raise ValueError(f"{path} has no `arr_0` array of images (keys: {list(data.keys())})")
        images = data["arr_0"]
        labels = data["arr_1"] if "arr_1" in data else None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{path}: arr_0 must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    examples = []
    for i in _subset(len(images), start, end):
        image = to_model_range(center_crop_resize(Image.fromarray(images[i]), size))
        label = None if labels is None else int(labels[i])
        examples.append(Example(image, f"{i:05d}", label=label))
    return examples


def tfds_images(name: str, split: str, size: int, start: int = 0, end: int | None = None) -> list[Example]:
    """A TensorFlow Datasets split (needs the `tfds` extra)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError("the TFDS source needs `pip install -e '.[tfds]'`") from e
    end_spec = "" if end is None else str(end)
    ds = tfds.as_numpy(tfds.load(name, split=f"{split}[{start}:{end_spec}]"))
    return [
        Example(to_model_range(center_crop_resize(Image.fromarray(ex["image"]), size)), f"{start + i:05d}")
        for i, ex in enumerate(ds)
    ]


@dataclasses.dataclass(frozen=True)
class Batch:
    images: np.ndarray  # (batch_size, H, W, 3); the tail of the last batch repeats its last image
    names: Sequence[str]  # only the real images
    valid: int  # how many leading entries are real


def batches(examples: Sequence[Example], batch_size: int) -> Iterator[Batch]:
    """Fixed-size batches (one compiled shape); the last one is padded by repeating its last image."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        images = np.stack([ex.image for ex in chunk])
        pad = batch_size - len(chunk)
        if pad:
            images = np.concatenate([images, np.repeat(images[-1:], pad, axis=0)])
        yield Batch(images, [ex.name for ex in chunk], len(chunk))
