"""DDPM training of an ADM UNet: `python -m experiments.train --config configs/train/tiny.py`.

Loss (Ho et al. 2020, eq. 14; guided-diffusion `LossType.MSE`): mean ‖ε − ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t)‖²
with t ~ U{0..T−1}. With `learn_sigma` only the ε channels enter the loss; the hybrid VLB term that
trains the variance channels is not implemented. AdamW with linear warm-up + cosine decay, global-norm
clipping and an EMA of the parameters. Writes into a fresh `output.root/name/<timestamp>`:
config.json, losses.csv, loss.png, orbax train states in checkpoints/ (params, optimizer, EMA, step)
and the EMA parameters as `model_step<k>/` and finally `model/` (readable by `load_adm`).
`--resume RUN_DIR` continues from its latest checkpoint; the per-step key is `fold_in(key, step)` and
the crop RNG is seeded by (seed, step), so a resumed run equals an uninterrupted one.
"""
from __future__ import annotations

import csv
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import flags
from ml_collections import config_flags
from tqdm import tqdm

from jaxinv.checkpoint import save_params
from jaxinv.data import image_folder, native_image_folder
from jaxinv.diffusion import make_schedule, q_sample
from jaxinv import cli
from jaxinv.io import fresh_run_dir
from jaxinv.models.adm import ADMConfig, ADMUNet


def parse(argv):
    """(config, resume_dir) from command-line arguments (argv[0] is the program)."""
    argv = list(argv)
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "training preset, e.g. configs/train/tiny.py", flag_values=fv,
                                    sys_argv=argv)
    flags.DEFINE_string("resume", None, "continue the run in this directory from its latest checkpoint", flag_values=fv)
    cli.parse_config_flags(fv, argv)
    return fv.config, fv.resume


def model_config(config) -> ADMConfig:
    m = ADMConfig.from_dict(dict(config.model))
    if m.image_size != config.data.patch_size:
        raise ValueError(f"model.image_size {m.image_size} must equal data.patch_size {config.data.patch_size}")
    return m


def load_images(data) -> list[np.ndarray]:
    """(H, W, 3) float32 images in [-1, 1]: centre-cropped/resized to `data.load_size`, or at their
    own size (grey -> RGB) when `load_size` is 0."""
    if not os.path.isdir(data.path):
        raise FileNotFoundError(f"training data folder not found: {data.path} (set --config.data.path)")
    size = int(data.load_size)
    if size == 0:
        images = [e.image for e in native_image_folder(data.path)]
    else:
        if data.patch_size > size:
            raise ValueError(f"data.patch_size {data.patch_size} exceeds data.load_size {size}")
        images = [e.image for e in image_folder(data.path, size)]
    small = [i for i, im in enumerate(images) if min(im.shape[:2]) < data.patch_size]
    if small:
        raise ValueError(f"{len(small)} training images are smaller than data.patch_size {data.patch_size}")
    return images


