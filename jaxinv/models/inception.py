"""The FID Inception-v3 of pytorch-fid (`fid_inception_v3`, TF 2015-12-05 weights) in Flax, pool3 output.

    x in [0, 1] -> bilinear resize to 299x299 (torch `align_corners=False`, no antialiasing)
      -> 2x - 1 -> Conv2d_1a .. Conv2d_4a, two 3x3/2 max pools -> Mixed_5b..5d (FIDInceptionA)
      -> Mixed_6a (InceptionB) -> Mixed_6b..6e (FIDInceptionC) -> Mixed_7a (InceptionD)
      -> Mixed_7b (FIDInceptionE_1) -> Mixed_7c (FIDInceptionE_2) -> global average -> (B, 2048)

The FID blocks differ from torchvision's: their 3x3 average pools exclude the zero padding
(`count_include_pad=False`, as TensorFlow), and Mixed_7c pools with a 3x3 max instead of an average.
Every conv is torchvision's `BasicConv2d`: conv without bias, BatchNorm (eps 1e-3, running
statistics), ReLU. Names mirror the torch keys (`Mixed_6b.branch7x7_2.conv.weight` ->
`Mixed_6b/branch7x7_2/conv/kernel`; BatchNorm running statistics in the `batch_stats` collection).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MODEL_NAME = "pytorch_fid_inception_v3"
INPUT_SIZE = 299
FEATURES = 2048


def bilinear_resize_matrix(in_size: int, out_size: int, dtype: Any = np.float32) -> np.ndarray:
    """(out_size, in_size) weights of torch's 1-D bilinear interpolation with `align_corners=False`.

    src = (dst + 0.5) * in/out - 0.5, clamped at 0; neighbours floor(src) and floor(src) + 1 (clamped
    to the last pixel). Unlike `jax.image.resize`, no antialiasing filter widens when downsampling.
    """
    dtype = np.dtype(dtype)
    scale = dtype.type(in_size / out_size)
    # torch evaluates scale * (dst + 0.5) - 0.5 in float32 as one fused multiply-add (a single
    # rounding); with two roundings the fraction is off by up to 3e-5 at source index ~300.
    src = (np.float64(scale) * (np.arange(out_size) + 0.5) - 0.5).astype(dtype)
    src = np.maximum(src, dtype.type(0))
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo.astype(dtype)
    weights = np.zeros((out_size, in_size), dtype)
    rows = np.arange(out_size)
    np.add.at(weights, (rows, lo), 1 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def resize_bilinear(x: jax.Array, size: tuple[int, int], precision: Any = "highest") -> jax.Array:
    """NHWC bilinear resize equal to `F.interpolate(x, size, mode='bilinear', align_corners=False)`."""
    wh = jnp.asarray(bilinear_resize_matrix(x.shape[1], size[0], x.dtype))
    ww = jnp.asarray(bilinear_resize_matrix(x.shape[2], size[1], x.dtype))
    return jnp.einsum("oh,bhwc,pw->bopc", wh, x, ww, precision=precision)


class BasicConv2d(nn.Module):
    """torchvision `BasicConv2d`: conv (no bias) -> BatchNorm(eps 1e-3, running stats) -> ReLU."""

    features: int
    kernel: Sequence[int] = (1, 1)
    strides: Sequence[int] = (1, 1)
    padding: Sequence[int] = (0, 0)
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x):
        pad = tuple((p, p) for p in self.padding)
        x = nn.Conv(self.features, tuple(self.kernel), tuple(self.strides), pad, use_bias=False,
                    precision=self.precision, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return jax.nn.relu(x)


def _avg_pool_3x3_same(x):
    """TF's 3x3/1 average pool: the zero padding does not count (`count_include_pad=False`)."""
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_stride2(x):
    return nn.max_pool(x, (3, 3), (2, 2), "VALID")


class FIDInceptionA(nn.Module):
    pool_features: int
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x):
        conv = lambda name, *a, **k: BasicConv2d(*a, precision=self.precision, name=name, **k)
        b1 = conv("branch1x1", 64)(x)
        b5 = conv("branch5x5_2", 64, (5, 5), padding=(2, 2))(conv("branch5x5_1", 48)(x))
        b3 = conv("branch3x3dbl_1", 64)(x)
        b3 = conv("branch3x3dbl_2", 96, (3, 3), padding=(1, 1))(b3)
        b3 = conv("branch3x3dbl_3", 96, (3, 3), padding=(1, 1))(b3)
        bp = conv("branch_pool", self.pool_features)(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x):
        conv = lambda name, *a, **k: BasicConv2d(*a, precision=self.precision, name=name, **k)
        b3 = conv("branch3x3", 384, (3, 3), (2, 2))(x)
        bd = conv("branch3x3dbl_1", 64)(x)
        bd = conv("branch3x3dbl_2", 96, (3, 3), padding=(1, 1))(bd)
        bd = conv("branch3x3dbl_3", 96, (3, 3), (2, 2))(bd)
        return jnp.concatenate([b3, bd, _max_pool_3x3_stride2(x)], -1)


