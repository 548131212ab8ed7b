"""GGDM simulations: Algorithm 1 / 2 with guidance G or G_loss, all seeds as one vmap.

    python -m experiments.ggdm --config configs/ggdm/fig4_alg1_gloss.py [--config.quick=True]

Writes a fresh run directory (CSV per round and seed, reward/ratio plots with seed spread, a
Pareto plot for δ sweeps); the last printed line is `final_reward=<mean> final_ratio=<mean>`
(batch and seed mean after the last round of the last (version, δ) of the config).
"""
from __future__ import annotations

import csv
import datetime
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import config_flags

from jaxinv import cli, sharding
from jaxinv.reward.algorithms import make_round_step
from jaxinv.reward.guidance import GuidanceConfig
from jaxinv.reward.schedule import make_schedule
from jaxinv.reward.simulations import make_problem
from jaxinv.reward.training import build_score, eps_mse_at, pretrain

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "jaxinv", "reward", "data")
METRICS = ("reward", "ratio", "top_k_reward", "top_k_ratio", "mean_target", "nonfinite")


def resolve(c):
    """Applies the quick overrides and fills defaults; returns a plain dict of settings."""
    s = {k: c[k] for k in ("name", "data", "reward", "sigma", "beta_coef", "beta", "rounds", "batch", "T",
                           "top_k", "out_root")}
    s["versions"], s["deltas"], s["seeds"] = tuple(c.versions), tuple(float(d) for d in c.deltas), tuple(c.seeds)
    s["score"], s["finetune"] = dict(c.score), dict(c.finetune)
    if c.quick:
        q = dict(c.quick_overrides)
        for k in ("rounds", "batch", "deltas"):
            if k in q:
                s[k] = tuple(q[k]) if k == "deltas" else q[k]
        for k in ("pretrain_epochs", "n_data"):
            if k in q:
                s["score"][k] = q[k]
        if "ft_start_round" in q:
            s["finetune"]["start_round"] = q["ft_start_round"]
        s["name"] += "_quick"
    s["hyperparameters"] = c.hyperparameters or os.path.join(DATA_DIR, f"{c.data}_hyperparameters.npz")
    if s["finetune"]["enabled"] and s["score"]["model"] == "oracle":
        raise ValueError("Algorithm 2 fine-tunes the score network: choose score.model 'mlp' or 'unet', not 'oracle'")
    return s


def fresh_dir(root, name):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(root, f"{name}_{stamp}")
    path, i = base, 1
    while os.path.exists(path):
        path, i = f"{base}_{i}", i + 1
    os.makedirs(path)
    return path


def get_score(s, problem, sched, out_dir):
    sc = s["score"]
    key = jax.random.PRNGKey(sc["pretrain_seed"])
    eps_fn, params = build_score(sc["model"], sched, problem.dim, key, A=problem.A, mlp_hidden=sc["mlp_hidden"],
                                 mlp_skip=sc["mlp_skip"], unet_dim=sc["unet_dim"])
    if sc["model"] == "oracle":
        return eps_fn, params
    from jaxinv.checkpoint import load_params, save_params
    k_data, k_train, k_eval = jax.random.split(jax.random.fold_in(key, 1), 3)
    data = problem.sample_data(k_data, sc["n_data"])
    if sc["checkpoint"]:
        params, _ = load_params(sc["checkpoint"])
    else:
        t0 = time.time()
        params, losses = pretrain(eps_fn, params, sched, data, k_train, sc["pretrain_epochs"],
                                  sc["pretrain_batch"], sc["pretrain_lr"])
        last = float(np.mean(losses[-min(2048, len(losses)):]))
        print(f"pretrain: {len(losses)} steps in {time.time() - t0:.0f}s, loss (last epoch mean) {last:.4f}")
        np.save(os.path.join(out_dir, "pretrain_loss.npy"), losses)
        save_params(os.path.join(out_dir, "score_checkpoint"), params, {"model": sc["model"]})
    print(f"eps-MSE at t=T-1: {eps_mse_at(eps_fn, params, sched, data[:4096], sched.num_steps - 1, k_eval):.3g}")
    return eps_fn, params


