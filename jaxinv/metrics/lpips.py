"""LPIPS with the VGG16 trunk (Zhang et al. 2018), equal to the `lpips` package's `LPIPS(net='vgg')`.

Eq. 1 of "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric":

    d(x, x0) = sum_l 1/(H_l W_l) sum_{h,w} || w_l ⊙ (ŷ^l_{hw} − ŷ^l_{0hw}) ||²_2

with ŷ^l the VGG16 activations at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, unit-normalised
over channels (ŷ = y / (||y||_2 + 1e-10), the package's `normalize_tensor`), and w_l the learned
non-negative channel weights (the package's 1x1 `lin{l}` convs without bias, applied to the
squared difference). Version 0.1 first maps the [-1, 1] input through the ScalingLayer
(x − shift) / scale with shift (−.030, −.088, −.188), scale (.458, .448, .450).

Parameters: `net/features_N` (torchvision `features.N`) and `lin0`..`lin4` (`lin{k}.model.1`).
Convert with `python -m convert.lpips --vgg16 vgg16-397923af.pth --output checkpoints/lpips_vgg`.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinv.models.vgg import LPIPS_TAPS, VGG16Features

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
MODEL_NAME = "lpips_vgg16_v0.1"


def unit_normalize(features: jax.Array, eps: float = NORM_EPS) -> jax.Array:
    """y / (||y||_2 + eps) over the channel axis (eps outside the root, as the package)."""
    return features / (jnp.sqrt(jnp.sum(jnp.square(features), axis=-1, keepdims=True)) + eps)


class LPIPS(nn.Module):
    """(x0, x1) NHWC in [-1, 1] -> LPIPS distance per image (B,) (`lpips.LPIPS(net='vgg')(x0, x1)`)."""

    precision: Any = "highest"

    @nn.compact
    def __call__(self, x0: jax.Array, x1: jax.Array) -> jax.Array:
        _check_images(x0, x1)
        shift = jnp.asarray(SHIFT, jnp.float32)
        scale = jnp.asarray(SCALE, jnp.float32)
        batch = x0.shape[0]
        # One trunk pass over both images: the same convs, half the dispatches.
        x = (jnp.concatenate([x0, x1], 0).astype(jnp.float32) - shift) / scale
        taps = VGG16Features(LPIPS_TAPS, self.precision, name="net")(x)
        total = jnp.zeros((batch,), jnp.float32)
        for k, y in enumerate(taps):
            y = unit_normalize(y)
            diff = jnp.square(y[:batch] - y[batch:])
            weighted = nn.Conv(1, (1, 1), use_bias=False, precision=self.precision, name=f"lin{k}")(diff)
            total = total + jnp.mean(weighted, axis=(1, 2, 3))
        return total


def lpips_shapes() -> dict:
    """The parameter tree of `LPIPS` as shape structs (no weights are made)."""
    x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    return jax.eval_shape(lambda a: LPIPS().init(jax.random.PRNGKey(0), a, a), x)["params"]


def load_lpips(directory: str | os.PathLike) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The jitted distance `(x0, x1) -> (B,)` of a directory written by `convert.lpips`."""
    from jaxinv.checkpoint import load_params

    params, config = load_params(directory)
    if config.get("model") != MODEL_NAME:
        raise ValueError(f"{directory} holds {config.get('model')!r}, not converted LPIPS weights ({MODEL_NAME})")
    module = LPIPS()
    params = jax.tree.map(jnp.asarray, params)
    apply = jax.jit(lambda p, a, b: module.apply({"params": p}, a, b))
    return lambda x0, x1: apply(params, x0, x1)


def _check_images(x0: jax.Array, x1: jax.Array) -> None:
    if x0.shape != x1.shape:
        raise ValueError(f"LPIPS needs two batches of the same shape, got {x0.shape} and {x1.shape}")
    if x0.ndim != 4 or x0.shape[-1] != 3:
        raise ValueError(f"LPIPS expects (B, H, W, 3) images in [-1, 1], got shape {x0.shape}")
    if min(x0.shape[1:3]) < 16:
        raise ValueError(f"LPIPS-VGG needs images of at least 16x16 (four 2x2 pools), got {x0.shape[1:3]}")


__all__ = ["LPIPS", "load_lpips", "lpips_shapes", "unit_normalize"]
