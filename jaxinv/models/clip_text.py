"""CLIP text tower (transformers `CLIPTextModel`): token + position embeddings, causal pre-LN
transformer with quick_gelu MLPs, final LayerNorm; returns `last_hidden_state` (B, L, D).

Parameter names mirror transformers' state dict without the `text_model.` prefix
(`encoder.layers.3.self_attn.q_proj` -> `encoder/layers_3/self_attn/q_proj`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

_ACTIVATIONS = {
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
}


@dataclasses.dataclass(frozen=True)
class CLIPTextConfig:
    """Defaults are the ViT-B/32 text tower used by VQ-Diffusion ITHQ."""

    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5

    @classmethod
    def from_transformers(cls, config: Mapping[str, Any]) -> "CLIPTextConfig":
        """From `text_encoder/config.json` (a CLIPTextConfig, or a full CLIPConfig with `text_config`)."""
        config = config.get("text_config", config) or config
        names = [f.name for f in dataclasses.fields(cls)]
        out = cls(**{k: config[k] for k in names if k in config})
        if out.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {out.hidden_act!r}; expected one of {sorted(_ACTIVATIONS)}")
        if out.hidden_size % out.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


ITHQ_CLIP_TEXT = CLIPTextConfig()


class CLIPAttention(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        heads, dim_head = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        split = lambda a: a.reshape(a.shape[0], a.shape[1], heads, dim_head)  # noqa: E731
        q = split(nn.Dense(c.hidden_size, name="q_proj")(x) * dim_head**-0.5)
        k = split(nn.Dense(c.hidden_size, name="k_proj")(x))
        v = split(nn.Dense(c.hidden_size, name="v_proj")(x))
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k)
        n = x.shape[1]
        causal = jnp.tril(jnp.ones((n, n), dtype=bool))
        logits = jnp.where(causal, logits, jnp.finfo(logits.dtype).min)
        out = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v).reshape(x.shape)
        return nn.Dense(c.hidden_size, name="out_proj")(out)


class CLIPEncoderLayer(nn.Module):
    """h += self_attn(LN1(h)); h += fc2(act(fc1(LN2(h))))."""

    config: CLIPTextConfig

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        c = self.config
        h = h + CLIPAttention(c, name="self_attn")(nn.LayerNorm(c.layer_norm_eps, name="layer_norm1")(h))
        n = nn.LayerNorm(c.layer_norm_eps, name="layer_norm2")(h)
        mlp = _MLP(c, name="mlp")
        return h + mlp(n)


class _MLP(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        x = _ACTIVATIONS[c.hidden_act](nn.Dense(c.intermediate_size, name="fc1")(x))
        return nn.Dense(c.hidden_size, name="fc2")(x)


class _Embeddings(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, input_ids: jax.Array) -> jax.Array:
        c = self.config
        tokens = nn.Embed(c.vocab_size, c.hidden_size, name="token_embedding")(input_ids)
        positions = nn.Embed(c.max_position_embeddings, c.hidden_size, name="position_embedding")(
            jnp.arange(input_ids.shape[1])
        )
        return tokens + positions[None]


class _Encoder(nn.Module):
    config: CLIPTextConfig

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        for i in range(self.config.num_hidden_layers):
            h = CLIPEncoderLayer(self.config, name=f"layers_{i}")(h)
        return h


class CLIPTextModel(nn.Module):
    """input_ids (B, L) int, L <= max_position_embeddings -> last_hidden_state (B, L, hidden_size).

    No attention mask (padding tokens are attended to, as in the VQ-Diffusion pipeline); the
    causal mask alone keeps each token from seeing later ones.
    """

    config: CLIPTextConfig

    @nn.compact
    def __call__(self, input_ids: jax.Array) -> jax.Array:
        c = self.config
        if input_ids.ndim != 2 or input_ids.shape[1] > c.max_position_embeddings:
            raise ValueError(f"input_ids must be (B, L<= {c.max_position_embeddings}), got {input_ids.shape}")
        h = _Embeddings(c, name="embeddings")(input_ids)
        h = _Encoder(c, name="encoder")(h)
        return nn.LayerNorm(c.layer_norm_eps, name="final_layer_norm")(h)


def init_shapes(config: CLIPTextConfig) -> dict:
    """Parameter tree of `CLIPTextModel(config)` as shape structs."""
    ids = jnp.zeros((1, config.max_position_embeddings), jnp.int32)
    return jax.eval_shape(lambda: CLIPTextModel(config).init(jax.random.PRNGKey(0), ids))["params"]


def pipeline_prompt_embeddings(last_hidden_state: jax.Array) -> jax.Array:
    """The VQ-Diffusion pipeline's conditioning: every token vector divided by its L2 norm
    (`prompt_embeds / prompt_embeds.norm(dim=-1, keepdim=True)`); the learned unconditional
    embedding is used as stored, without this normalisation."""
    return last_hidden_state / jnp.linalg.norm(last_hidden_state, axis=-1, keepdims=True)
