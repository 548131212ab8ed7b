"""diffusers `Transformer2DModel` (vectorized input) state dict -> `jaxinv.models.vq_transformer` params."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from convert.strict import map_state_dict, split_torch_key, torch_to_flax_array
from jaxinv.models.vq_transformer import VQTransformerConfig, init_shapes

# Checkpoints written before diffusers' attention refactor use these projection names.
LEGACY_ATTENTION_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
EMBEDDING_MODULES = ("emb", "height_emb", "width_emb", "token_embedding", "position_embedding")


def torch_path(key: str, legacy: Mapping[str, str] = LEGACY_ATTENTION_NAMES) -> tuple[list[str], str]:
    """Splits `a.b.3.c.weight` into Flax module names `[a, b_3, c]` and the leaf name `weight`.

    A numeric component is a `nn.ModuleList`/`Sequential` index and joins its parent (`to_out.0`
    -> `to_out_0`); legacy attention names are renamed first.
    """
    *modules, leaf = key.split(".")
    renamed = [legacy.get(part, part) for part in modules]
    return split_torch_key(".".join([*renamed, leaf]))


def flax_rule(key: str, value: np.ndarray):
    """Torch key -> (Flax path, array): embeddings keep their layout, Linear transposes, norms -> scale."""
    modules, leaf = torch_path(key)
    if not modules:
        return None
    if modules[-1] in EMBEDDING_MODULES and leaf == "weight" and value.ndim == 2:
        return tuple(modules) + ("embedding",), value
    try:
        name, array = torch_to_flax_array(leaf, value)
    except KeyError:
        return None
    return tuple(modules) + (name,), array


def convert_vq_transformer(state_dict: Mapping[str, np.ndarray], config: Mapping[str, Any] | VQTransformerConfig) -> dict:
    """Strictly maps every tensor of the diffusers transformer onto the Flax parameter tree."""
    if not isinstance(config, VQTransformerConfig):
        config = VQTransformerConfig.from_diffusers(config)
    return map_state_dict(state_dict, flax_rule, init_shapes(config), what="VQ-Diffusion transformer")
