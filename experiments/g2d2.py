"""G2D2 over a captioned image set: `python -m experiments.g2d2 --config configs/g2d2/sr_ffhq.py`.

Overrides: `--config.pipeline_dir=DIR --config.data.csv=captions.csv --config.data.end=10
--config.solver.num_steps=20`. DIR is a pipeline converted by `python -m convert.vq_diffusion`;
the CSV has the sony/g2d2 columns `image_path,caption`, and each caption is that image's prompt
(as the original; an empty caption falls back to `config.prompt`). Image size and latent grid
come from the pipeline's configs. Writes into a fresh `output_root/<name>/<timestamp>` directory:
config.json, label/ measurement/ recon/ PNGs, grid.png, metrics.csv (PSNR, SSIM of the saved 8-bit
images on [0, 1], the prompt, the final residual ||y - A(x)||) and summary.json.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import config_flags

from experiments.run import image_metrics, read_png, versions
from jaxinv import cli
from jaxinv.data import caption_csv
from jaxinv.io import fresh_run_dir, save_grid, save_image
from jaxinv.models.clip_text import pipeline_prompt_embeddings
from jaxinv.models.vq_diffusion import load_vq_diffusion
from jaxinv.operators import make_noise, make_operator, measure
from jaxinv.solvers.g2d2 import G2D2Settings, make_g2d2_sampler, vq_transformer_prior, vqvae_decoders
from jaxinv.solvers.driver import DivergenceError
from jaxinv.solvers.g2d2_inner import norm_likelihood

NOT_COMPUTED = {"lpips": "not computed by experiments.g2d2 (experiments.run computes LPIPS-VGG: docs/metrics.md)",
                "fid": "not computed by experiments.g2d2 (experiments.run computes FID: docs/metrics.md)"}


def parse(argv):
    argv = list(argv)
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "preset file, e.g. configs/g2d2/sr_ffhq.py", flag_values=fv,
                                    sys_argv=argv)
    cli.parse_config_flags(fv, argv)
    return fv.config


def prompt_for(caption: str | None, template: str, name: str) -> str:
    """The CSV caption (sony/g2d2 uses it verbatim); an empty one falls back to a placeholder-free template."""
    if caption and caption.strip():
        return caption
    if "{" in template:
        raise ValueError(f"image {name}: empty caption and the prompt template {template!r} needs a label; "
                         "write the full prompt (e.g. 'a photo of tench, Tinca tinca') in the CSV")
    return template


def encode_prompts(c, prompts: list[str]) -> tuple[jax.Array, jax.Array]:
    """(uncond (L, D), text (B, L, D)): the learned uncond embedding as stored (else the normalised
    encoding of ""), and the L2-normalised CLIP last hidden states of the prompts (diffusers' `_encode_prompt`)."""
    encode = jax.jit(lambda ids: pipeline_prompt_embeddings(c.text_encoder.apply({"params": c.text_encoder_params}, ids)))
    text = encode(jnp.asarray(c.tokenizer(prompts)))
    if c.learned_embeddings is not None:
        uncond = jnp.asarray(c.learned_embeddings, jnp.float32)
    else:
        uncond = encode(jnp.asarray(c.tokenizer([""])))[0]
    if uncond.shape != text.shape[1:]:
        raise ValueError(f"unconditional embedding {uncond.shape} does not match the text embeddings {text.shape[1:]}")
    return uncond, text


def make_run_fn(config, c, latent_hw):
    """jit (tr_params, vq_params, operator, x, index, cond) -> dict(y, image, tokens, residual, trace).

    Parameters are arguments (not baked-in constants); y uses key fold_in(k_measure, index) and the
    sampler fold_in(k_sample, index) of PRNGKey(seed).
    """
    settings = G2D2Settings(**config.solver)
    noise = make_noise("gaussian", sigma=float(config.sigma_noise))
    k_measure, k_sample = jax.random.split(jax.random.PRNGKey(int(config.seed)))
    num_tokens = latent_hw[0] * latent_hw[1]

    def run(tr_params, vq_params, operator, x, index, cond):
        prior = vq_transformer_prior(c.transformer, tr_params, float(config.guidance_scale), float(config.truncation_rate))
        decode_weights, decode_tokens = vqvae_decoders(c.vqvae, vq_params, latent_hw)
        sample = make_g2d2_sampler(prior, decode_weights, decode_tokens, lambda y: norm_likelihood(operator, y),
                                   c.schedule, settings, num_tokens)
        y = measure(operator, noise, jax.random.fold_in(k_measure, index), x)
        image, tokens, trace = sample(y, jax.random.fold_in(k_sample, index), cond)
        return {"y": y, "image": image, "tokens": tokens, "trace": trace,
                "residual": norm_likelihood(operator, y)(image)}

    return jax.jit(run)


def execute(config, progress=True) -> str:
    """Runs the experiment of `config`; returns the run directory."""
    from tqdm import tqdm

    if config is None:
        raise ValueError("give --config configs/g2d2/<preset>.py")
    c = load_vq_diffusion(config.pipeline_dir)
    side = int(c.transformer.config.sample_size)
    latent_hw = (side, side)
    _, decode_tokens = vqvae_decoders(c.vqvae, c.vqvae_params, latent_hw)
    shape = tuple(jax.eval_shape(decode_tokens, jnp.zeros(side * side, jnp.int32)).shape)
    end = config.data.end
    examples = caption_csv(config.data.csv, shape[0], int(config.data.start), None if end is None else int(end))
    prompts = [prompt_for(ex.caption, config.prompt, ex.name) for ex in examples]
    operator = make_operator(config.operator.name, shape, **config.operator.params)

    run_dir = fresh_run_dir(config.output_root, config.name)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    for sub in ("label", "measurement", "recon"):
        os.makedirs(os.path.join(run_dir, sub))

    t0 = time.perf_counter()
    uncond, text = encode_prompts(c, prompts)
    encode_s = time.perf_counter() - t0
    run = make_run_fn(config, c, latent_hw)
    metric_names = tuple(config.metrics)
    rows, times = [], []
    with tqdm(total=len(examples), unit="img", disable=not progress) as bar:
        for i, ex in enumerate(examples):
            t0 = time.perf_counter()
            out = jax.device_get(jax.block_until_ready(
                run(c.transformer_params, c.vqvae_params, operator, jnp.asarray(ex.image), i, (uncond, text[i]))))
            times.append(time.perf_counter() - t0)
            if not np.all(np.isfinite(out["image"])):
                raise DivergenceError(f"image {ex.name}: the reconstruction is not finite")
            shown = operator.show(out["y"])
            for sub, image in (("label", ex.image), ("measurement", shown), ("recon", out["image"])):
                save_image(os.path.join(run_dir, sub, f"{ex.name}.png"), image)
            row = {"name": ex.name, **image_metrics(metric_names, ex.image, out["image"]),
                   "residual": float(out["residual"]), "prompt": prompts[i]}
            rows.append(row)
            bar.update(1)
            bar.set_postfix(psnr=f"{row.get('psnr', float('nan')):.2f}", residual=f"{row['residual']:.4g}")
    with open(os.path.join(run_dir, "metrics.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tiles = [read_png(os.path.join(run_dir, sub, f"{r['name']}.png"))
             for r in rows[: int(config.grid_images)] for sub in ("label", "measurement", "recon")]
    save_grid(os.path.join(run_dir, "grid.png"), np.stack(tiles), columns=3)

    metrics = {}
    for key in metric_names + ("residual",):
        values = np.array([r[key] for r in rows])
        metrics[key] = {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}
    later = times[1:]
    summary = {
        "name": config.name, "num_images": len(rows), "metrics": metrics,
        "metrics_on": "saved 8-bit PNGs mapped to [0, 1] (label vs recon)", **NOT_COMPUTED,
        "image_shape": list(shape), "latent_grid": list(latent_hw),
        "timings": {"encode_prompts_s": encode_s, "first_image_s (includes compilation)": times[0],
                    "per_image_s (after the first)": float(np.mean(later)) if later else None,
                    "per_step_s (after the first image)": float(np.mean(later)) / int(config.solver.num_steps)
                    if later else None},
        "devices": [str(d) for d in jax.devices()], "versions": versions(),
    }
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return run_dir


def main(argv=None) -> int:
    return cli.main(lambda args: execute(parse(args)), sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
