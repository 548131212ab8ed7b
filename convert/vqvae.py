"""diffusers `VQModel` state dict -> `jaxinv.models.vqvae.VQModel` params (strict).

Accepts both attention namings: the current `to_q/to_k/to_v/to_out.0` and the legacy
`query/key/value/proj_attn` the ITHQ checkpoint was first written with (diffusers renames them
on load, `ModelMixin._convert_deprecated_attention_blocks`). Legacy 1x1-conv attention weights
(O, I, 1, 1) are squeezed to Linear. Anything else must match exactly.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from convert.strict import map_state_dict, torch_to_flax_array
from jaxinv.models.vqvae import VQModelConfig, init_shapes

_LEGACY_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out"}
_ATTENTION_LINEARS = ("to_q", "to_k", "to_v", "to_out")


def _rule(key: str, value: np.ndarray):
    if key == "quantize.embedding.weight":
        return ("quantize_embedding",), value
    parts = key.split(".")
    leaf = parts[-1]
    if leaf not in ("weight", "bias"):
        return None
    parts = parts[:-1]
    if parts[-2:] == ["to_out", "0"]:
        parts = parts[:-1]
    parts = [_LEGACY_ATTENTION.get(p, p) for p in parts]
    if len(parts) >= 3 and parts[-1] == "conv" and parts[-3] in ("downsamplers", "upsamplers"):
        parts = parts[:-1]
    # fold "<name>.<index>" pairs, then the block path under encoder/decoder into one module name
    folded: list[str] = []
    for p in parts:
        if p.isdigit():
            if not folded:
                return None
            folded[-1] = f"{folded[-1]}_{p}"
        else:
            folded.append(p)
    if len(folded) >= 3 and folded[0] in ("encoder", "decoder") and re.fullmatch(r"(down|up)_blocks_\d+", folded[1]):
        folded = [folded[0], f"{folded[1]}_{folded[2]}"] + folded[3:]
    if folded and folded[-1] in _ATTENTION_LINEARS and value.ndim == 4 and value.shape[2:] == (1, 1):
        value = value[:, :, 0, 0]
    try:
        name, array = torch_to_flax_array(leaf, value)
    except KeyError:
        return None
    return tuple(folded) + (name,), array


def convert_vqvae(state_dict: Mapping[str, np.ndarray], config: Mapping[str, Any] | VQModelConfig) -> dict:
    """Strict mapping of every key onto the params of `VQModel(config)`; `config` is the diffusers config.json dict."""
    if not isinstance(config, VQModelConfig):
        config = VQModelConfig.from_diffusers(config)
    return map_state_dict(state_dict, _rule, init_shapes(config), what="VQ-VAE")
