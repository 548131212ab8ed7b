"""transformers `CLIPTextModel` state dict -> `jaxinv.models.clip_text` params, and the learned
classifier-free embedding of the VQ-Diffusion pipeline."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from convert.strict import ConversionError, map_state_dict
from convert.vq_transformer import flax_rule
from jaxinv.models.clip_text import CLIPTextConfig, init_shapes

PREFIX = "text_model."


def _rule(key: str, value: np.ndarray):
    return flax_rule(key[len(PREFIX):] if key.startswith(PREFIX) else key, value)


def convert_clip_text(state_dict: Mapping[str, np.ndarray], config: Mapping[str, Any] | CLIPTextConfig) -> dict:
    """Strict mapping; the `text_model.` prefix is optional and the `position_ids` buffer is ignored."""
    if not isinstance(config, CLIPTextConfig):
        config = CLIPTextConfig.from_transformers(config)
    return map_state_dict(state_dict, _rule, init_shapes(config), ignore=("position_ids",), what="CLIP text encoder")


def convert_learned_embeddings(state_dict: Mapping[str, np.ndarray], shape: tuple[int, int] | None = None) -> np.ndarray:
    """`LearnedClassifierFreeSamplingEmbeddings` -> its (length, hidden) float32 `embeddings` array.

    A non-learnable pipeline stores no tensor (embeddings = None); then there is nothing to convert.
    """
    keys = set(state_dict)
    if keys != {"embeddings"}:
        raise ConversionError(f"learned classifier-free embeddings: expected the single key 'embeddings', got {sorted(keys)}")
    emb = np.asarray(state_dict["embeddings"], dtype=np.float32)
    if emb.ndim != 2 or (shape is not None and emb.shape != tuple(shape)):
        raise ConversionError(f"learned classifier-free embeddings have shape {emb.shape}, expected {shape or '(L, D)'}")
    return emb
