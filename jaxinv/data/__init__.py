"""Image sources and batching."""

from jaxinv.data.sources import (
    Batch,
    Example,
    batches,
    caption_csv,
    center_crop_resize,
    image_folder,
    native_image_folder,
    npz_images,
    tfds_images,
)

__all__ = [
    "Batch",
    "Example",
    "batches",
    "caption_csv",
    "center_crop_resize",
    "image_folder",
    "native_image_folder",
    "npz_images",
    "tfds_images",
]