def sample_batch(images: list[np.ndarray], data, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Random images, random `patch_size` crops and random horizontal flips, from RNG (seed, step)."""
    rng = np.random.default_rng([seed, step])
    p = int(data.patch_size)
    idx = rng.integers(0, len(images), batch_size)
    corner = rng.random((2, batch_size))
    flip = rng.random(batch_size) < 0.5 if data.hflip else np.zeros(batch_size, bool)
    out = []
    for i, fy, fx in zip(idx, *corner):
        h, w = images[i].shape[:2]
        top, left = int(fy * (h - p + 1)), int(fx * (w - p + 1))
        out.append(images[i][top:top + p, left:left + p])
    out = np.stack(out)
    out[flip] = out[flip, :, ::-1]
    return out


def make_optimizer(config) -> optax.GradientTransformation:
    o = config.optim
    warmup = max(int(o.warmup_steps), 1)
    lr = optax.warmup_cosine_decay_schedule(0.0, o.lr, warmup, max(int(config.num_steps), warmup + 1),
                                            end_value=o.lr * o.end_factor)
    return optax.chain(optax.clip_by_global_norm(o.grad_clip), optax.adamw(lr, weight_decay=o.weight_decay))


def init_state(config, module: ADMUNet, optimizer) -> dict:
    p = config.data.patch_size
    params = module.init(jax.random.PRNGKey(config.seed), jnp.zeros((1, p, p, 3)), jnp.zeros((1,)))["params"]
    return {"params": params, "opt_state": optimizer.init(params), "ema": jax.tree_util.tree_map(jnp.copy, params), "step": jnp.zeros((), jnp.int32)}


def make_train_step(module: ADMUNet, optimizer, schedule, ema_decay: float, seed: int):
    """One jitted update; the state is donated."""
    base_key = jax.random.PRNGKey(seed)

    def loss_fn(params, x0, key):
        k_t, k_eps, k_drop = jax.random.split(key, 3)
        t = jax.random.randint(k_t, (x0.shape[0],), 0, schedule.num_steps)
        eps = jax.random.normal(k_eps, x0.shape)
        x_t = q_sample(schedule, x0, t[:, None, None, None], eps)
        out = module.apply({"params": params}, x_t, schedule.timestep_map[t].astype(jnp.float32),
                           deterministic=False, rngs={"dropout": k_drop})
        return jnp.mean((eps - out[..., :3]) ** 2)

    def step_fn(state, x0):
        key = jax.random.fold_in(base_key, state["step"])
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], x0, key)
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        ema = jax.tree_util.tree_map(lambda e, p: ema_decay * e + (1 - ema_decay) * p, state["ema"], params)
        return {"params": params, "opt_state": opt_state, "ema": ema, "step": state["step"] + 1}, loss

    return jax.jit(step_fn, donate_argnums=0)


def export(run_dir: str, name: str, ema, m: ADMConfig, image_size: int = 0) -> None:
    """EMA parameters with the model config, at `image_size` (0: the patch size) for a patch-trained UNet."""
    m = m.at_image_size(image_size) if image_size else m
    save_params(os.path.join(run_dir, name), jax.device_get(ema), m.to_dict())


def read_losses(path: str, upto: int) -> list[tuple[int, float]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f) if int(r["step"]) <= upto]


def plot_losses(path: str, rows) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r[0] for r in rows], [r[1] for r in rows])
    ax.set(xlabel="step", ylabel="eps MSE", yscale="log")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train(config, resume: str | None = None) -> str:
    """Trains per `config` (or continues `resume`); returns the run directory."""
    m = model_config(config)
    export_size = int(config.get("export_image_size", 0))
    if export_size:
        m.at_image_size(export_size)  # fail before training, not at the first export
    images = load_images(config.data)
    module = ADMUNet(m)
    optimizer = make_optimizer(config)
    schedule = make_schedule(int(config.diffusion.steps), config.diffusion.noise_schedule)
    state = init_state(config, module, optimizer)
    if resume:
        run_dir = os.path.abspath(resume)
        if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
            raise FileNotFoundError(f"no checkpoints/ in {run_dir} to resume from")
    else:
        run_dir = os.path.abspath(fresh_run_dir(config.output.root, config.name))   # orbax needs absolute paths
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2))
    manager = ocp.CheckpointManager(os.path.join(run_dir, "checkpoints"))
    start = 0
    if resume:
        start = manager.latest_step()
        if start is None:
            raise FileNotFoundError(f"{run_dir}/checkpoints holds no checkpoint")
        state = manager.restore(start, args=ocp.args.StandardRestore(jax.tree_util.tree_map(
            ocp.utils.to_shape_dtype_struct, state)))
    losses_path = os.path.join(run_dir, "losses.csv")
    rows = read_losses(losses_path, start)
    step_fn = make_train_step(module, optimizer, schedule, float(config.ema_decay), int(config.seed))
    bar = tqdm(range(start, int(config.num_steps)), initial=start, total=int(config.num_steps), desc="train")
    for step in bar:
        x0 = jnp.asarray(sample_batch(images, config.data, int(config.batch_size), int(config.seed), step))
        state, loss = step_fn(state, x0)
        done = step + 1
        if done % int(config.log_every) == 0 or done == config.num_steps:
            rows.append((done, float(loss)))
            bar.set_postfix(loss=f"{float(loss):.4f}")
        if done % int(config.checkpoint_every) == 0 or done == config.num_steps:
            manager.save(done, args=ocp.args.StandardSave(state))
            manager.wait_until_finished()
            with open(losses_path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["step", "loss"])
                w.writerows(rows)
            if done != config.num_steps:
                export(run_dir, f"model_step{done}", state["ema"], m, export_size)
    manager.close()
    export(run_dir, "model", state["ema"], m, export_size)
    plot_losses(os.path.join(run_dir, "loss.png"), rows)
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump({"steps": int(config.num_steps), "final_loss": rows[-1][1] if rows else None}, f, indent=2)
    return run_dir


def main(argv=None) -> int:
    return cli.main(lambda args: train(*parse(args)), sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
