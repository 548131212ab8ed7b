"""experiments.demo on a tiny random ADM: same measurements for every method, baselines equal to the
classical functions, the table equal to the per-image metrics, and the shipped demo files."""
from __future__ import annotations

import csv
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import demo as demo_config
from experiments import demo
from jaxinv.checkpoint import load_params, save_params
from jaxinv.models.adm import ADMConfig, ADMUNet
from jaxinv.operators import make_operator
from jaxinv.solvers.classical import bicubic_upsample

TINY = ADMConfig(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=False,
                 attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True)


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    params = jax.jit(ADMUNet(TINY).init)(jax.random.PRNGKey(1), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,)))["params"]
    return save_params(tmp_path_factory.mktemp("prior") / "tiny", params, TINY.to_dict())


def _png(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 127.5 - 1.0


def test_demo_on_a_tiny_prior(tiny_prior, tmp_path):
    c = demo_config.get_config()
    c.prior_dir, c.image_size, c.output.root = tiny_prior, 32, str(tmp_path)
    c.tasks, c.solvers, c.steps.dps, c.steps.codps_plus = "sr4", "dps,codps_plus", 2, 2
    demo_dir, table = demo.execute(c, progress=False)
    with open(os.path.join(demo_dir, "results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    methods = ["bicubic", "pseudo_inverse", "dps", "codps_plus"]
    assert sorted({r["method"] for r in rows}) == sorted(methods)
    assert len(rows) == len(methods) * c.num_images
    names = sorted({r["image"] for r in rows})
    run_dirs = {r["method"]: os.path.join(demo_dir, r["run_dir"]) for r in rows}
    op = make_operator("super_resolution", (32, 32, 3), scale=4)
    for name in names:
        shown = [_png(os.path.join(run_dirs[m], "measurement", f"{name}.png")) for m in methods]
        for other in shown[1:]:
            np.testing.assert_array_equal(other, shown[0])   # one measurement for every method
    # the bicubic recon is bicubic_upsample of the runner's y: noise key fold_in(split(PRNGKey(seed))[0], index)
    key_measure = jax.random.split(jax.random.PRNGKey(int(c.seed)))[0]
    for index, name in enumerate(names):
        label = _png(os.path.join(run_dirs["bicubic"], "label", f"{name}.png"))
        y = op.forward(jnp.asarray(label)) + 0.05 * jax.random.normal(jax.random.fold_in(key_measure, index), (8, 8, 3))
        expected = np.round((np.clip(np.asarray(bicubic_upsample(op, y)), -1, 1) + 1) * 127.5) / 127.5 - 1
        recon = _png(os.path.join(run_dirs["bicubic"], "recon", f"{name}.png"))
        assert np.abs(recon - expected).max() <= 1.01 / 127.5   # at most one 8-bit level (rounding ties)
    for method in methods:
        psnr = np.array([float(r["psnr"]) for r in rows if r["method"] == method])
        label_name = demo.method_label(method)
        assert f"| sr4 | {label_name} | {psnr.mean():.2f} ± {psnr.std():.2f} |" in table
    assert os.path.isfile(os.path.join(demo_dir, "grid.png"))
    second, _ = demo.execute(c, progress=False)
    assert second != demo_dir and os.path.isfile(os.path.join(demo_dir, "table.md"))


def test_every_demo_solver_draws_k_posterior_samples(tiny_prior, tmp_path):
    """Each diffusion solver of the demo runs on SR and deblurring with K = 2 samples per image: the
    table's posterior-mean PSNR and std are the per-image rows', and the grid has mean and std columns."""
    c = demo_config.get_config()
    c.prior_dir, c.image_size, c.output.root, c.num_images, c.batch_size = tiny_prior, 32, str(tmp_path), 1, 1
    c.tasks, c.num_samples, c.solvers = "sr4,gaussian_deblur", 2, ",".join(demo_config.SOLVER_FIELDS)
    for solver in demo_config.SOLVER_FIELDS:
        c.steps[solver] = 2
    demo_dir, table = demo.execute(c, progress=False)
    with open(os.path.join(demo_dir, "results.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        diffusion = r["method"] in demo_config.SOLVER_FIELDS
        assert bool(r["psnr_mean"]) == diffusion and bool(r["posterior_std"]) == diffusion, r
        run_dir = os.path.join(demo_dir, r["run_dir"])
        if diffusion:
            samples = np.stack([_png(os.path.join(run_dir, "samples", f"{r['image']}_{j}.png")) for j in range(2)])
            assert float(r["posterior_std"]) == pytest.approx(samples.std(0).mean(), abs=0.01)
            row = (f"| {r['task']} | {demo.method_label(r['method'])} | {float(r['psnr']):.2f} ± 0.00 | "
                   f"{float(r['psnr_mean']):.2f} ± 0.00 |")
            assert row in table, (row, table)
    assert {r["method"] for r in rows} >= set(demo_config.SOLVER_FIELDS)
    grid = Image.open(os.path.join(demo_dir, "grid.png"))
    columns = 3 + 3 * len(demo_config.SOLVER_FIELDS)    # truth, measurement, classical; sample, mean, std each
    assert grid.size[0] == 110 + columns * (64 + 4)


def test_demo_rejects_unknown_tasks_and_solvers(tmp_path):
    c = demo_config.get_config()
    c.output.root = str(tmp_path)
    c.tasks = "sr8"
    with pytest.raises(ValueError, match="unknown demo tasks"):
        demo.execute(c, progress=False)
    c.tasks, c.solvers = "sr4", "no_such_solver"
    with pytest.raises(ValueError, match="unknown demo solvers"):
        demo.execute(c, progress=False)
    assert not os.listdir(tmp_path)   # nothing written for bad input


def test_shipped_demo_files():
    c = demo_config.get_config()
    images = sorted(os.listdir(c.image_dir))
    assert images == ["0_chelsea.png", "1_coffee.png", "2_chelsea.png", "3_coffee.png"]
    full = demo_config.get_config("full")
    assert full.num_images == 4 and c.num_images == 2
    assert full.solvers.split(",") == list(demo_config.SOLVER_FIELDS)          # the full setting runs every solver
    assert all(full.steps[k] == 2 * c.steps[k] for k in demo_config.SOLVER_FIELDS)
    with pytest.raises(ValueError, match="unknown demo setting"):
        demo_config.get_config("fast")
    assert all(Image.open(os.path.join(c.image_dir, n)).size == (64, 64) for n in images)
    if not os.path.isdir(c.prior_dir):
        pytest.skip("the demo prior is not in this checkout")
    params, model = load_params(c.prior_dir)
    assert ADMConfig.from_dict(model).image_size == 64
    n = sum(np.size(leaf) for leaf in jax.tree.leaves(params))
    assert 1e6 < n < 2e6
