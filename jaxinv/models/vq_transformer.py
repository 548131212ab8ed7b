"""VQ-Diffusion's discrete denoiser: diffusers `Transformer2DModel` with vectorized (token) input.

Parameter names mirror the diffusers state dict (`transformer_blocks.3.attn1.to_out.0` becomes
`transformer_blocks_3/attn1/to_out_0`), so `convert.vq_transformer` is a renaming plus transposes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class VQTransformerConfig:
    """Sizes of the discrete transformer; `num_vector_embeds` counts the codes plus the mask class."""

    num_attention_heads: int = 16
    attention_head_dim: int = 88
    num_layers: int = 36
    cross_attention_dim: int = 512
    num_vector_embeds: int = 4097
    num_embeds_ada_norm: int = 100
    sample_size: int = 32
    attention_bias: bool = True
    dtype: str = "float32"

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def num_tokens(self) -> int:
        return self.sample_size * self.sample_size

    @classmethod
    def from_diffusers(cls, config: Mapping[str, Any], dtype: str = "float32") -> "VQTransformerConfig":
        """Builds the config from diffusers' `transformer/config.json` (vectorized input only)."""
        if config.get("num_vector_embeds") is None:
            raise ValueError("transformer config has no num_vector_embeds: only the discrete (VQ) input is supported")
        if config.get("num_embeds_ada_norm") is None:
            raise ValueError("transformer config has no num_embeds_ada_norm: VQ-Diffusion uses AdaLayerNorm")
        norm_type = config.get("norm_type", "ada_norm") or "ada_norm"
        if norm_type not in ("ada_norm", "layer_norm"):
            raise ValueError(f"unsupported norm_type {norm_type!r} (expected ada_norm)")
        act = config.get("activation_fn", "geglu-approximate")
        if act != "geglu-approximate":
            raise ValueError(f"unsupported activation_fn {act!r} (VQ-Diffusion uses geglu-approximate)")
        if config.get("height", None) not in (None, config.get("sample_size")):
            raise ValueError("non-square latent grids are not supported")
        return cls(
            num_attention_heads=int(config["num_attention_heads"]),
            attention_head_dim=int(config["attention_head_dim"]),
            num_layers=int(config["num_layers"]),
            cross_attention_dim=int(config["cross_attention_dim"]),
            num_vector_embeds=int(config["num_vector_embeds"]),
            num_embeds_ada_norm=int(config["num_embeds_ada_norm"]),
            sample_size=int(config["sample_size"]),
            attention_bias=bool(config.get("attention_bias", True)),
            dtype=dtype,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


ITHQ_TRANSFORMER = VQTransformerConfig()


def _layer_norm(name: str | None = None, affine: bool = True) -> nn.LayerNorm:
    # torch LayerNorm eps is 1e-5 (flax's default is 1e-6); statistics in float32.
    return nn.LayerNorm(epsilon=1e-5, use_scale=affine, use_bias=affine, dtype=jnp.float32, name=name)


class ImagePositionalEmbeddings(nn.Module):
    """h = emb[z] + height_emb[n // W] + width_emb[n % W] over the row-major token grid."""

    num_embed: int
    size: int
    dim: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        emb = nn.Embed(self.num_embed, self.dim, name="emb")(z)
        rows = nn.Embed(self.size, self.dim, name="height_emb")(jnp.arange(self.size))
        cols = nn.Embed(self.size, self.dim, name="width_emb")(jnp.arange(self.size))
        pos = (rows[:, None, :] + cols[None, :, :]).reshape(self.size * self.size, self.dim)
        return emb + pos[None, : z.shape[1]]


class AdaLayerNorm(nn.Module):
    """diffusers AdaLayerNorm: [scale | shift] = Linear(SiLU(Emb[t])); LN(x) * (1 + scale) + shift.

    `t` has shape (B,) (per-sample steps; diffusers only supports one shared scalar).
    """

    dim: int
    num_embeddings: int

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        emb = nn.Embed(self.num_embeddings, self.dim, name="emb")(t)
        emb = nn.Dense(2 * self.dim, name="linear")(nn.silu(emb))
        scale, shift = emb[:, None, : self.dim], emb[:, None, self.dim :]
        normed = _layer_norm(affine=False)(x.astype(jnp.float32))
        return (normed * (1 + scale) + shift).astype(x.dtype)


class Attention(nn.Module):
    """Multi-head attention with diffusers' projection names (to_q, to_k, to_v, to_out.0)."""

    heads: int
    dim_head: int
    bias: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        context = x if context is None else context
        inner = self.heads * self.dim_head
        dense = lambda n, b: nn.Dense(inner, use_bias=b, dtype=self.dtype, name=n)  # noqa: E731
        q, k, v = dense("to_q", self.bias)(x), dense("to_k", self.bias)(context), dense("to_v", self.bias)(context)
        split = lambda a: a.reshape(a.shape[0], a.shape[1], self.heads, self.dim_head)  # noqa: E731
        logits = jnp.einsum("bqhd,bkhd->bhqk", split(q), split(k)) * (self.dim_head**-0.5)
        weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, split(v)).reshape(x.shape[0], x.shape[1], inner)
        return nn.Dense(x.shape[-1], dtype=self.dtype, name="to_out_0")(out)


