"""The 1-D U-Net ε-network of GGDMOptim (`simulations/unet_1d.py`, after lucidrains' Unet1D), in Flax.

The D-vector is a 1-channel sequence of length D (layout NLC here, NCL in torch). Layers, as the
reference: weight-standardised convs (per output filter over (k, in), biased variance, eps 1e-5),
GroupNorm(8, eps 1e-5), SiLU; time = sinusoidal embedding of the integer step → Linear → exact
GELU → Linear; LinearAttention with q softmaxed over channels and k over positions (q scaled
after softmax), full attention in the middle; PreNorm = channel LayerNorm with gain only.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def sinusoidal_embedding(t, dim: int):
    """[sin(t ω_i), cos(t ω_i)], ω_i = exp(−log(10⁴)·i/(dim/2 − 1)), t the raw integer step."""
    half = dim // 2
    freqs = jnp.exp(jnp.arange(half) * -(math.log(10000) / (half - 1)))
    args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None]
    return jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)


class WSConv(nn.Module):
    """Conv1d whose kernel is standardised per output filter: (w − mean)/√(var + 1e-5)."""
    features: int
    kernel: int = 3

    @nn.compact
    def __call__(self, x):
        cin = x.shape[-1]
        w = self.param("kernel", nn.initializers.lecun_normal(), (self.kernel, cin, self.features))
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        mean = jnp.mean(w, axis=(0, 1), keepdims=True)
        var = jnp.var(w, axis=(0, 1), keepdims=True)
        w = (w - mean) * jax.lax.rsqrt(var + 1e-5)
        pad = self.kernel // 2
        y = jax.lax.conv_general_dilated(x, w, (1,), [(pad, pad)], dimension_numbers=("NWC", "WIO", "NWC"))
        return y + b


class Block(nn.Module):
    features: int
    groups: int = 8

    @nn.compact
    def __call__(self, x, scale_shift=None):
        x = WSConv(self.features)(x)
        x = nn.GroupNorm(num_groups=self.groups, epsilon=1e-5)(x)
        if scale_shift is not None:
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return nn.silu(x)


class ResnetBlock(nn.Module):
    features: int
    groups: int = 8

    @nn.compact
    def __call__(self, x, temb):
        ss = nn.Dense(2 * self.features)(nn.silu(temb))[:, None, :]
        h = Block(self.features, self.groups)(x, jnp.split(ss, 2, axis=-1))
        h = Block(self.features, self.groups)(h)
        res = nn.Conv(self.features, (1,))(x) if x.shape[-1] != self.features else x
        return h + res


class ChannelLayerNorm(nn.Module):
    """(x − mean_c)/√(var_c + 1e-5)·g over channels, gain only."""

    @nn.compact
    def __call__(self, x):
        g = self.param("g", nn.initializers.ones, (x.shape[-1],))
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.var(x, axis=-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * g


class LinearAttention(nn.Module):
    heads: int = 4
    dim_head: int = 32

    @nn.compact
    def __call__(self, x):
        B, N, C = x.shape
        qkv = nn.Conv(3 * self.heads * self.dim_head, (1,), use_bias=False)(x)
        q, k, v = (a.reshape(B, N, self.heads, self.dim_head) for a in jnp.split(qkv, 3, axis=-1))
        q = jax.nn.softmax(q, axis=-1) * self.dim_head ** -0.5   # over channels of a head
        k = jax.nn.softmax(k, axis=1)                             # over positions
        context = jnp.einsum("bnhd,bnhe->bhde", k, v)
        out = jnp.einsum("bhde,bnhd->bnhe", context, q).reshape(B, N, self.heads * self.dim_head)
        return ChannelLayerNorm()(nn.Conv(C, (1,))(out))


class Attention(nn.Module):
    heads: int = 4
    dim_head: int = 32

    @nn.compact
    def __call__(self, x):
        B, N, C = x.shape
        qkv = nn.Conv(3 * self.heads * self.dim_head, (1,), use_bias=False)(x)
        q, k, v = (a.reshape(B, N, self.heads, self.dim_head) for a in jnp.split(qkv, 3, axis=-1))
        sim = jnp.einsum("bihd,bjhd->bhij", q * self.dim_head ** -0.5, k)
        out = jnp.einsum("bhij,bjhd->bihd", jax.nn.softmax(sim, axis=-1), v)
        return nn.Conv(C, (1,))(out.reshape(B, N, self.heads * self.dim_head))


class PreNormResidual(nn.Module):
    attention: str = "linear"

    @nn.compact
    def __call__(self, x):
        attn = LinearAttention() if self.attention == "linear" else Attention()
        return x + attn(ChannelLayerNorm()(x))


class Unet1D(nn.Module):
    """ε̂(x_t, t) for x (B, D) and integer t (B,); `Unet1D(dim=64)` has 14,861,569 parameters."""
    dim: int = 64
    dim_mults: Sequence[int] = (1, 2, 4, 8)
    groups: int = 8

    @nn.compact
    def __call__(self, x, t):
        squeeze = x.ndim == 1
        if squeeze:
            x, t = x[None], jnp.reshape(t, (1,))
        t = jnp.broadcast_to(t, x.shape[:1])
        h = nn.Conv(self.dim, (7,), padding=((3, 3),))(x[..., None])
        r = h
        tdim = 4 * self.dim
        temb = nn.Dense(tdim)(sinusoidal_embedding(t, self.dim))
        temb = nn.Dense(tdim)(nn.gelu(temb, approximate=False))
        dims = [self.dim] + [self.dim * m for m in self.dim_mults]
        in_out = list(zip(dims[:-1], dims[1:]))
        skips = []
        for i, (din, dout) in enumerate(in_out):
            h = ResnetBlock(din, self.groups)(h, temb)
            skips.append(h)
            h = ResnetBlock(din, self.groups)(h, temb)
            h = PreNormResidual("linear")(h)
            skips.append(h)
            if i < len(in_out) - 1:
                h = nn.Conv(dout, (4,), strides=(2,), padding=((1, 1),))(h)
            else:
                h = nn.Conv(dout, (3,), padding=((1, 1),))(h)
        h = ResnetBlock(dims[-1], self.groups)(h, temb)
        h = PreNormResidual("full")(h)
        h = ResnetBlock(dims[-1], self.groups)(h, temb)
        for i, (din, dout) in enumerate(reversed(in_out)):
            h = ResnetBlock(dout, self.groups)(jnp.concatenate([h, skips.pop()], axis=-1), temb)
            h = ResnetBlock(dout, self.groups)(jnp.concatenate([h, skips.pop()], axis=-1), temb)
            h = PreNormResidual("linear")(h)
            if i < len(in_out) - 1:
                h = jnp.repeat(h, 2, axis=1)
            h = nn.Conv(din, (3,), padding=((1, 1),))(h)
        h = ResnetBlock(self.dim, self.groups)(jnp.concatenate([h, r], axis=-1), temb)
        out = nn.Conv(1, (1,))(h)[..., 0]
        return out[0] if squeeze else out
