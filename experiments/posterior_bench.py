"""Exact-posterior benchmark: every solver against closed-form posteriors of Gaussian / Gaussian-mixture priors.

`python -m experiments.posterior_bench [--quick] [--output DIR]`

Vectors x in R^d are (d, 1, 1) 'images'; the priors' closed-form denoisers D(x; sigma) go through the same
interface as the UNet (`eps_model_from_denoiser` for the DDPM-family solvers, D directly for SPGD).
Measurements y = A x* + s n with A a random matrix, a coordinate mask (row selection) or a circular 1-D
Gaussian blur followed by 2x decimation (all m = d/2 rows). For each solver x steps: the sliced Wasserstein
distance SW_2 between n solver samples and n exact posterior samples (the `exact` row is the floor: two
independent exact sample sets), the RMS error of the posterior mean, the mean relative error of the
marginal variances, the mean and std errors in units of their Monte-Carlo error (`mean z`, `std z`: about 1
for an exact sampler) and the coverage of the per-coordinate 90% intervals (`posterior_statistics`). Unconditional rows (`ddpm`, `euler`) are compared with the PRIOR.
Writes results.md, results.csv and sw_vs_steps.png into a fresh directory (never overwrites).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import functools
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from configs import defaults
from jaxinv import cli
from jaxinv.diffusion import base_alphas_cumprod, denoiser_prior, gaussian_denoiser, gaussian_mixture_denoiser
from jaxinv.solvers import registry, run
from jaxinv.solvers.gaussian_posterior import (MatrixOperator, mixture_moments, mixture_posterior,
                                               sample_mixture, sliced_wasserstein)
from jaxinv.solvers.driver import DivergenceError, check_finite

NOISE_SIGMA = 0.1
GAUSS_VAR = 0.25
MIX_WEIGHTS = (0.5, 0.3, 0.2)
MIX_VAR = 0.05
UNCONDITIONAL = ("ddpm", "euler")
DPS_SCALE = 0.5
CODPS_SCALE = 0.005
SPGD_INNER = 5
SPGD_LR = 0.5  # times 1 / ||A||_2^2


def make_prior(kind: str, d: int, rng: np.random.Generator) -> dict:
    """Gaussian N(mu, 0.25 I) or a 3-component mixture with variances 0.05 I (float32 arrays, (K, d, 1, 1))."""
    if kind == "gaussian":
        return {"weights": np.ones(1), "means": 0.3 * rng.standard_normal((1, d, 1, 1)),
                "variances": np.full((1, d, 1, 1), GAUSS_VAR)}
    means = 0.5 * rng.standard_normal((len(MIX_WEIGHTS), d, 1, 1))
    return {"weights": np.array(MIX_WEIGHTS), "means": means, "variances": np.full(means.shape, MIX_VAR)}


def make_matrix(kind: str, d: int, rng: np.random.Generator) -> np.ndarray:
    """(m, d), m = max(d // 2, 1): Gaussian random / coordinate selection / circular blur (std 1.5) + decimation."""
    m = max(d // 2, 1)
    if kind == "random":
        return rng.standard_normal((m, d)) / np.sqrt(d)
    if kind == "mask":
        return np.eye(d)[np.sort(rng.choice(d, m, replace=False))]
    if kind == "blur":
        offsets = (np.arange(d)[None, :] - np.arange(d)[:, None] + d // 2) % d - d // 2
        rows = np.exp(-0.5 * (offsets / 1.5) ** 2)
        return (rows / rows.sum(1, keepdims=True))[:: max(d // m, 1)][:m]
    raise ValueError(f"unknown measurement {kind!r}; expected random, mask or blur")


def denoiser_of(prior: dict):
    if prior["weights"].shape[0] == 1:
        return gaussian_denoiser(prior["means"][0], prior["variances"][0])
    return gaussian_mixture_denoiser(prior["weights"], prior["means"], prior["variances"])


# Every run: the closed-form prior's eps model with fixed-small variance and no clamp, Gaussian
# noise NOISE_SIGMA, SPGD's annealing from sigma 100 to 0.01. Per row: the registered method, its
# config overrides (applied after the method sets its step count; "{steps}" is replaced by it),
# and whether the problem's SPGD_LR / ||A||^2 is its traced `lr`. A method not listed runs with its
# defaults. CoDPS+'s DDIM steps are spaced as the DDPM ones, since DDIM's integer stride cannot
# make 400 of 1000.
COMMON = {"diffusion.var_type": "fixed_small", "diffusion.clip_denoised": False, "noise.name": "gaussian",
          "noise.params.sigma": NOISE_SIGMA, "annealing.sigma_max": 100.0, "annealing.sigma_min": 0.01}
DAPS_MCMC = 20       # Langevin steps per annealing step (the image presets: 100)
ROWS = {
    "ddpm": ("ddpm", {}, False),
    "euler": ("spgd", {"solver.num_inner": 1, "solver.lr": 0.0}, False),   # the PF-ODE, no guidance
    "dps": ("dps", {"solver.scale": DPS_SCALE}, False),
    "codps": ("codps", {"solver.scale": CODPS_SCALE}, False),
    "codps+": ("codps_plus", {"solver.scale": CODPS_SCALE, "diffusion.respacing": "{steps}"}, False),
    "spgd": ("spgd", {"solver.num_inner": SPGD_INNER}, True),
    "diffpir": ("diffpir", {}, False),
    "ddrm": ("ddrm", {}, False),
    "ddnm+": ("ddnm", {}, False),
    "pgdm": ("pgdm", {}, False),
    "reddiff": ("reddiff", {}, False),
    "daps": ("daps", {"solver.daps_mcmc_steps": DAPS_MCMC, "solver.daps_tau": NOISE_SIGMA}, False),
}


def row_config(name: str, steps: int, inv_var: float):
    """The run config of bench row `name` with `steps` sampling steps; CoDPS's prior precision `inv_var`."""
    method, overrides, _ = ROWS.get(name, (name, {}, False))
    config = defaults.get_config()
    config.solver.name = method
    registry.get(method).set_steps(config, steps)
    for path, value in {**COMMON, "solver.inv_var": inv_var, **overrides}.items():
        *groups, field = path.split(".")
        node = config
        for g in groups:
            node = node[g]
        node[field] = value.format(steps=steps) if isinstance(value, str) else value
    return config


@functools.lru_cache(maxsize=None)
def sampler(name: str, steps: int, n: int, inv_var: float = 1.0):
    """jitted (prior, matrix, y, lr, key) -> (n, d) samples, (n,) finite; one compile per
    (name, steps, n, inv_var, shapes). `inv_var` (CoDPS's prior precision) is static: CoDPS+ branches on it."""
    config = row_config(name, steps, inv_var)
    method = registry.get(config.solver.name)
    traced_lr = ROWS.get(name, (None, None, False))[2]
    abar = base_alphas_cumprod(1000, "linear")

    def one(prior, matrix, y, lr, key):
        shape = (matrix.shape[1], 1, 1)
        run_sampler = method.make_sampler(config, shape)
        hparams = {"lr": lr} if traced_lr else {}
        solver = run_sampler.solver(denoiser_prior(denoiser_of(prior), abar), MatrixOperator(matrix), y, hparams)
        out = run(solver, *run_sampler.start(key, hparams))
        finite = jnp.all(jnp.isfinite(out["sample"]))
        return out["sample"].reshape(-1), out["diagnostics"].get("finite", finite[None])

    @jax.jit
    def sample(prior, matrix, y, lr, key):
        return jax.vmap(one, in_axes=(None, None, None, None, 0))(prior, matrix, y, lr, jax.random.split(key, n))

    return sample


def make_problem(prior_kind: str, d: int, op_kind: str, seed: int) -> dict:
    """Prior, matrix, measurement of a drawn x*, and the exact posterior (mixture form)."""
    rng = np.random.default_rng(seed)
    prior = make_prior(prior_kind, d, rng)
    matrix = make_matrix(op_kind, d, rng)
    comp = rng.choice(len(prior["weights"]), p=prior["weights"])
    x_true = prior["means"][comp].ravel() + np.sqrt(prior["variances"][comp].ravel()) * rng.standard_normal(d)
    y = matrix @ x_true + NOISE_SIGMA * rng.standard_normal(matrix.shape[0])
    post = mixture_posterior(prior["weights"], prior["means"], prior["variances"], matrix, y, NOISE_SIGMA)
    prior_covs = np.stack([np.diag(c.ravel()) for c in prior["variances"]])
    return {"prior": prior, "matrix": matrix, "y": y, "posterior": post,
            "prior_mixture": (prior["weights"], prior["means"].reshape(len(prior["weights"]), d), prior_covs)}


def solver_samples(problem: dict, name: str, steps: int, n: int, seed: int) -> np.ndarray:
    """(n, d) float64 samples of solver `name`; raises if any went non-finite."""
    p = problem["prior"]
    inv_var = float(1.0 / np.mean(p["variances"]))  # prior precision (exact for the isotropic Gaussian)
    prior = {"weights": jnp.asarray(p["weights"], jnp.float32), "means": jnp.asarray(p["means"], jnp.float32),
             "variances": jnp.asarray(p["variances"], jnp.float32)}
    matrix = jnp.asarray(problem["matrix"], jnp.float32)
    lr = SPGD_LR / float(np.linalg.norm(problem["matrix"], 2) ** 2)
    y = jnp.asarray(problem["y"], jnp.float32).reshape(-1, 1, 1)
    fn = sampler(name, steps, n, inv_var if name.startswith("codps") else 1.0)
    samples, finite = fn(prior, matrix, y, jnp.float32(lr), jax.random.PRNGKey(seed))
    finite = np.asarray(finite)
    if finite.shape[-1] > 1:     # per-step flags (SPGD)
        check_finite({"finite": finite}, f"{name} with {steps} steps")
    elif not finite.all():
        raise DivergenceError(f"{name} with {steps} steps produced non-finite samples")
    return np.asarray(samples, np.float64)


def posterior_statistics(samples: np.ndarray, mean: np.ndarray, var: np.ndarray, ref: np.ndarray) -> dict:
    """The K-sample mean and std against the closed form in units of their Monte-Carlo error, and coverage.

    K exact draws give coordinate i a mean with standard error s_i / sqrt(K) and (Gaussian marginals, as
    on the Gaussian prior) a std with standard error s_i / sqrt(2 (K - 1)). `mean_z` and `std_z` are the
    RMS over coordinates of the errors in those units: about 1 when the errors are Monte-Carlo error
    alone, larger where the method is biased. `cov90` is the share of exact draws `ref` inside each
    coordinate's 5-95% interval of the samples: 0.9 for calibrated marginals, below when too narrow."""
    k, s = samples.shape[0], np.sqrt(var)
    low, high = np.quantile(samples, [0.05, 0.95], axis=0)
    return {"mean_z": float(np.sqrt(np.mean(((samples.mean(0) - mean) / (s / np.sqrt(k))) ** 2))),
            "std_z": float(np.sqrt(np.mean(((samples.std(0, ddof=1) - s) / (s / np.sqrt(2 * (k - 1)))) ** 2))),
            "cov90": float(np.mean((ref >= low) & (ref <= high)))}


def evaluate(problem: dict, samples: np.ndarray, unconditional: bool, seed: int) -> dict:
    """SW_2 to exact reference samples, RMS mean error, mean relative marginal-variance error and
    `posterior_statistics`."""
    w, means, covs = problem["prior_mixture"] if unconditional else problem["posterior"]
    rng = np.random.default_rng(seed)
    ref = sample_mixture(rng, w, means, covs, samples.shape[0])
    mean, var = mixture_moments(w, means, covs)
    return {"sw": sliced_wasserstein(rng, samples, ref),
            "mean_err": float(np.sqrt(np.mean((samples.mean(0) - mean) ** 2))),
            "var_err": float(np.mean(np.abs(samples.var(0) / var - 1.0))),
            **posterior_statistics(samples, mean, var, ref)}


def bench(priors, dims, operators, solvers, steps_list, n: int, seed: int = 0, log=print) -> list[dict]:
    rows = []
    for prior_kind in priors:
        for d in dims:
            for op_kind in operators:
                problem = make_problem(prior_kind, d, op_kind, seed + d)
                w, means, covs = problem["posterior"]
                floor = evaluate(problem, sample_mixture(np.random.default_rng(seed + 1), w, means, covs, n), False, seed)
                rows.append(dict(prior=prior_kind, d=d, operator=op_kind, solver="exact", steps=0, seconds=0.0, **floor))
                for name in solvers:
                    for steps in steps_list:
                        t0 = time.perf_counter()
                        samples = solver_samples(problem, name, steps, n, seed)
                        metrics = evaluate(problem, samples, name in UNCONDITIONAL, seed)
                        rows.append(dict(prior=prior_kind, d=d, operator=op_kind, solver=name, steps=steps,
                                         seconds=time.perf_counter() - t0, **metrics))
                        log(f"{prior_kind:8s} d={d:3d} {op_kind:6s} {name:7s} steps={steps:4d} "
                            f"sw={metrics['sw']:.4f} mean_err={metrics['mean_err']:.4f} var_err={metrics['var_err']:.3f} "
                            f"mean_z={metrics['mean_z']:.2f} std_z={metrics['std_z']:.2f} cov90={metrics['cov90']:.3f}")
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| prior | d | A | solver | steps | SW2 | mean RMS err | var rel err | mean z | std z | 90% cov. | s |",
             "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['prior']} | {r['d']} | {r['operator']} | {r['solver']} | {r['steps']} | {r['sw']:.4f} | "
                     f"{r['mean_err']:.4f} | {r['var_err']:.3f} | {r['mean_z']:.2f} | {r['std_z']:.2f} | "
                     f"{r['cov90']:.3f} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def write_outputs(rows: list[dict], out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=False)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.md").write_text(markdown_table(rows))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({(r["prior"], r["d"], r["operator"]) for r in rows})
    fig, axes = plt.subplots(1, len(problems), figsize=(3.2 * len(problems), 3), squeeze=False)
    for ax, (prior, d, op) in zip(axes[0], problems):
        sel = [r for r in rows if (r["prior"], r["d"], r["operator"]) == (prior, d, op)]
        for name in dict.fromkeys(r["solver"] for r in sel if r["solver"] != "exact"):
            pts = sorted((r["steps"], r["sw"]) for r in sel if r["solver"] == name)
            ax.plot(*zip(*pts), marker="o", label=name)
        ax.axhline(next(r["sw"] for r in sel if r["solver"] == "exact"), color="k", ls=":", label="exact floor")
        ax.set(xscale="log", yscale="log", title=f"{prior} d={d} {op}", xlabel="steps")
    axes[0][0].set_ylabel("SW2")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "sw_vs_steps.png", dpi=120)


def posterior_bench(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d in (2, 20), random A only, 2 step counts, 500 samples")
    parser.add_argument("--output", help="output directory (must not exist); default runs/posterior_bench/<UTC time>")
    parser.add_argument("--samples", type=int, default=None, help="samples per solver (default 2000; quick 500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        config = dict(priors=("gaussian", "mixture"), dims=(2, 20), operators=("random",), steps_list=(20, 100),
                      n=args.samples or 500)
    else:
        config = dict(priors=("gaussian", "mixture"), dims=(2, 20, 100), operators=("random", "mask", "blur"),
                      steps_list=(20, 100, 400), n=args.samples or 2000)
    out = pathlib.Path(args.output or f"runs/posterior_bench/{datetime.datetime.utcnow():%Y%m%d-%H%M%S}")
    if out.exists():
        raise FileExistsError(f"output directory {out} exists; choose a new --output")
    rows = bench(solvers=tuple(ROWS), seed=args.seed, **config)
    write_outputs(rows, out)
    print(f"wrote {out}/results.md, results.csv, sw_vs_steps.png")
    return 0


def main(argv=None) -> int:
    return cli.main(posterior_bench, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