def run_one(s, problem, sched, eps_fn, params, version, delta):
    """All seeds of one (version, δ) as one jitted vmap over keys; returns {metric: (R+1, S)}.

    The seed axis is split over the local devices (`jaxinv.sharding`); when S is not a multiple of
    the device count, repeats of the last seed fill the axis and are dropped from the results.
    """
    ft = s["finetune"]
    cfg = GuidanceConfig(version, s["sigma"], s["beta_coef"], s["beta"] if s["beta"] > 0 else None)
    init, step = make_round_step(eps_fn, sched, cfg, problem.reward, problem.ratio, delta, s["batch"], problem.dim,
                                 finetune_lr=ft["lr"] if ft["enabled"] else None, ft_start_round=ft["start_round"],
                                 ft_rounds=ft["rounds"] if ft["rounds"] >= 0 else None, top_k=s["top_k"])
    mesh = sharding.data_mesh(jax.local_devices())
    num_seeds = len(s["seeds"])
    seeds = tuple(s["seeds"]) + (s["seeds"][-1],) * (sharding.padded_batch_size(num_seeds, mesh) - num_seeds)
    keys = sharding.shard_batch(mesh, np.asarray(jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))))
    rows = sharding.batch_sharding(mesh)       # every output (state, metrics) leads with the seed axis
    per_seed = ft["enabled"]      # Algorithm 2: every seed fine-tunes its own copy of the network
    v_init = jax.jit(jax.vmap(init, in_axes=(0 if per_seed else None, 0)), out_shardings=rows)
    if per_seed:
        params = sharding.shard_batch(mesh, jax.tree_util.tree_map(
            lambda a: np.broadcast_to(np.asarray(a), (len(seeds),) + a.shape), params))
    else:
        params = sharding.replicate(mesh, params)
    state, m = v_init(params, keys)
    if not per_seed:      # Algorithm 1: one shared network, passed as an argument (not baked into the HLO)
        state = state._replace(params=None)
        v_step = jax.jit(jax.vmap(lambda st, p, k: _drop_params(step(st._replace(params=p), k)), in_axes=(0, None, None)),
                         out_shardings=rows)
        shared = (params,)
    else:
        v_step = jax.jit(jax.vmap(step, in_axes=(0, None)), out_shardings=rows)
        shared = ()
    hist = [m]
    from tqdm.auto import tqdm
    bar = tqdm(range(1, s["rounds"] + 1), desc=f"{version} δ={delta}", file=sys.stderr)
    for k in bar:
        state, m = v_step(state, *shared, k)
        hist.append(m)
        bar.set_postfix(reward=f"{float(jnp.mean(m.reward[:num_seeds])):.3f}",
                        ratio=f"{float(jnp.mean(m.ratio[:num_seeds])):.3f}")
    return {name: np.stack([np.asarray(getattr(h, name))[:num_seeds] for h in hist]) for name in METRICS}, v_step


def _drop_params(out):
    state, m = out
    return state._replace(params=None), m


def write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("version", "delta", "seed", "round") + METRICS)
        for (version, delta, seeds), hist in results:
            R = hist["reward"].shape[0]
            for j, seed in enumerate(seeds):
                for r in range(R):
                    w.writerow((version, delta, seed, r) + tuple(float(hist[m][r, j]) for m in METRICS))


def plot(out_dir, results, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (version, delta, _), hist in results:
        label = f"{'G' if version == 'v1' else 'G_loss'} δ={delta:g}"
        for ax, m in zip(axes, ("reward", "ratio")):
            y = hist[m]
            r = np.arange(y.shape[0])
            ax.plot(r, y.mean(1), label=label)
            ax.fill_between(r, y.min(1), y.max(1), alpha=0.2)
    for ax, m in zip(axes, ("mean reward", "mean off-support ratio")):
        ax.set_xlabel("round"), ax.set_ylabel(m), ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title + " (mean over seeds; band = min/max)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "curves.png"), dpi=120)
    deltas = {d for (_, d, _), _ in results}
    if len(deltas) > 1:
        fig, ax = plt.subplots(figsize=(5, 4))
        for version in sorted({v for (v, _, _), _ in results}):
            pts = sorted((d, h["ratio"][-1].mean(), h["reward"][-1].mean()) for (v, d, _), h in results if v == version)
            ax.plot([p[1] for p in pts], [p[2] for p in pts], "o-", label="G" if version == "v1" else "G_loss")
            for d, x, y in pts:
                ax.annotate(f"{d:g}", (x, y), fontsize=7)
        ax.set_xlabel("final mean ratio"), ax.set_ylabel("final mean reward"), ax.legend(), ax.grid(alpha=0.3)
        ax.set_title(title + ": Pareto (labels = δ)")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "pareto.png"), dpi=120)
    plt.close("all")


def parse(argv):
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "configs/ggdm/<preset>.py", flag_values=fv, lock_config=False,
                                    sys_argv=list(argv))
    cli.parse_config_flags(fv, argv)
    if fv.config is None:
        raise cli.UserError("give --config configs/ggdm/<preset>.py")
    return fv.config


def execute(c) -> str:
    """Runs every (version, δ) of the config; returns the run directory."""
    s = resolve(c)
    out_dir = fresh_dir(s["out_root"], s["name"])
    with open(os.path.join(out_dir, "config.txt"), "w") as f:
        f.write(str(c) + "\nresolved: " + repr(s) + "\n")
    print(f"run directory: {out_dir}")
    problem = make_problem(s["data"], s["reward"], s["hyperparameters"])
    sched = make_schedule(s["T"])
    eps_fn, params = get_score(s, problem, sched, out_dir)
    results = []
    for version in s["versions"]:
        for delta in s["deltas"]:
            t0 = time.time()
            hist, _ = run_one(s, problem, sched, eps_fn, params, version, delta)
            results.append(((version, delta, s["seeds"]), hist))
            print(f"version={version} delta={delta:g} rounds={s['rounds']} time={time.time() - t0:.0f}s "
                  f"reward={hist['reward'][-1].mean():.4f} ratio={hist['ratio'][-1].mean():.4f} "
                  f"top_k_reward={hist['top_k_reward'][-1].mean():.4f} nonfinite={int(hist['nonfinite'][-1].sum())}")
    write_csv(os.path.join(out_dir, "metrics.csv"), results)
    plot(out_dir, results, s["name"])
    last = results[-1][1]
    print(f"final_reward={last['reward'][-1].mean():.6g} final_ratio={last['ratio'][-1].mean():.6g}")
    return out_dir


def main(argv=None) -> int:
    return cli.main(lambda args: execute(parse(args)), sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
