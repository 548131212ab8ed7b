"""GGDM reward guidance on the demo prior (pixel space), all seeds as one vmap per round.

    python -m experiments.ggdm_image --config configs/ggdm/image_gloss.py [--config.rounds=2]

Schemes (`jaxinv.reward.image_guidance`): the iterative linearised target (Algorithm 1 on images:
g_i = ∇r(z_i), y_i = δ + ⟨g_i, z_i⟩, guidance G = v1 or G_loss = v2) and the fixed target y* of
the Stable-Diffusion experiment (ε̂ += √(1−ᾱ_t)·strength·∇ₓₜ ½(r̃_i(x̂₀) − y*)²). Round 0 is the
unguided sample. Per round: the reward, the prior's re-noised ε-MSE (`image_metrics`), high-frequency
energy and saturation. Baseline: plain gradient ascent on the pixels of the round-0 samples, stopped
at the iterate whose mean reward is closest to the last guided round's. Timing: every sampler
(unguided, the run's guidance, `timing.extra`) is compiled ahead of time (compile time reported
separately) and timed per call; per image = call time / (seeds × batch).

Writes a fresh `jaxinv.io.fresh_run_dir(output.root, name)` with `rounds.csv`, `onprior.csv`,
`reward.png`, `round_<k>.png` grids (rows = seeds), `naive_ascent.png`, `samples.npz` and
`summary.json`; the last printed line is `final_reward=<mean> guided_over_unguided_time=<ratio>`.
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

from jaxinv import cli
from jaxinv.diffusion.denoisers import base_alphas_cumprod
from jaxinv.diffusion.schedules import space_timesteps
from jaxinv.io import fresh_run_dir, save_grid
from jaxinv.reward.image_guidance import ddpm_arrays, fixed_target_round, iterative_round, unguided_sample
from jaxinv.reward.image_metrics import high_frequency_energy, pixel_gradient_ascent, renoised_eps_mse, saturation
from jaxinv.reward.image_rewards import make_image_reward

SCHEMES = ("iterative", "fixed_target")
TRAIN_COMMAND = "python -m experiments.train --config configs/train/demo.py"


def load_prior(prior_dir: str, image_size: int):
    """(eps_fn(params, x, t), params) of the ADM at `prior_dir`, rebuilt for `image_size` inputs."""
    from jaxinv.models.adm import ADMUNet, load_adm

    if not os.path.isfile(os.path.join(prior_dir, "model_config.json")):
        raise FileNotFoundError(f"no prior at {prior_dir!r} (expected model_config.json and params there); "
                                f"train the demo prior with `{TRAIN_COMMAND}` or pass --config.prior_dir")
    module, params = load_adm(prior_dir)
    net = ADMUNet(module.config.at_image_size(image_size))
    channels = 3   # ADM (guided-diffusion) images are RGB; learn_sigma adds 3 variance channels

    def eps_fn(p, x, t):   # a learned-variance model's extra channels are not ε
        return net.apply({"params": p}, x, jnp.asarray(t, jnp.float32))[..., :channels]

    return eps_fn, params, channels


def _check(c):
    if c.scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {c.scheme!r}; expected one of {SCHEMES}")
    if c.scheme == "iterative" and c.version not in ("v1", "v2"):
        raise ValueError(f"unknown guidance version {c.version!r}; expected 'v1' (G) or 'v2' (G_loss)")
    for kind in c.timing.extra:
        if kind not in ("v1", "v2", "fixed_target"):
            raise ValueError(f"unknown timing entry {kind!r}; expected 'v1', 'v2' or 'fixed_target'")
    if c.rounds < 1:
        raise ValueError("rounds must be ≥ 1 (round 0 is the unguided sample)")


def make_samplers(c, eps_fn, reward, arrays, channels):
    """{kind: f(params, keys (S,2), z (S,B,...), round) → z_new} vmapped over seeds, and a trace counter."""
    shape = (c.batch, c.image_size, c.image_size, channels)
    K = int(arrays.timesteps.shape[0])
    traces = {}

    def draws(key, k):
        key = jax.random.fold_in(key, 0 if c.reuse_noise else k)
        k1, k2 = jax.random.split(key)
        return jax.random.normal(k1, shape), jax.random.normal(k2, (K,) + shape)

    def one_seed(kind):
        def f(params, key, z, k):
            traces[kind] = traces.get(kind, 0) + 1     # trace-time only: counts compilations
            eps = lambda x, t: eps_fn(params, x, t)
            x_T, noises = draws(key, k)
            if kind == "unguided":
                return unguided_sample(eps, arrays, x_T, noises, c.clip_denoised)
            if kind == "fixed_target":
                return fixed_target_round(eps, reward, arrays, z, c.target, c.strength, x_T, noises,
                                          batch_coupled=c.batch_coupled, clip_denoised=c.clip_denoised)
            return iterative_round(eps, reward, arrays, z, c.delta, x_T, noises, kind, c.sigma, c.beta_coef,
                                   c.clip_denoised)
        return f

    kinds = ["unguided", c.version if c.scheme == "iterative" else "fixed_target"]
    kinds += [k for k in c.timing.extra if k not in kinds]
    fns = {k: jax.jit(jax.vmap(one_seed(k), in_axes=(None, 0, 0, None))) for k in kinds}
    return fns, traces


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def execute(c, progress: bool = True):
    """Runs the config; returns (run_dir, summary dict)."""
    _check(c)
    reward = make_image_reward(c.reward.name, channel=c.reward.channel, colour=tuple(c.reward.colour))
    eps_fn, params, channels = load_prior(c.prior_dir, c.image_size)
    abar = base_alphas_cumprod(c.diffusion_steps, c.noise_schedule)
    arrays = ddpm_arrays(abar, space_timesteps(c.diffusion_steps, str(c.sampling_steps)))
    run_dir = fresh_run_dir(c.output.root, c.name)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write(c.to_json_best_effort(indent=2))
    say = print if progress else (lambda *a, **k: None)
    say(f"run directory: {run_dir}")

    seeds = tuple(int(s) for s in c.seeds)
    S, B = len(seeds), int(c.batch)
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))
    z_shape = (S, B, c.image_size, c.image_size, channels)
    z0 = jnp.zeros(z_shape)
    fns, traces = make_samplers(c, eps_fn, reward, arrays, channels)
    compiled, timing = {}, {}
    for kind, fn in fns.items():
        t0 = time.perf_counter()
        compiled[kind] = fn.lower(params, keys, z0, 0).compile()
        timing[kind] = dict(compile_s=time.perf_counter() - t0, call_s=[])
    rewards_of = jax.jit(jax.vmap(jax.vmap(reward)))
    onprior_key = jax.random.PRNGKey(int(c.onprior.seed))
    onprior_ts = tuple(int(t) for t in c.onprior.timesteps)
    eps_flat = lambda p, x, t: eps_fn(p, x, t)
    eps_mse = jax.jit(lambda p, x: renoised_eps_mse(lambda xx, tt: eps_flat(p, xx, tt), abar, x, onprior_ts,
                                                    onprior_key))

    def stats(z):
        flat = z.reshape((-1,) + z.shape[2:])
        r = np.asarray(rewards_of(z))
        return dict(reward_mean=float(r.mean()), reward_std=float(r.std()),
                    **{f"eps_mse_t{t}": float(v) for t, v in zip(onprior_ts, np.asarray(eps_mse(params, flat)))},
                    hf_energy=float(high_frequency_energy(flat)), saturation=float(saturation(flat)))

    guided = "fixed_target" if c.scheme == "fixed_target" else c.version
    z, dt = _timed(compiled["unguided"], params, keys, z0, 0)
    timing["unguided"]["call_s"].append(dt)
    history, rows = [np.asarray(z)], [dict(round=0, **stats(z))]
    say(f"round 0 (unguided): reward {rows[-1]['reward_mean']:.4f} ({dt:.1f}s)")
    for k in range(1, c.rounds + 1):
        z, dt = _timed(compiled[guided], params, keys, z, k)
        timing[guided]["call_s"].append(dt)
        history.append(np.asarray(z))
        rows.append(dict(round=k, **stats(z)))
        say(f"round {k} ({guided}): reward {rows[-1]['reward_mean']:.4f} "
            f"eps_mse {[round(rows[-1][f'eps_mse_t{t}'], 4) for t in onprior_ts]} ({dt:.1f}s)")
    for kind in fns:
        if not timing[kind]["call_s"]:
            _, dt = _timed(compiled[kind], params, keys, jnp.asarray(history[0]), 1)
            timing[kind]["call_s"].append(dt)
    for kind, tm in timing.items():
        tm["per_image_s"] = float(np.median(tm["call_s"])) / (S * B)
    samples = np.stack(history)                                  # (R+1, S, B, H, W, C)

    # naive baseline: pixel gradient ascent from the unguided samples, matched in mean reward
    naive, stop = naive_baseline(reward, samples[0], rows[-1]["reward_mean"], c.naive.lr, c.naive.steps)
    naive_row = dict(stats(jnp.asarray(naive)), ascent_steps=stop)

    _write_rounds(os.path.join(run_dir, "rounds.csv"), rows)
    onprior = [dict(samples="unguided", **{k: v for k, v in rows[0].items() if k != "round"}),
               dict(samples=f"guided_round{c.rounds}", **{k: v for k, v in rows[-1].items() if k != "round"}),
               dict(samples="naive_ascent", **{k: v for k, v in naive_row.items() if k != "ascent_steps"})]
    _write_rounds(os.path.join(run_dir, "onprior.csv"), onprior)
    np.savez_compressed(os.path.join(run_dir, "samples.npz"), samples=samples, naive=naive, seeds=np.asarray(seeds))
    for k, batch in enumerate(samples):
        save_grid(os.path.join(run_dir, f"round_{k}.png"), np.clip(batch.reshape((-1,) + batch.shape[2:]), -1, 1),
                  columns=B)
    save_grid(os.path.join(run_dir, "naive_ascent.png"), np.clip(naive.reshape((-1,) + naive.shape[2:]), -1, 1),
              columns=B)
    _plot(os.path.join(run_dir, "reward.png"), samples, rewards_of, rows, naive_row, onprior_ts, c)
    ratio = timing[guided]["per_image_s"] / timing["unguided"]["per_image_s"]
    summary = dict(name=c.name, scheme=c.scheme, guidance=guided, seeds=list(seeds), batch=B, rounds=int(c.rounds),
                   sampling_steps=int(arrays.timesteps.shape[0]), image_size=int(c.image_size),
                   final_reward=rows[-1]["reward_mean"], rounds_stats=rows, naive_ascent=naive_row,
                   timing=timing, guided_over_unguided_time=ratio,
                   time_ratios={k: timing[k]["per_image_s"] / timing["unguided"]["per_image_s"] for k in timing},
                   traces=dict(traces), devices=[str(d) for d in jax.devices()])
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return run_dir, summary


def naive_baseline(reward, z, target_reward: float, lr: float, steps: int):
    """Pixel gradient ascent on z (S, B, H, W, C), stopped at the iterate whose mean reward is closest
    to `target_reward`; returns (that iterate, its step count)."""
    flat = jnp.asarray(z.reshape((-1,) + z.shape[2:]))
    xs, curve = jax.jit(lambda x: pixel_gradient_ascent(reward, x, lr, steps))(flat)
    stop = int(np.argmin(np.abs(np.asarray(curve) - target_reward)))
    return np.asarray(xs[stop]).reshape(z.shape), stop


def _write_rounds(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _plot(path, samples, rewards_of, rows, naive_row, ts, c):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    r = np.stack([np.asarray(rewards_of(jnp.asarray(z))).mean(1) for z in samples])   # (R+1, S) seed means
    k = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    mean, std = np.array([x["reward_mean"] for x in rows]), np.array([x["reward_std"] for x in rows])
    axes[0].plot(k, mean, "o-", label="mean over seeds × batch")
    axes[0].fill_between(k, mean - std, mean + std, alpha=0.2, label="± std over samples")
    for j in range(r.shape[1]):
        axes[0].plot(k, r[:, j], lw=0.7, alpha=0.6, color="gray")
    axes[0].set_xlabel("round"), axes[0].set_ylabel(f"reward ({c.reward.name})"), axes[0].legend(fontsize=7)
    for t in ts:
        line, = axes[1].plot(k, [x[f"eps_mse_t{t}"] for x in rows], "o-", label=f"guided, t={t}")
        axes[1].axhline(naive_row[f"eps_mse_t{t}"], ls="--", color=line.get_color(), label=f"naive ascent, t={t}")
    axes[1].set_xlabel("round (0 = unguided)"), axes[1].set_ylabel("re-noised ε-MSE of the prior")
    axes[1].legend(fontsize=6)
    for ax in axes:
        ax.grid(alpha=0.3)
    label = f"{c.version} δ={c.delta:g}" if c.scheme == "iterative" else f"y*={c.target:g}, strength={c.strength:g}"
    fig.suptitle(f"{c.name}: {c.scheme} {label}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def final_line(summary) -> str:
    return (f"final_reward={summary['final_reward']:.6g} "
            f"guided_over_unguided_time={summary['guided_over_unguided_time']:.4g}")


def parse(argv):
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "configs/ggdm/image_<preset>.py", flag_values=fv,
                                    lock_config=False, sys_argv=list(argv))
    cli.parse_config_flags(fv, argv)
    if fv.config is None:
        raise cli.UserError("give --config configs/ggdm/image_<preset>.py")
    return fv.config


def main(argv=None) -> int:
    def job(args):
        run_dir, summary = execute(parse(args))
        print(f"wrote {run_dir}")
        print(final_line(summary))
    return cli.main(job, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
