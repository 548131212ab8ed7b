"""VQ-Diffusion components against diffusers/transformers outputs recorded in `io.npz`.

DIR holds `transformer.pt`, `text_encoder.pt`, `vqvae.pt`, their `*_config.json` and `io.npz`
(the layout of `shared/fixtures/vq/`). Every component is converted with the project's strict
converters and every output in io.npz is recomputed; the result is the largest absolute error.
"""

from __future__ import annotations

import json
import os

import numpy as np

HELP = "VQ-Diffusion transformer, CLIP text encoder, scheduler and VQ-VAE vs recorded torch outputs"
THRESHOLD = 1e-3
SCHEDULE_ARRAYS = ("log_at", "log_bt", "log_ct", "log_cumprod_at", "log_cumprod_bt", "log_cumprod_ct")


def add_arguments(parser) -> None:
    parser.add_argument("--components", required=True, help="folder with *.pt, *_config.json and io.npz")
    parser.add_argument("--threshold", type=float, default=THRESHOLD)


def _max_err(ours, reference, name: str) -> float:
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    if ours.shape != reference.shape:
        raise ValueError(f"{name}: shape {ours.shape} != recorded {reference.shape}")
    finite = np.isfinite(reference)
    if not np.array_equal(finite, np.isfinite(ours)) or not np.array_equal(ours[~finite], reference[~finite]):
        return float("inf")
    return float(np.abs(ours[finite] - reference[finite]).max()) if finite.any() else 0.0


def _config(directory: str, name: str) -> dict:
    with open(os.path.join(directory, f"{name}_config.json")) as f:
        return json.load(f)


def component_errors(directory: str) -> dict[str, float]:
    """{output name: max |ours - recorded|} for every output of io.npz this project can recompute."""
    import jax.numpy as jnp

    from convert.clip_text import convert_clip_text
    from convert.torch_io import load_state_dict
    from convert.vq_transformer import convert_vq_transformer
    from jaxinv.diffusion import vq_scheduler
    from jaxinv.models.clip_text import CLIPTextConfig, CLIPTextModel
    from jaxinv.models.vq_transformer import VQTransformer, VQTransformerConfig

    io = dict(np.load(os.path.join(directory, "io.npz")))
    errors: dict[str, float] = {}

    cfg = CLIPTextConfig.from_transformers(_config(directory, "text_encoder"))
    params = convert_clip_text(load_state_dict(os.path.join(directory, "text_encoder.pt")), cfg)
    hidden = CLIPTextModel(cfg).apply({"params": params}, jnp.asarray(io["input_ids"]))
    errors["text_hidden"] = _max_err(hidden, io["text_hidden"], "text_hidden")

    cfg = VQTransformerConfig.from_diffusers(_config(directory, "transformer"))
    params = convert_vq_transformer(load_state_dict(os.path.join(directory, "transformer.pt")), cfg)
    log_probs = VQTransformer(cfg).apply(
        {"params": params}, jnp.asarray(io["z"]), jnp.asarray(io["t"]), jnp.asarray(io["text_hidden"])
    )
    errors["transformer_log_probs"] = _max_err(log_probs, io["transformer_log_probs"], "transformer_log_probs")

    if "sched_log_at" in io:
        schedule = vq_scheduler.make_vq_schedule(cfg.num_vector_embeds)
        for name in SCHEDULE_ARRAYS:
            errors[f"sched_{name}"] = _max_err(getattr(schedule, name), io[f"sched_{name}"], name)
        posterior = vq_scheduler.q_posterior(
            schedule, jnp.asarray(io["sched_log_p_x0"]), jnp.asarray(io["sched_x_t"]), jnp.asarray(io["t"])
        )
        errors["sched_q_posterior"] = _max_err(posterior, io["sched_q_posterior"], "sched_q_posterior")

    errors.update(_vqvae_errors(directory, io))
    return errors


def _vqvae_errors(directory: str, io: dict) -> dict[str, float]:
    """decoded / encoded through the project's VQ-VAE, when that code is present."""
    try:
        from convert.vqvae import convert_vqvae
        from jaxinv.models.vq_diffusion import vqvae_module
    except ImportError:
        print("VQ-VAE code not available: decoded/encoded not checked")
        return {}
    import jax.numpy as jnp

    from convert.torch_io import load_state_dict

    cfg = _config(directory, "vqvae")
    params = convert_vqvae(load_state_dict(os.path.join(directory, "vqvae.pt")), cfg)
    model = vqvae_module(cfg)
    nhwc = lambda a: jnp.asarray(np.transpose(a, (0, 2, 3, 1)))  # noqa: E731
    nchw = lambda a: np.transpose(np.asarray(a), (0, 3, 1, 2))  # noqa: E731
    out = {}
    if "decoded" in io:
        decoded = model.apply({"params": params}, nhwc(io["codes"]), force_not_quantize=True, method="decode")
        out["decoded"] = _max_err(nchw(decoded), io["decoded"], "decoded")
    if "encoded" in io:
        encoded = model.apply({"params": params}, nhwc(io["image"]), method="encode")
        out["encoded"] = _max_err(nchw(encoded), io["encoded"], "encoded")
    return out


def run(args) -> tuple[float, float]:
    errors = component_errors(args.components)
    for name, err in errors.items():
        print(f"{name}: max_abs_err={err:.3g}")
    return max(errors.values()), args.threshold
