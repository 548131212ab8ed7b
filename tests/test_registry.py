"""A method registered from a test module runs through experiments.run, experiments.sweep and the
posterior benchmark, touching no other file: the registry is the only wiring a method needs."""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxinv.diffusion import ddim_step, p_mean_variance
from jaxinv.runner import read_rows
from jaxinv.solvers import Solver, registry
from jaxinv.solvers.ddpm import ddpm_schedule, gaussian_start, respaced_steps, set_ddim_steps

NAME = "test_landweber_ddim"


def landweber_ddim_solver(eps_model, schedule, operator, y, weight):
    """DDIM (eta 0) whose x0_hat takes one Landweber step x0 + weight A^T (y - A x0) before re-noising."""

    def step(x, xs):
        x0 = p_mean_variance(schedule, eps_model, x, xs["t"], "fixed_small", clip_denoised=False)["pred_xstart"]
        r, adjoint = y - operator.forward(x0), jax.vjp(operator.forward, x0)[1]
        x0 = x0 + weight * adjoint(r)[0]
        return ddim_step(schedule, x, xs["t"], x0, xs["z"], 0.0), {"residual_norm": jnp.linalg.norm(r)}

    return Solver(step)


def make_sampler(config, shape) -> registry.Sampler:
    schedule = ddpm_schedule(config)

    def solver(prior, operator, y, hparams):
        weight = hparams.get("landweber_weight", float(config.solver.landweber_weight))
        return landweber_ddim_solver(prior.eps, schedule, operator, y, weight)

    return registry.Sampler(gaussian_start(schedule, shape), solver)


@pytest.fixture(scope="module")
def method():
    m = registry.register(registry.Method(
        NAME, "Landweber DDIM", fields={"landweber_weight": (0.5, "Landweber step on x0_hat")},
        traced=("landweber_weight",), make_sampler=make_sampler, steps=respaced_steps, set_steps=set_ddim_steps))
    yield m
    registry.METHODS.pop(NAME)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(2)
    for name in ("a", "b"):
        Image.fromarray(np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((4, 4, 1))).astype(np.uint8)).save(
            d / f"{name}.png")
    return d


def _overrides(ckpt, images, out):
    return [f"--config.solver.name={NAME}", f"--config.model.checkpoint_dir={ckpt}", f"--config.data.path={images}",
            "--config.data.image_size=32", "--config.data.batch_size=2", "--config.diffusion.respacing=ddim3",
            f"--config.output.root={out}"]


def test_registered_method_runs_through_the_runner(method, tiny_checkpoint, image_dir, tmp_path):
    from experiments import run as runner

    argv = ["run", "--config=configs/ffhq/dps_sr4.py", *_overrides(tiny_checkpoint, image_dir, tmp_path)]
    assert runner.main(argv) == 0
    (run_dir,) = [os.path.join(r, d) for r, ds, _ in os.walk(tmp_path / "ffhq_dps_sr4") for d in ds][:1]
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    assert saved["solver"]["name"] == NAME and saved["solver"]["landweber_weight"] == 0.5
    rows = read_rows(os.path.join(run_dir, "metrics.csv"))
    assert [r["name"] for r in rows] == ["a", "b"] and all(np.isfinite(float(r["residual"])) for r in rows)


def test_registered_method_sweeps_its_traced_field(method, tiny_checkpoint, image_dir, tmp_path):
    from experiments import run as runner
    from experiments import sweep

    config, _, _ = runner.parse(["run", "--config=configs/ffhq/dps_sr4.py",
                                 *_overrides(tiny_checkpoint, image_dir, tmp_path)])
    settings = sweep.sweep_defaults()
    settings.seeds, settings.grid = 2, "solver.landweber_weight=[0.0,8.0]"
    summary = json.load(open(os.path.join(sweep.execute(config, settings), "summary.json")))
    assert summary["traces"] == 1 and summary["solver"] == NAME
    unguided, guided = (s["residual"]["mean"] for s in summary["per_setting"])
    # the last step's Landweber update scales the residual by (I - 8 A A^T), A A^T ~ 1/16 for this
    # SR x4: measured ratio 0.24
    assert guided < 0.5 * unguided, (guided, unguided)


def test_registered_method_in_the_posterior_benchmark(method):
    from experiments import posterior_bench

    (exact, row), = [posterior_bench.bench(priors=("gaussian",), dims=(2,), operators=("random",), solvers=(NAME,),
                                           steps_list=(20,), n=400, log=lambda *a: None)]
    assert (exact["solver"], row["solver"], row["steps"]) == ("exact", NAME, 20)
    # bench() draws its problem with seed + d: the prior mean's distance to the exact posterior mean
    problem = posterior_bench.make_problem("gaussian", 2, "random", 0 + 2)
    prior_gap = np.sqrt(np.mean((problem["prior"]["means"][0].ravel() - problem["posterior"][1][0]) ** 2))
    # the data step moves the samples' mean from the prior's toward the posterior's (measured 0.06 of the gap)
    assert row["mean_err"] < 0.5 * prior_gap, (row["mean_err"], prior_gap)