class FIDInceptionC(nn.Module):
    channels_7x7: int
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x):
        conv = lambda name, *a, **k: BasicConv2d(*a, precision=self.precision, name=name, **k)
        c7 = self.channels_7x7
        b1 = conv("branch1x1", 192)(x)
        b7 = conv("branch7x7_1", c7)(x)
        b7 = conv("branch7x7_2", c7, (1, 7), padding=(0, 3))(b7)
        b7 = conv("branch7x7_3", 192, (7, 1), padding=(3, 0))(b7)
        bd = conv("branch7x7dbl_1", c7)(x)
        bd = conv("branch7x7dbl_2", c7, (7, 1), padding=(3, 0))(bd)
        bd = conv("branch7x7dbl_3", c7, (1, 7), padding=(0, 3))(bd)
        bd = conv("branch7x7dbl_4", c7, (7, 1), padding=(3, 0))(bd)
        bd = conv("branch7x7dbl_5", 192, (1, 7), padding=(0, 3))(bd)
        bp = conv("branch_pool", 192)(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x):
        conv = lambda name, *a, **k: BasicConv2d(*a, precision=self.precision, name=name, **k)
        b3 = conv("branch3x3_2", 320, (3, 3), (2, 2))(conv("branch3x3_1", 192)(x))
        b7 = conv("branch7x7x3_1", 192)(x)
        b7 = conv("branch7x7x3_2", 192, (1, 7), padding=(0, 3))(b7)
        b7 = conv("branch7x7x3_3", 192, (7, 1), padding=(3, 0))(b7)
        b7 = conv("branch7x7x3_4", 192, (3, 3), (2, 2))(b7)
        return jnp.concatenate([b3, b7, _max_pool_3x3_stride2(x)], -1)


class FIDInceptionE(nn.Module):
    """FIDInceptionE_1 (`pool="avg"`, padding excluded) or FIDInceptionE_2 (`pool="max"`)."""

    pool: str = "avg"
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x):
        conv = lambda name, *a, **k: BasicConv2d(*a, precision=self.precision, name=name, **k)
        b1 = conv("branch1x1", 320)(x)
        b3 = conv("branch3x3_1", 384)(x)
        b3 = jnp.concatenate([conv("branch3x3_2a", 384, (1, 3), padding=(0, 1))(b3),
                              conv("branch3x3_2b", 384, (3, 1), padding=(1, 0))(b3)], -1)
        bd = conv("branch3x3dbl_1", 448)(x)
        bd = conv("branch3x3dbl_2", 384, (3, 3), padding=(1, 1))(bd)
        bd = jnp.concatenate([conv("branch3x3dbl_3a", 384, (1, 3), padding=(0, 1))(bd),
                              conv("branch3x3dbl_3b", 384, (3, 1), padding=(1, 0))(bd)], -1)
        if self.pool == "max":  # pytorch-fid: the TF graph max-pools here (likely a bug, kept for FID)
            pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
        else:
            pooled = _avg_pool_3x3_same(x)
        bp = conv("branch_pool", 192)(pooled)
        return jnp.concatenate([b1, b3, bd, bp], -1)


class FIDInceptionV3(nn.Module):
    """Images (B, H, W, 3) in [0, 1] -> pool3 features (B, 2048), as pytorch-fid `InceptionV3([3])`."""

    resize_input: bool = True
    normalize_input: bool = True
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"Inception expects (B, H, W, 3) images in [0, 1], got shape {x.shape}")
        x = x.astype(jnp.result_type(x.dtype, jnp.float32))  # float64 stays float64 (x64 checks)
        if self.resize_input:
            x = resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE), self.precision)
        if self.normalize_input:
            x = 2 * x - 1
        p = self.precision
        conv = lambda name, *a, **k: BasicConv2d(*a, precision=p, name=name, **k)
        x = conv("Conv2d_1a_3x3", 32, (3, 3), (2, 2))(x)
        x = conv("Conv2d_2a_3x3", 32, (3, 3))(x)
        x = conv("Conv2d_2b_3x3", 64, (3, 3), padding=(1, 1))(x)
        x = _max_pool_3x3_stride2(x)
        x = conv("Conv2d_3b_1x1", 80)(x)
        x = conv("Conv2d_4a_3x3", 192, (3, 3))(x)
        x = _max_pool_3x3_stride2(x)
        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = FIDInceptionA(pool_features, p, name=name)(x)
        x = InceptionB(p, name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = FIDInceptionC(c7, p, name=name)(x)
        x = InceptionD(p, name="Mixed_7a")(x)
        x = FIDInceptionE("avg", p, name="Mixed_7b")(x)
        x = FIDInceptionE("max", p, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))


def inception_shapes() -> dict:
    """`{'params': ..., 'batch_stats': ...}` of `FIDInceptionV3` as shape structs (no weights made)."""
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    return jax.eval_shape(lambda a: FIDInceptionV3().init(jax.random.PRNGKey(0), a), x)
