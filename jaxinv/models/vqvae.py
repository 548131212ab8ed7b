"""VQ-VAE of VQ-Diffusion (diffusers `VQModel`, taming-transformers layout) in Flax.

    encode:  x -> Encoder -> quant_conv                      (pre-quantisation latents z_e)
    quantise: z_q = C[argmin_k ||z_e - C_k||]                 (nearest codebook entry)
    decode:  z -> [quantise] -> post_quant_conv -> Decoder    (image in [-1, 1])
    soft decode (G2D2): z = w C with w a distribution over codes per latent pixel

Everything is NHWC: images (B, H, W, C), latents (B, h, w, vq_embed_dim), code weights
(B, h, w, num_vq_embeddings). GroupNorm has eps 1e-6; attention is single-head with a
GroupNorm on its input and a residual; upsampling is nearest x2 then a 3x3 conv; the encoder's
downsampling pads (0, 1) on the bottom/right before a stride-2 VALID 3x3 conv.

Parameter names mirror the diffusers state dict, with a block's index path folded into one name
(`decoder.up_blocks.0.resnets.1.conv1` -> `decoder/up_blocks_0_resnets_1/conv1`,
`decoder.up_blocks.0.upsamplers.0.conv` -> `decoder/up_blocks_0_upsamplers_0`, attention
`to_q/to_k/to_v/to_out`, codebook `quantize_embedding`).
The ITHQ preset (`microsoft/vq-diffusion-ithq/vqvae`) is `ITHQ_VQVAE`: channels 64/128/256/512,
2 layers per block, 256 latent channels, a 4096 x 128 codebook, 32x32 latents for 256^2 images.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

_EPS = 1e-6
_SUPPORTED_DOWN = ("DownEncoderBlock2D", "AttnDownEncoderBlock2D")
_SUPPORTED_UP = ("UpDecoderBlock2D", "AttnUpDecoderBlock2D")


@dataclasses.dataclass(frozen=True)
class VQModelConfig:
    """The fields of a diffusers `VQModel` config that define the network."""

    in_channels: int = 3
    out_channels: int = 3
    down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",) * 3 + ("AttnDownEncoderBlock2D",)
    up_block_types: tuple[str, ...] = ("AttnUpDecoderBlock2D",) + ("UpDecoderBlock2D",) * 3
    block_out_channels: tuple[int, ...] = (64, 128, 256, 512)
    layers_per_block: int = 2
    latent_channels: int = 256
    num_vq_embeddings: int = 4096
    vq_embed_dim: int = 128
    norm_num_groups: int = 32

    @classmethod
    def from_diffusers(cls, config: Mapping[str, Any]) -> "VQModelConfig":
        """From a diffusers `VQModel` config.json dict; unsupported variants fail with a clear error."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in names}
        out = cls(**kwargs)
        if out.vq_embed_dim is None:
            out = dataclasses.replace(out, vq_embed_dim=out.latent_channels)
        if config.get("norm_type", "group") != "group":
            raise ValueError(f"VQModel norm_type {config['norm_type']!r} is not supported (only 'group')")
        if config.get("act_fn", "silu") != "silu":
            raise ValueError(f"VQModel act_fn {config['act_fn']!r} is not supported (only 'silu')")
        if config.get("mid_block_add_attention", True) is not True:
            raise ValueError("VQModel mid_block_add_attention=False is not supported")
        for t in out.down_block_types:
            if t not in _SUPPORTED_DOWN:
                raise ValueError(f"down block {t!r} is not supported; expected one of {_SUPPORTED_DOWN}")
        for t in out.up_block_types:
            if t not in _SUPPORTED_UP:
                raise ValueError(f"up block {t!r} is not supported; expected one of {_SUPPORTED_UP}")
        if len(out.down_block_types) != len(out.block_out_channels) or len(out.up_block_types) != len(out.block_out_channels):
            raise ValueError("down_block_types, up_block_types and block_out_channels must have the same length")
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


ITHQ_VQVAE = VQModelConfig()


def _conv(features: int, kernel: int, name: str, stride: int = 1, padding: Any = "SAME") -> nn.Conv:
    pad = ((kernel // 2, kernel // 2),) * 2 if padding == "SAME" else padding
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=pad, name=name)


def _norm(groups: int, name: str) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=groups, epsilon=_EPS, name=name)


class ResnetBlock(nn.Module):
    """GN -> SiLU -> conv3 -> GN -> SiLU -> conv3, plus x (through a 1x1 conv if channels change)."""

    out_channels: int
    groups: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = _conv(self.out_channels, 3, "conv1")(nn.silu(_norm(self.groups, "norm1")(x)))
        h = _conv(self.out_channels, 3, "conv2")(nn.silu(_norm(self.groups, "norm2")(h)))
        if x.shape[-1] != self.out_channels:
            x = _conv(self.out_channels, 1, "conv_shortcut")(x)
        return x + h


class SpatialAttention(nn.Module):
    """Single-head self-attention over pixels: x + W_o softmax(q k^T / sqrt(C)) v, with q, k, v of GN(x)."""

    groups: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        n = _norm(self.groups, "group_norm")(x).reshape(b, h * w, c)
        q = nn.Dense(c, name="to_q")(n)
        k = nn.Dense(c, name="to_k")(n)
        v = nn.Dense(c, name="to_v")(n)
        scores = jnp.einsum("bqc,bkc->bqk", q, k) / jnp.sqrt(jnp.asarray(c, q.dtype))
        attn = jax.nn.softmax(scores.astype(jnp.promote_types(scores.dtype, jnp.float32)), axis=-1).astype(v.dtype)
        out = nn.Dense(c, name="to_out")(jnp.einsum("bqk,bkc->bqc", attn, v))
        return x + out.reshape(b, h, w, c)


