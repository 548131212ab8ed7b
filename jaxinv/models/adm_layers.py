"""Building blocks of the guided-diffusion ("ADM") UNet (openai/guided-diffusion `unet.py`, `nn.py`).

Everything is NHWC. Submodule names mirror the torch `nn.Sequential` indices (`in_layers_2` is
`in_layers.2`), so a torch key becomes a Flax path by joining each numeric index to its parent.
Parameters are float32; `dtype` is the compute dtype of convolutions, dense layers and attention
matmuls, while GroupNorm statistics and the attention softmax run in float32 as in the original
(`GroupNorm32`, `softmax(weight.float())`).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinv.models import winograd

Dtype = Any


def timestep_embedding(timesteps: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
    """Sinusoidal embedding `[cos(t f), sin(t f)]`, `f_i = exp(-ln(max_period) i / half)`, i < half.

    Computed in float32 from float timesteps, so fractional steps (EDM wrappers) are exact; an odd
    `dim` gets a zero last column, as in `nn.timestep_embedding`.
    """
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = jnp.asarray(timesteps, jnp.float32)[:, None] * freqs[None]
    embedding = jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
    if dim % 2:
        embedding = jnp.concatenate([embedding, jnp.zeros_like(embedding[:, :1])], axis=-1)
    return embedding


class GroupNorm32(nn.Module):
    """`GroupNorm(32, C, eps=1e-5)` computed in float32 and cast back to the input dtype."""

    num_groups: int = 32
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        if channels % self.num_groups:
            raise ValueError(f"GroupNorm: {channels} channels are not divisible into {self.num_groups} groups")
        scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
        h = x.astype(jnp.float32)
        grouped = h.reshape(h.shape[:-1] + (self.num_groups, channels // self.num_groups))
        axes = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
        mean = grouped.mean(axis=axes, keepdims=True)
        var = jnp.square(grouped - mean).mean(axis=axes, keepdims=True)
        grouped = (grouped - mean) * jax.lax.rsqrt(var + self.epsilon)
        return (grouped.reshape(h.shape) * scale + bias).astype(x.dtype)


# Up to this many rows or columns, a stride-1 3x3 convolution runs as one matmul over shifted copies.
SMALL_SPATIAL = 4
# On the CPU, also where one image's input is at most this many values (its 9 shifted copies: 576 KB).
SMALL_IM2COL = 16384
# On the CPU, Winograd F(2x2, 3x3) from 16 to 32 rows and columns, up to this many values per image.
WINOGRAD_MAX = 32 * 32 * 128


def conv_algorithm(height: int, width: int, in_features: int, out_features: int, stride: int = 1,
                   platform: str = "cpu") -> str:
    """How `Conv3x3` computes a convolution of this size: "shifted", "winograd" or "direct".

    Measured per shape of the ADM UNet on 2 CPU cores, forward + input VJP against the other two
    (`python -m experiments.bench.conv_shapes`, docs/benchmarks.md): the matmul of 9 shifted copies wins
    where they are small (the 3-channel input conv: 3.8 ms instead of 16.6 at 64x64), Winograd at 16-32
    rows with at most 128 channels at 32 and 256 at 16 (e.g. 15.2 ms instead of 19.1), and XLA's
    convolution everywhere else. Off the CPU only the small-input rule applies.
    """
    if stride != 1:
        return "direct"
    if min(height, width) <= SMALL_SPATIAL:
        return "shifted"
    if platform != "cpu":
        return "direct"
    if height * width * in_features <= SMALL_IM2COL:
        return "shifted"
    channels = max(in_features, out_features)
    if (16 <= min(height, width) <= 32 and height % 2 == 0 and width % 2 == 0
            and channels <= 256 and height * width * channels <= WINOGRAD_MAX):
        return "winograd"
    return "direct"


class Conv3x3(nn.Module):
    """`conv_nd(2, ., features, 3, stride, padding=1)`; parameters `kernel` (3, 3, C_in, C_out) and `bias`
    as `nn.Conv`'s (same names, shapes and initialisers).

    y[h, w] = sum_{i, j} x_pad[h + i, w + j] @ kernel[i, j] + bias, computed by the algorithm that
    `conv_algorithm` picks for the shape: one matmul of the 9 shifted copies (at SMALL_SPATIAL or fewer
    rows or columns XLA:CPU rewrites a convolution of an input smaller than its kernel into a
    reversed-kernel convolution that is ~60x slower: 512 channels at 2x2, 36 ms instead of 0.6 ms),
    Winograd F(2x2, 3x3) (`jaxinv.models.winograd`) or `lax.conv_general_dilated`.
    """

    features: int
    dtype: Dtype = jnp.float32
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        x, kernel, bias = (a.astype(self.dtype) for a in (x, kernel, bias))
        height, width = x.shape[-3], x.shape[-2]
        algorithm = conv_algorithm(height, width, x.shape[-1], self.features, self.stride, jax.default_backend())
        if algorithm == "shifted":
            y = shifted_conv3x3(x, kernel)
        elif algorithm == "winograd":
            y = winograd.conv3x3(x.reshape(-1, *x.shape[-3:]), kernel).reshape(*x.shape[:-1], self.features)
        else:
            y = direct_conv3x3(x, kernel, self.stride)
        return y + bias


def shifted_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Stride-1, padding-1 3x3 convolution (NHWC, any leading dims) as one matmul of the 9 shifted copies."""
    height, width = x.shape[-3], x.shape[-2]
    padded = jnp.pad(x, [(0, 0)] * (x.ndim - 3) + [(1, 1), (1, 1), (0, 0)])
    shifted = [padded[..., i:i + height, j:j + width, :] for i in range(3) for j in range(3)]
    return jnp.concatenate(shifted, axis=-1) @ kernel.reshape(9 * x.shape[-1], kernel.shape[-1])


