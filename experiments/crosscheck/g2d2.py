"""G2D2 inner optimisation replay: our `optimize_logits_kl` on the original code's recorded Gumbel uniforms.

The fixture (npz) holds `prior`, optional `init` (empty when absent), `y`, `uniforms` (K, B, classes,
tokens), `out` (optimised phi) and the per-iteration `total_loss` / `likelihood_loss`; the spec
(json) holds `temperature`, `lr`, `num_optim`, `coef_kl`, `latent`, and the operator (`scale_factor`
for the DPS Resizer, or `operator` + `operator_params`). DIR holds `vqvae.pt` + `vqvae_config.json`.
"""

from __future__ import annotations

import json
import os

import numpy as np

HELP = "G2D2 inner KL optimisation (RAdam on categorical logits) against sony/g2d2 recorded outputs"
THRESHOLD = 1e-3


def add_arguments(parser) -> None:
    parser.add_argument("--fixture", required=True, help="npz with prior, init, y, uniforms, out, total_loss, likelihood_loss")
    parser.add_argument("--spec", required=True, help="json with temperature, lr, num_optim, coef_kl, operator settings")
    parser.add_argument("--vqvae", required=True, help="folder with vqvae.pt and vqvae_config.json")
    parser.add_argument("--threshold", type=float, default=THRESHOLD)


def operator_from_spec(spec: dict, image_shape: tuple[int, int, int]):
    """The forward operator named by a fixture spec (DPS Resizer when it gives `scale_factor`)."""
    from jaxinv.operators import make_operator

    params = dict(spec.get("operator_params", {}))
    name = spec.get("operator_name")
    if name is None:
        text = str(spec.get("operator", "")).lower()
        if "scale_factor" in spec or "resizer" in text or "super" in text:
            name = "super_resolution"
        elif "blur" in text:
            name = "gaussian_blur"
        else:
            raise ValueError(f"cannot tell the operator from the spec: operator={spec.get('operator')!r}")
    if name == "super_resolution" and "scale" not in params:
        if "scale_factor" not in spec:
            raise ValueError("super_resolution spec needs `scale_factor` (or operator_params.scale)")
        params["scale"] = int(spec["scale_factor"])
    return make_operator(name, image_shape, **params)


def replay(fixture: dict, spec: dict, vqvae_dir: str):
    """Runs the inner optimisation per image of the fixture; returns (phi (B, classes, tokens), trace with (K,) losses)."""
    import jax
    import jax.numpy as jnp

    from convert.torch_io import load_state_dict
    from convert.vqvae import convert_vqvae
    from jaxinv.models.vqvae import VQModel
    from jaxinv.solvers.g2d2_inner import norm_likelihood, optimize_logits_kl, soft_decoder

    with open(os.path.join(vqvae_dir, "vqvae_config.json")) as f:
        cfg = json.load(f)
    params = convert_vqvae(load_state_dict(os.path.join(vqvae_dir, "vqvae.pt")), cfg)
    model = VQModel.from_diffusers(cfg)

    prior = jnp.asarray(fixture["prior"], jnp.float32)
    init = fixture.get("init")
    init = prior if init is None or np.size(init) == 0 else jnp.asarray(init, jnp.float32)
    uniforms = jnp.asarray(fixture["uniforms"], jnp.float32)  # (K, B, classes, tokens)
    y = jnp.asarray(np.transpose(fixture["y"], (0, 2, 3, 1)), jnp.float32)
    num_optim = int(spec.get("num_optim", uniforms.shape[0]))
    if uniforms.shape[0] != num_optim:
        raise ValueError(f"spec num_optim={num_optim} but the fixture records {uniforms.shape[0]} uniforms")
    latent = tuple(spec.get("latent") or (int(np.sqrt(prior.shape[-1])),) * 2)
    factor = 2 ** (len(cfg["block_out_channels"]) - 1)
    image_shape = (latent[0] * factor, latent[1] * factor, int(cfg.get("out_channels", 3)))
    operator = operator_from_spec(spec, image_shape)
    decode = soft_decoder(model, params, latent)

    def one(prior_b, init_b, u_b, y_b):
        return optimize_logits_kl(
            decode, norm_likelihood(operator, y_b), prior_b, init_b, u_b,
            lr=float(spec["lr"]), coef_kl=float(spec["coef_kl"]), temperature=float(spec.get("temperature", 1.0)),
        )

    phi, trace = jax.jit(jax.vmap(one, in_axes=(0, 0, 1, 0)))(prior, init, uniforms, y)
    return np.asarray(phi), jax.tree.map(np.asarray, trace)


def run(args) -> tuple[float, float]:
    fixture = dict(np.load(args.fixture))
    with open(args.spec) as f:
        spec = json.load(f)
    phi, trace = replay(fixture, spec, args.vqvae)
    batch = phi.shape[0]
    if batch > 1:
        print("note: the original sums the norm over the batch; this replay is per image (equal only for batch 1)")
    for name in ("total_loss", "likelihood_loss"):
        if name in fixture:
            ours = getattr(trace, name).sum(axis=0) if batch > 1 else getattr(trace, name)[0]
            ref = np.asarray(fixture[name])
            diff = np.abs(ours - ref)
            k = int(np.argmax(diff))
            print(f"{name}: worst |diff|={diff[k]:.3g} at iteration {k} (ours {ours[k]:.6g}, original {ref[k]:.6g}); "
                  f"worst relative {np.max(diff / np.maximum(np.abs(ref), 1e-12)):.3g}")
    return float(np.max(np.abs(phi - fixture["out"]))), args.threshold
