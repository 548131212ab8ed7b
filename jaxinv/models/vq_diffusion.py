"""A VQ-Diffusion pipeline converted by `python -m convert.vq_diffusion`, read back without torch.

    c = load_vq_diffusion("checkpoints/vq-diffusion-ithq")
    c.transformer.apply({"params": c.transformer_params}, ...)

The directory holds one orbax checkpoint per network (`transformer/`, `text_encoder/`, `vqvae/`,
and the learned classifier-free embeddings when the pipeline has them), the scheduler config, the
tokenizer files and the index `vq_diffusion.json`.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from jaxinv.checkpoint import load_params

INDEX_FILE = "vq_diffusion.json"
CF_FOLDER = "learned_classifier_free_sampling_embeddings"
CONVERT_COMMAND = "python -m convert.vq_diffusion --pipeline <diffusers microsoft/vq-diffusion-ithq folder> --output {dir}"


def read_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config not found: {path}")
    with open(path) as f:
        return json.load(f)


@dataclasses.dataclass
class VQDiffusionComponents:
    """Everything the VQ-Diffusion prior needs, as Flax modules + parameter trees."""

    transformer: Any
    transformer_params: Any
    text_encoder: Any
    text_encoder_params: Any
    vqvae: Any
    vqvae_params: Any
    learned_embeddings: np.ndarray | None
    schedule: Any
    tokenizer: Any


def vqvae_module(config: dict):
    """`jaxinv.models.vqvae.VQModel` built from a diffusers VQModel config dict."""
    from jaxinv.models.vqvae import VQModel

    return VQModel.from_diffusers(config)


def encode_prompts(c: VQDiffusionComponents, prompts: list[str]):
    """(uncond (L, D), text (B, L, D)): the learned unconditional embedding as stored (else the
    normalised encoding of ""), and the L2-normalised CLIP last hidden states of the prompts
    (diffusers' `_encode_prompt`)."""
    import jax
    import jax.numpy as jnp

    from jaxinv.models.clip_text import pipeline_prompt_embeddings

    encode = jax.jit(lambda ids: pipeline_prompt_embeddings(c.text_encoder.apply({"params": c.text_encoder_params}, ids)))
    text = encode(jnp.asarray(c.tokenizer(prompts)))
    if c.learned_embeddings is not None:
        uncond = jnp.asarray(c.learned_embeddings, jnp.float32)
    else:
        uncond = encode(jnp.asarray(c.tokenizer([""])))[0]
    if uncond.shape != text.shape[1:]:
        raise ValueError(f"unconditional embedding {uncond.shape} does not match the text embeddings {text.shape[1:]}")
    return uncond, text


def load_vq_diffusion(directory: str, dtype: str = "float32") -> VQDiffusionComponents:
    """Reads a converted pipeline; `dtype` is the transformer's compute dtype. A directory that is not
    one is refused with the command that makes it."""
    from jaxinv.diffusion.vq_scheduler import schedule_from_config
    from jaxinv.models.clip_text import CLIPTextConfig, CLIPTextModel
    from jaxinv.models.clip_tokenizer import CLIPTokenizer
    from jaxinv.models.vq_transformer import VQTransformer, VQTransformerConfig

    if not os.path.isfile(os.path.join(directory, INDEX_FILE)):
        raise FileNotFoundError(f"{directory!r} is not a converted VQ-Diffusion pipeline (no {INDEX_FILE}); "
                                f"create it with\n  {CONVERT_COMMAND.format(dir=directory)}")
    tr_params, tr_cfg = load_params(os.path.join(directory, "transformer"))
    te_params, te_cfg = load_params(os.path.join(directory, "text_encoder"))
    vq_params, vq_cfg = load_params(os.path.join(directory, "vqvae"))
    learned = None
    if os.path.isdir(os.path.join(directory, CF_FOLDER)):
        learned = np.asarray(load_params(os.path.join(directory, CF_FOLDER))[0]["embeddings"])
    return VQDiffusionComponents(
        transformer=VQTransformer(VQTransformerConfig.from_diffusers(tr_cfg, dtype=dtype)),
        transformer_params=tr_params,
        text_encoder=CLIPTextModel(CLIPTextConfig.from_transformers(te_cfg)),
        text_encoder_params=te_params,
        vqvae=vqvae_module(vq_cfg),
        vqvae_params=vq_params,
        learned_embeddings=learned,
        schedule=schedule_from_config(read_json(os.path.join(directory, "scheduler", "scheduler_config.json"))),
        tokenizer=CLIPTokenizer.from_directory(os.path.join(directory, "tokenizer")),
    )
