"""Converts a diffusers VQ-Diffusion pipeline folder (e.g. `microsoft/vq-diffusion-ithq`) to jaxinv.

    python -m convert.vq_diffusion --pipeline DIR --output OUT [--variant fp16]

DIR holds `transformer/`, `vqvae/`, `text_encoder/`, `tokenizer/`, `scheduler/` and
`learned_classifier_free_sampling_embeddings/`, weights as `.bin` (read with torch, weights_only) or
`.safetensors` / `.fp16.safetensors` (read without torch). OUT gets one orbax checkpoint per
network plus the configs and tokenizer files; it must not exist yet (or be empty).
`jaxinv.models.vq_diffusion.load_vq_diffusion(OUT)` reads it back without torch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

from convert.clip_text import convert_clip_text, convert_learned_embeddings
from convert.torch_io import load_state_dict
from convert.vq_transformer import convert_vq_transformer
from jaxinv import cli
from jaxinv.checkpoint import save_params
from jaxinv.models.vq_diffusion import CF_FOLDER, INDEX_FILE, read_json

WEIGHT_NAMES = ("diffusion_pytorch_model", "model", "pytorch_model")
TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")


def find_weights(folder: str, variant: str | None = None) -> str:
    """The weights file of one component: safetensors before .bin, full precision before `variant`
    unless a variant is asked for."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"pipeline component folder not found: {folder}")
    suffixes = [".safetensors", ".bin"]
    infixes = [f".{variant}", ""] if variant else ["", ".fp16"]
    for infix in infixes:
        for suffix in suffixes:
            for name in WEIGHT_NAMES:
                path = os.path.join(folder, name + infix + suffix)
                if os.path.isfile(path):
                    return path
    raise FileNotFoundError(
        f"no weights in {folder}: expected one of {', '.join(n + '[.fp16].safetensors|.bin' for n in WEIGHT_NAMES)}"
    )


def _public(config: dict) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


def convert_pipeline(pipeline_dir: str, output_dir: str, variant: str | None = None, log=print) -> str:
    """Converts every component strictly; nothing is written unless all of them convert."""
    pipeline_dir, output_dir = os.path.abspath(pipeline_dir), os.path.abspath(output_dir)
    if os.path.exists(output_dir) and os.listdir(output_dir):
        raise FileExistsError(f"{output_dir} exists and is not empty; choose a new output directory")
    sub = lambda name: os.path.join(pipeline_dir, name)  # noqa: E731
    converted: dict[str, tuple[Any, dict]] = {}

    cfg = _public(read_json(os.path.join(sub("transformer"), "config.json")))
    path = find_weights(sub("transformer"), variant)
    log(f"transformer: {path}")
    converted["transformer"] = (convert_vq_transformer(load_state_dict(path), cfg), cfg)

    cfg = _public(read_json(os.path.join(sub("text_encoder"), "config.json")))
    path = find_weights(sub("text_encoder"), variant)
    log(f"text_encoder: {path}")
    converted["text_encoder"] = (convert_clip_text(load_state_dict(path), cfg), cfg)

    from convert.vqvae import convert_vqvae

    cfg = _public(read_json(os.path.join(sub("vqvae"), "config.json")))
    path = find_weights(sub("vqvae"), variant)
    log(f"vqvae: {path}")
    converted["vqvae"] = (convert_vqvae(load_state_dict(path), cfg), cfg)

    if os.path.isdir(sub(CF_FOLDER)):
        cfg_path = os.path.join(sub(CF_FOLDER), "config.json")
        cfg = _public(read_json(cfg_path)) if os.path.isfile(cfg_path) else {"learnable": True}
        if cfg.get("learnable", True):
            path = find_weights(sub(CF_FOLDER), variant)
            log(f"{CF_FOLDER}: {path}")
            shape = (cfg["length"], cfg["hidden_size"]) if "length" in cfg and "hidden_size" in cfg else None
            converted[CF_FOLDER] = ({"embeddings": convert_learned_embeddings(load_state_dict(path), shape)}, cfg)

    scheduler_cfg = _public(read_json(os.path.join(sub("scheduler"), "scheduler_config.json")))
    tokenizer_files = [os.path.join(sub("tokenizer"), n) for n in TOKENIZER_FILES]
    for required in tokenizer_files[:2]:
        if not os.path.isfile(required):
            raise FileNotFoundError(f"tokenizer file not found: {required}")

    os.makedirs(output_dir, exist_ok=True)
    for name, (params, cfg) in converted.items():
        save_params(os.path.join(output_dir, name), params, cfg)
    os.makedirs(os.path.join(output_dir, "scheduler"))
    with open(os.path.join(output_dir, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(scheduler_cfg, f, indent=2)
    os.makedirs(os.path.join(output_dir, "tokenizer"))
    for path in tokenizer_files:
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(output_dir, "tokenizer"))
    with open(os.path.join(output_dir, INDEX_FILE), "w") as f:
        json.dump({"source": pipeline_dir, "variant": variant, "components": sorted(converted)}, f, indent=2)
    return output_dir


def convert(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m convert.vq_diffusion", description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", required=True, help="diffusers pipeline folder (transformer/, vqvae/, ...)")
    parser.add_argument("--output", required=True, help="new output directory")
    parser.add_argument("--variant", default=None, help="prefer weights named *.<variant>.* (e.g. fp16)")
    args = parser.parse_args(argv)
    return convert_pipeline(args.pipeline, args.output, variant=args.variant)


def main(argv: list[str] | None = None) -> int:
    return cli.main(convert, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