class ApproximateGELU(nn.Module):
    """diffusers ApproximateGELU: p = Linear(x); p * sigmoid(1.702 p)."""

    dim_out: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        p = nn.Dense(self.dim_out, dtype=self.dtype, name="proj")(x)
        return p * jax.nn.sigmoid(1.702 * p)


class FeedForward(nn.Module):
    """net.0 = ApproximateGELU(dim -> 4 dim), net.1 = Dropout(0), net.2 = Linear(4 dim -> dim)."""

    dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = ApproximateGELU(4 * self.dim, dtype=self.dtype, name="net_0")(x)
        return nn.Dense(self.dim, dtype=self.dtype, name="net_2")(h)


class BasicTransformerBlock(nn.Module):
    """h += attn1(AdaLN1(h, t)); h += attn2(AdaLN2(h, t), text); h += ff(LN3(h))."""

    config: VQTransformerConfig

    @nn.compact
    def __call__(self, h: jax.Array, t: jax.Array, context: jax.Array) -> jax.Array:
        c = self.config
        dtype = _DTYPES[c.dtype]
        attn = lambda n: Attention(c.num_attention_heads, c.attention_head_dim, c.attention_bias, dtype, name=n)  # noqa: E731
        h = h + attn("attn1")(AdaLayerNorm(c.inner_dim, c.num_embeds_ada_norm, name="norm1")(h, t)).astype(h.dtype)
        n = AdaLayerNorm(c.inner_dim, c.num_embeds_ada_norm, name="norm2")(h, t)
        h = h + attn("attn2")(n, context).astype(h.dtype)
        n = _layer_norm("norm3")(h.astype(jnp.float32)).astype(dtype)
        return h + FeedForward(c.inner_dim, dtype=dtype, name="ff")(n).astype(h.dtype)


class VQTransformer(nn.Module):
    """log p_theta(z_0 | z_t, text): tokens (B, N) int, t () or (B,), text (B, L, D_text) -> (B, K, N).

    K = num_vector_embeds - 1 codes (no mask row); float32 log-probabilities from a float32
    log-softmax over axis 1, as diffusers' `F.log_softmax(logits.double(), dim=1).float()`.
    """

    config: VQTransformerConfig

    @nn.compact
    def __call__(self, z: jax.Array, t: jax.Array, encoder_hidden_states: jax.Array) -> jax.Array:
        c = self.config
        dtype = _DTYPES[c.dtype]
        if z.ndim != 2 or z.shape[1] != c.num_tokens:
            raise ValueError(f"tokens must have shape (B, {c.num_tokens}), got {z.shape}")
        t = jnp.broadcast_to(jnp.asarray(t, jnp.int32), (z.shape[0],))
        # The residual stream stays float32; only the projections run in `dtype`.
        h = ImagePositionalEmbeddings(c.num_vector_embeds, c.sample_size, c.inner_dim, name="latent_image_embedding")(z)
        context = encoder_hidden_states.astype(dtype)
        for i in range(c.num_layers):
            h = BasicTransformerBlock(c, name=f"transformer_blocks_{i}")(h, t, context)
        h = _layer_norm("norm_out")(h.astype(jnp.float32)).astype(dtype)
        logits = nn.Dense(c.num_vector_embeds - 1, dtype=dtype, name="out")(h)
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        return jnp.transpose(log_probs, (0, 2, 1))


def init_shapes(config: VQTransformerConfig) -> dict:
    """Parameter tree of `VQTransformer(config)` as shape structs (no memory is allocated)."""
    model = VQTransformer(config)
    z = jax.ShapeDtypeStruct((1, config.num_tokens), jnp.int32)
    text = jax.ShapeDtypeStruct((1, 77, config.cross_attention_dim), jnp.float32)
    t = jax.ShapeDtypeStruct((1,), jnp.int32)
    return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(z.shape, z.dtype),
                                             jnp.zeros(t.shape, t.dtype), jnp.zeros(text.shape)))["params"]
