"""Fourier phase retrieval (DPS `PhaseRetrievalOperator`, DAPS/SPGD `PhaseRetrieval`) and HDR.

Phase retrieval: y = | fftshift(fft2(ifftshift(pad(x')), norm='ortho')) | per channel, with zero
padding p = int(oversample / 8 * resolution) on every side, where the seeds fix resolution = 256
whatever the image size (oversample 2 pads 64). x' = x on [-1, 1] (DPS) or x / 2 + 1/2 (DAPS, SPGD).
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import struct

from jaxinv.operators.base import OperatorBase, register_operator

INPUT_RANGES = ("[-1,1]", "[0,1]")


@register_operator("phase_retrieval")
@struct.dataclass
class PhaseRetrieval(OperatorBase):
    """y = |F_ortho pad(x')|, centred orthonormal 2-D DFT (fastMRI `fft2c_new`) of the padded image."""

    image_shape: tuple = struct.field(pytree_node=False)
    pad: int = struct.field(pytree_node=False, default=64)
    input_range: str = struct.field(pytree_node=False, default="[-1,1]")

    is_linear = False
    example_params = {"oversample": 2.0, "resolution": 16}

    @classmethod
    def create(cls, image_shape, oversample: float = 2.0, resolution: int = 256, input_range: str = "[-1,1]"):
        if not oversample >= 0:
            raise ValueError(f"phase_retrieval: oversample must be >= 0, got {oversample!r}")
        if input_range not in INPUT_RANGES:
            raise ValueError(f"phase_retrieval: input_range must be one of {INPUT_RANGES}, got {input_range!r}")
        return cls(image_shape=tuple(image_shape), pad=int((oversample / 8.0) * resolution), input_range=input_range)

    def _apply(self, x):
        if self.input_range == "[0,1]":
            x = x * 0.5 + 0.5
        p = self.pad
        padded = jnp.pad(x, ((p, p), (p, p), (0, 0))).astype(jnp.complex64)
        spectrum = jnp.fft.fftshift(
            jnp.fft.fft2(jnp.fft.ifftshift(padded, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1)
        )
        return jnp.abs(spectrum).astype(x.dtype)


@register_operator("hdr")
@struct.dataclass
class HighDynamicRange(OperatorBase):
    """DAPS/SPGD `high_dynamic_range`: y = clip(scale * x, -1, 1) (config scale 2)."""

    scale: float
    image_shape: tuple = struct.field(pytree_node=False)

    is_linear = False
    example_params = {"scale": 2.0}

    @classmethod
    def create(cls, image_shape, scale: float = 2.0):
        if not scale > 0:
            raise ValueError(f"hdr: scale must be positive, got {scale!r}")
        return cls(scale=float(scale), image_shape=tuple(image_shape))

    def _apply(self, x):
        return jnp.clip(x * self.scale, -1.0, 1.0)
