"""Inpainting y = x * mask with the DPS / DAPS (SPGD) `mask_generator`, seeded on the host.

The generator (DPS `util/img_utils.py`, DAPS `forward_operator/__init__.py`) draws from numpy's
global RNG; here a `RandomState(seed)` makes the same calls:
- random: p = U(lo, hi); `choice(n*n, int(n*n*p), replace=False)` pixels set to 0 (all channels);
- box: h = randint(lo, hi), w = randint(lo, hi); top = randint(margin_h, n - margin_h - h),
  left = randint(margin_w, n - margin_w - w); the h x w box is 0 ('extreme' keeps only the box).

DPS draws a new mask per image (margin (16, 16), configs: random (0.3, 0.7), box (128, 129));
DAPS/SPGD draw ONE mask on the first call and share it over all images, with margin (32, 32)
(configs: random (0.8, 0.8), box (128, 129)). `inpainting_masks` draws per-image masks in
DPS's order; `batched_inpainting` stacks them into an operator to `jax.vmap` over.

A A^T = diag(mask^2), so (s^2 I + v A A^T)^{-1} r = r / (s^2 + v mask^2) (CoDPS `A_AT`).
"""
from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
from flax import struct

from jaxinv.operators.base import OperatorBase, check_image_shape, register_operator
from jaxinv.operators.spectral import SVD, Spectral

MASK_TYPES = ("random", "box", "extreme")


def generate_mask(rng: np.random.RandomState, image_size: int, mask_type: str = "random",
                  mask_prob_range=(0.3, 0.7), mask_len_range=(128, 129), margin=(16, 16)) -> np.ndarray:
    """One (image_size, image_size) float32 mask of `mask_generator`, 1 = observed, consuming `rng`."""
    if mask_type not in MASK_TYPES:
        raise ValueError(f"inpainting: mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
    mask = np.ones((image_size, image_size), np.float32)
    if mask_type == "random":
        low, high = mask_prob_range
        if not 0 <= low <= high <= 1:
            raise ValueError(f"inpainting: mask_prob_range must satisfy 0 <= lo <= hi <= 1, got {mask_prob_range}")
        total = image_size**2
        prob = rng.uniform(low, high)
        dropped = rng.choice(total, int(total * prob), replace=False)
        mask.reshape(-1)[dropped] = 0.0
        return mask
    low, high = int(mask_len_range[0]), int(mask_len_range[1])
    margin_h, margin_w = margin
    if not (0 < low < high and margin_h + high - 1 < image_size - margin_h and margin_w + high - 1 < image_size - margin_w):
        raise ValueError(
            f"inpainting: box sizes {mask_len_range} with margin {margin} do not fit a {image_size}x{image_size} "
            f"image (need margin + size < image_size - margin)"
        )
    mask_h = rng.randint(low, high)
    mask_w = rng.randint(low, high)
    top = rng.randint(margin_h, image_size - margin_h - mask_h)
    left = rng.randint(margin_w, image_size - margin_w - mask_w)
    mask[top : top + mask_h, left : left + mask_w] = 0.0
    return 1.0 - mask if mask_type == "extreme" else mask


def inpainting_masks(image_shape, num: int, seed: int | None = 0, **mask_params) -> np.ndarray:
    """`num` masks (num, H, W, 1) drawn one after another from `RandomState(seed)` (DPS: one per image)."""
    height, width, _ = check_image_shape(image_shape)
    if height != width:
        raise ValueError(f"inpainting: the mask generator needs square images, got {tuple(image_shape)}")
    rng = np.random.RandomState(seed)
    return np.stack([generate_mask(rng, height, **mask_params) for _ in range(num)])[..., None]


@register_operator("inpainting")
@struct.dataclass
class Inpainting(OperatorBase):
    """y = x * mask, mask (H, W, 1) shared over channels; noise is later added to all pixels (as DPS)."""

    mask: jax.Array
    image_shape: tuple = struct.field(pytree_node=False)

    is_linear = True
    spectral_condition = ""
    svd_condition = ""
    example_params = {"mask_type": "random", "mask_prob_range": (0.3, 0.7), "seed": 0}

    @classmethod
    def create(cls, image_shape, mask_type: str = "random", mask_prob_range=(0.3, 0.7), mask_len_range=(128, 129),
               margin=(16, 16), seed: int | None = 0, mask=None):
        """The given `mask`, or one drawn from `RandomState(seed)`."""
        if mask is None:
            return cls.draw(np.random.RandomState(seed), image_shape, mask_type=mask_type,
                            mask_prob_range=mask_prob_range, mask_len_range=mask_len_range, margin=margin)
        mask = np.asarray(mask, np.float32)
        if mask.ndim == 2:
            mask = mask[..., None]
        if mask.shape != (image_shape[0], image_shape[1], 1):
            raise ValueError(f"inpainting: mask must have shape (H, W) or (H, W, 1) = {image_shape[:2]}, got {mask.shape}")
        return cls(mask=jnp.asarray(mask), image_shape=tuple(image_shape))

    @classmethod
    def draw(cls, rng: np.random.RandomState, image_shape, mask_type: str = "random", mask_prob_range=(0.3, 0.7),
             mask_len_range=(128, 129), margin=(16, 16)):
        """One mask of the seeds' `mask_generator`, consuming `rng` (DPS draws one per image)."""
        height, width, _ = check_image_shape(image_shape)
        if height != width:
            raise ValueError(f"inpainting: the mask generator needs square images, got {tuple(image_shape)}")
        mask = generate_mask(rng, height, mask_type, mask_prob_range, mask_len_range, margin)
        return cls.create(image_shape, mask=mask)

    def _apply(self, x):
        return x * self.mask.astype(x.dtype)

    def show(self, y):
        """The observed pixels; the masked ones black."""
        return np.clip(np.asarray(y, np.float32) * np.asarray(self.mask), -1, 1)

    def spectral(self):
        """A A^T = diag(mask^2) in pixels."""
        return Spectral(ut=lambda y: y, u=lambda c: c, eigenvalues=jnp.square(self.mask))

    def svd(self):
        """V = U = I in pixels, s = the mask; the masked pixels are not measured."""
        measured = self.mask > 0
        return SVD(vt=lambda x: x, v=lambda c: c, ut=lambda y: jnp.where(measured, y, 0), u=lambda c: c,
                   singulars=self.mask, measured=measured)


def batched_inpainting(image_shape, num: int, seed: int | None = 0, **mask_params) -> Inpainting:
    """An `Inpainting` whose mask leaf is (num, H, W, 1): per-image masks for `jax.vmap(f)(op, xs)`."""
    image_shape = check_image_shape(image_shape)
    masks = inpainting_masks(image_shape, num, seed, **mask_params)
    return Inpainting(mask=jnp.asarray(masks), image_shape=image_shape)
