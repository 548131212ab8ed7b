"""Held-out denoising loss of ADM priors: `python -m experiments.prior_eval MODEL_DIR [MODEL_DIR ...]`.

For each model directory (`load_adm`: a converted checkpoint or an `experiments.train` export), the
training objective on images it never saw: mean ||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)||^2
over the images of `--images` (default: the demo's held-out crops), `--draws` noise draws and the
timesteps `--timesteps`, with the same keys for every model, so two models are compared on the same
noisy inputs. Prints one JSON line per model: the mean loss and the loss per timestep.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import cli
from jaxinv.data import image_folder
from jaxinv.diffusion import make_schedule
from jaxinv.models.adm import load_adm

DEFAULT_IMAGES = os.path.join(os.path.dirname(__file__), "..", "jaxinv", "demo", "images")


def held_out_loss(module, params, images: np.ndarray, timesteps, draws: int, seed: int = 0) -> dict:
    abar = make_schedule(1000).alphas_cumprod
    apply = jax.jit(lambda x, t: module.apply({"params": params}, x, t)[..., :3])
    per_t = {}
    for t in timesteps:
        losses = []
        for d in range(draws):
            eps = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(seed), 1000 * d + t), images.shape)
            x_t = np.sqrt(abar[t]) * images + np.sqrt(1 - abar[t]) * eps
            pred = apply(x_t, jnp.full((images.shape[0],), t, jnp.int32))
            losses.append(float(jnp.mean((pred - eps) ** 2)))
        per_t[int(t)] = float(np.mean(losses))
    return {"loss": float(np.mean(list(per_t.values()))), "per_timestep": per_t}


def prior_eval(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model directories (load_adm)")
    parser.add_argument("--images", default=DEFAULT_IMAGES, help="folder of images at the model's size")
    parser.add_argument("--timesteps", default="25,100,250,500,750", help="comma-separated DDPM timesteps")
    parser.add_argument("--draws", type=int, default=8)
    args = parser.parse_args(argv)
    timesteps = [int(t) for t in args.timesteps.split(",")]
    for directory in args.models:
        module, params = load_adm(directory)
        size = module.config.image_size
        images = np.stack([e.image for e in image_folder(args.images, size)])
        print(json.dumps({"model": directory, "images": len(images), "draws": args.draws,
                          **held_out_loss(module, params, images, timesteps, args.draws)}))
    return 0


def main(argv=None) -> int:
    return cli.main(prior_eval, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