class MidBlock(nn.Module):
    groups: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        x = ResnetBlock(c, self.groups, name="resnets_0")(x)
        x = SpatialAttention(self.groups, name="attentions_0")(x)
        return ResnetBlock(c, self.groups, name="resnets_1")(x)


class Encoder(nn.Module):
    config: VQModelConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        g = c.norm_num_groups
        h = _conv(c.block_out_channels[0], 3, "conv_in")(x)
        for i, (kind, ch) in enumerate(zip(c.down_block_types, c.block_out_channels)):
            for j in range(c.layers_per_block):
                h = _block_res(ch, g, i, j, "down_blocks")(h)
                if kind == "AttnDownEncoderBlock2D":
                    h = SpatialAttention(g, name=f"down_blocks_{i}_attentions_{j}")(h)
            if i < len(c.block_out_channels) - 1:
                # diffusers Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)) then a stride-2 VALID conv.
                h = jnp.pad(h, ((0, 0), (0, 1), (0, 1), (0, 0)))
                h = _conv(ch, 3, f"down_blocks_{i}_downsamplers_0", stride=2, padding="VALID")(h)
        h = MidBlock(g, name="mid_block")(h)
        h = nn.silu(_norm(g, "conv_norm_out")(h))
        return _conv(c.latent_channels, 3, "conv_out")(h)


def _block_res(ch: int, groups: int, i: int, j: int, blocks: str) -> ResnetBlock:
    return ResnetBlock(ch, groups, name=f"{blocks}_{i}_resnets_{j}")


class Decoder(nn.Module):
    config: VQModelConfig

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        c = self.config
        g = c.norm_num_groups
        rev = tuple(reversed(c.block_out_channels))
        h = _conv(rev[0], 3, "conv_in")(z)
        h = MidBlock(g, name="mid_block")(h)
        for i, (kind, ch) in enumerate(zip(c.up_block_types, rev)):
            for j in range(c.layers_per_block + 1):
                h = _block_res(ch, g, i, j, "up_blocks")(h)
                if kind == "AttnUpDecoderBlock2D":
                    h = SpatialAttention(g, name=f"up_blocks_{i}_attentions_{j}")(h)
            if i < len(rev) - 1:
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
                h = _conv(ch, 3, f"up_blocks_{i}_upsamplers_0")(h)
        h = nn.silu(_norm(g, "conv_norm_out")(h))
        return _conv(c.out_channels, 3, "conv_out")(h)


class VQModel(nn.Module):
    """diffusers `VQModel` (norm_type "group"). Methods: `encode`, `quantize`, `decode`, `decode_code_weights`."""

    config: VQModelConfig

    @classmethod
    def from_diffusers(cls, config: Mapping[str, Any]) -> "VQModel":
        return cls(VQModelConfig.from_diffusers(config))

    from_config = from_diffusers

    def setup(self):
        c = self.config
        self.encoder = Encoder(c)
        self.quant_conv = _conv(c.vq_embed_dim, 1, "quant_conv")
        self.codebook = self.param(
            "quantize_embedding", nn.initializers.uniform(2.0 / c.num_vq_embeddings), (c.num_vq_embeddings, c.vq_embed_dim)
        )
        self.post_quant_conv = _conv(c.latent_channels, 1, "post_quant_conv")
        self.decoder = Decoder(c)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Reconstruction: decode(quantize(encode(x)))."""
        return self.decode(self.encode(x))

    def encode(self, x: jax.Array) -> jax.Array:
        """(B, H, W, in_channels) image -> (B, H/f, W/f, vq_embed_dim) pre-quantisation latents."""
        return self.quant_conv(self.encoder(x))

    def quantize(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Nearest codebook entry per latent pixel (argmin of the Euclidean distance): (z_q, indices)."""
        cb = jnp.asarray(self.codebook)
        d = jnp.sum(z**2, -1, keepdims=True) - 2.0 * jnp.einsum("...d,kd->...k", z, cb) + jnp.sum(cb**2, -1)
        idx = jnp.argmin(d, axis=-1)
        return cb[idx], idx

    def embed_codes(self, indices: jax.Array) -> jax.Array:
        """Integer codes (B, h, w) -> codebook vectors (B, h, w, vq_embed_dim)."""
        return jnp.take(jnp.asarray(self.codebook), indices, axis=0)

    def decode(self, z: jax.Array, force_not_quantize: bool = False) -> jax.Array:
        """(B, h, w, vq_embed_dim) latents -> image (B, h*f, w*f, out_channels); quantised first unless forced not to."""
        if not force_not_quantize:
            z, _ = self.quantize(z)
        return self.decoder(self.post_quant_conv(z))

    def decode_code_weights(self, weights: jax.Array) -> jax.Array:
        """Soft codebook mixture: weights (B, h, w, num_vq_embeddings) -> decode(weights @ C, force_not_quantize=True)."""
        return self.decode(jnp.einsum("...k,kd->...d", weights, self.codebook), force_not_quantize=True)


def init_shapes(config: VQModelConfig, image_size: int | None = None) -> dict:
    """Parameter shapes of `VQModel(config)` (no FLOPs: `jax.eval_shape`)."""
    size = image_size or 2 * config.downsampling_factor
    model = VQModel(config)
    x = jnp.zeros((1, size, size, config.in_channels), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x))["params"]