def direct_conv3x3(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """Padding-1 3x3 convolution (NHWC / HWIO) by `lax.conv_general_dilated`."""
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv3x3(features: int, dtype: Dtype, name: str, stride: int = 1) -> Conv3x3:
    """`conv_nd(2, ., features, 3, stride, padding=1)`."""
    return Conv3x3(features, dtype=dtype, stride=stride, name=name)


def avg_pool_2x2(x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def upsample_nearest_2x(x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, 2 * h, 2 * w, c)


class Downsample(nn.Module):
    """`Downsample(use_conv=True)`: a stride-2 3x3 conv named `op` (used when `resblock_updown` is off)."""

    channels: int
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        return conv3x3(self.channels, self.dtype, "op", stride=2)(x)


class Upsample(nn.Module):
    """`Upsample(use_conv=True)`: nearest x2 then a 3x3 conv named `conv`."""

    channels: int
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        return conv3x3(self.channels, self.dtype, "conv")(upsample_nearest_2x(x))


class ResBlock(nn.Module):
    """guided-diffusion `ResBlock`: `skip(x) + out_layers(in_layers(x) (+) emb_layers(emb))`.

    With `use_scale_shift_norm`: `h = GN(h) (1 + scale) + shift` where `[scale, shift] = emb_layers(emb)`;
    otherwise `h = h + emb_layers(emb)` before `out_layers`. `up`/`down` resample both branches after
    the input norm+SiLU and before the input conv (nearest x2 / 2x2 average pooling). The skip is the
    identity when the width is unchanged, else a 1x1 conv.
    """

    out_channels: int
    dropout: float = 0.0
    use_scale_shift_norm: bool = False
    up: bool = False
    down: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array, deterministic: bool = True) -> jax.Array:
        h = nn.silu(GroupNorm32(name="in_layers_0")(x))
        if self.up:
            h, x = upsample_nearest_2x(h), upsample_nearest_2x(x)
        elif self.down:
            h, x = avg_pool_2x2(h), avg_pool_2x2(x)
        h = conv3x3(self.out_channels, self.dtype, "in_layers_2")(h)

        emb_width = 2 * self.out_channels if self.use_scale_shift_norm else self.out_channels
        # The original's fp16 mode converts only convolutions: this linear layer stays float32.
        emb_out = nn.Dense(emb_width, name="emb_layers_1")(nn.silu(emb.astype(jnp.float32)))
        emb_out = emb_out.astype(h.dtype)[:, None, None, :]
        out_norm = GroupNorm32(name="out_layers_0")
        if self.use_scale_shift_norm:
            scale, shift = jnp.split(emb_out, 2, axis=-1)
            h = out_norm(h) * (1 + scale) + shift
        else:
            h = out_norm(h + emb_out)
        h = nn.silu(h)
        if self.dropout > 0:
            h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
        h = conv3x3(self.out_channels, self.dtype, "out_layers_3")(h)

        if x.shape[-1] != self.out_channels:
            x = nn.Conv(self.out_channels, (1, 1), dtype=self.dtype, name="skip_connection")(x)
        return x + h


class AttentionBlock(nn.Module):
    """guided-diffusion `AttentionBlock`: `x + proj_out(attention(qkv(GN(x))))` over all pixels.

    `qkv` and `proj_out` are the original 1x1 `conv1d`s, here dense layers over channels. Heads:
    `C // num_head_channels` if `num_head_channels != -1`, else `num_heads`. The two orders of the
    original split the 3C qkv channels differently: `QKVAttentionLegacy` per head as `[q_h, k_h, v_h]`
    (reshape to `(heads, 3, ch)`), `QKVAttention` as `[q, k, v]` then heads (reshape to
    `(3, heads, ch)`). Both compute `softmax((q/ch^1/4)^T (k/ch^1/4)) v` with the softmax in float32.
    """

    num_heads: int = 1
    num_head_channels: int = -1
    use_new_attention_order: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, emb: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        b, height, width, c = x.shape
        if self.num_head_channels == -1:
            heads = self.num_heads
        else:
            if c % self.num_head_channels:
                raise ValueError(f"attention: {c} channels are not divisible by num_head_channels={self.num_head_channels}")
            heads = c // self.num_head_channels
        if c % heads:
            raise ValueError(f"attention: {c} channels are not divisible by num_heads={heads}")
        ch = c // heads
        tokens = x.reshape(b, height * width, c)
        qkv = nn.Dense(3 * c, dtype=self.dtype, name="qkv")(GroupNorm32(name="norm")(tokens))
        if self.use_new_attention_order:
            qkv = qkv.reshape(b, height * width, 3, heads, ch)
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        else:
            qkv = qkv.reshape(b, height * width, heads, 3, ch)
            q, k, v = qkv[:, :, :, 0], qkv[:, :, :, 1], qkv[:, :, :, 2]
        scale = 1.0 / math.sqrt(math.sqrt(ch))
        weight = jnp.einsum("bthc,bshc->bhts", q * scale, k * scale)
        weight = jax.nn.softmax(weight.astype(jnp.float32), axis=-1).astype(weight.dtype)
        a = jnp.einsum("bhts,bshc->bthc", weight, v).reshape(b, height * width, c)
        h = nn.Dense(c, dtype=self.dtype, name="proj_out")(a)
        return (tokens + h).reshape(b, height, width, c)
