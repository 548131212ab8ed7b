"""experiments.sweep on a tiny random ADM: one trace for seeds x settings, equal to single-setting runs."""
from __future__ import annotations

import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs.presets import preset
from experiments import sweep
from jaxinv import build, runner, sharding
from jaxinv.solvers import registry
from numerics import assert_rounding_close


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        smooth = np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((4, 4, 1)))
        Image.fromarray(smooth.astype(np.uint8)).save(d / f"{name}.png")
    return d


def _config(solver, task, ckpt, images, out, **solver_fields):
    c = preset("ffhq", solver, task)
    c.model.checkpoint_dir, c.data.path, c.data.image_size, c.output.root = str(ckpt), str(images), 32, str(out)
    c.diffusion.respacing = "ddim3" if solver == "codps_plus" else "3"
    c.annealing.num_steps, c.solver.num_inner = 2, 2
    c.diffusion.clip_denoised = solver != "dps"    # the sweep and the runner are two programs: tests/numerics.py
    for k, v in solver_fields.items():
        setattr(c.solver, k, v)
    return c


def _sweep_cfg(seeds, grid):
    s = sweep.sweep_defaults()
    s.seeds, s.grid = seeds, grid
    return s


@pytest.mark.parametrize("solver,task,param,values", [
    ("dps", "sr4", "scale", [0.1, 1.0]),
    ("spgd", "gaussian_deblur", "lr", [0.5, 2.0]),
])
def test_sweep_is_one_call_equal_to_single_setting_runs(tiny_checkpoint, image_dir, tmp_path, solver, task, param,
                                                         values):
    config = _config(solver, task, tiny_checkpoint, image_dir, tmp_path)
    seeds = 3
    run_dir = sweep.execute(config, _sweep_cfg(seeds, f"solver.{param}={values}"))
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["traces"] == 1 and summary["compiled_calls"] == 1
    with open(os.path.join(run_dir, "sweep.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(values) * 2 * seeds
    assert os.path.isfile(os.path.join(run_dir, "sweep.png"))

    # The same function, called directly, against separate runs of experiments.run's batch function
    # (config value = the setting, eval.num_samples = seeds): seed k is run's posterior sample k.
    module, params = build.load_model(config.model)
    examples = runner.load_examples(config.data)
    images = np.stack([ex.image for ex in examples])
    indices = np.arange(len(examples))
    operators = build.OperatorSource(config)
    operator = operators.batch(list(indices))
    fn = sweep.make_sweep_fn(config, module, operators.per_image, seeds)
    out = fn(params, operator, images, indices, {param: np.array(values, np.float32)})
    assert fn.trace_count() == 1
    # the last setting against a run of its own (each setting is one more compiled program)
    for s, value in list(enumerate(values))[-1:]:
        single = config.copy_and_resolve_references()
        setattr(single.solver, param, value)
        single.eval.num_samples = seeds
        single.execution.loop = "scan"     # one compiled program per setting (the host loop is checked in test_execution)
        network = build.Network(params=params, module=module, sample=None, condition=None, info={})
        batch_fn = runner.make_batch_fn(single, network, operators, build.build_noise(single), sharding.data_mesh())
        ref = batch_fn(params, operator, images, indices)
        assert_rounding_close(out["samples"][s], ref["samples"], f"sweep vs run samples, {param}={value}")
        assert_rounding_close(out["residual"][s], ref["residual"], f"sweep vs run residuals, {param}={value}")
        assert_rounding_close(out["y"], ref["y"], "sweep vs run measurements")
        # the CSV's metrics are those of the returned samples; PSNR is of 8-bit images, where a value
        # within rounding of a level boundary may round either way: each such value moves PSNR by
        # about 1e-4 dB here, so 0.05 dB still tells this image's row from another's (>= 1 dB apart)
        for b, ex in enumerate(examples):
            for k in range(seeds):
                (row,) = [r for r in rows if int(r["setting"]) == s and r["image"] == ex.name and int(r["seed"]) == k]
                m = runner.image_metrics(("psnr", "ssim"), images[b], np.asarray(ref["samples"][b, k]))
                assert float(row["psnr"]) == pytest.approx(m["psnr"], abs=0.05)
                assert float(row[param]) == pytest.approx(value)
    # different settings give different samples (the traced value is really used)
    assert not np.allclose(out["samples"][0], out["samples"][-1])


def test_sweep_rejects_untraced_and_bad_grids(tiny_checkpoint, image_dir, tmp_path, capsys):
    config = _config("dps", "sr4", tiny_checkpoint, image_dir, tmp_path)
    with pytest.raises(ValueError, match="cannot take \\['t_div'\\]"):
        sweep.execute(config, _sweep_cfg(2, "solver.t_div=[1,2]"))
    with pytest.raises(ValueError, match="solver.<param>"):
        sweep.parse_grid("scale=[1,2]", "dps")
    with pytest.raises(ValueError, match="list of numbers"):
        sweep.parse_grid("solver.scale=['a']", "dps")
    with pytest.raises(ValueError, match="unknown solver"):
        registry.check_hparams("no_such_solver", {"scale": 1.0})
    bad = config.copy_and_resolve_references()
    bad.solver.name = "no_such_solver"
    with pytest.raises(ValueError, match="unknown solver"):
        sweep.execute(bad, _sweep_cfg(2, "solver.scale=[1]"))
    assert not os.path.exists(tmp_path / "ffhq_dps_sr4_sweep")
    # the command line: exit 1 with the message, no run directory
    argv = ["sweep", "--config=configs/ffhq/dps_sr4.py", f"--config.model.checkpoint_dir={tiny_checkpoint}",
            f"--config.data.path={image_dir}", "--config.data.image_size=32", f"--config.output.root={tmp_path}",
            "--sweep.seeds=2", "--sweep.grid=solver.lr=[1.0]"]
    assert sweep.main(argv) == 2
    assert "cannot take ['lr']" in capsys.readouterr().err


def test_sample_fn_rejects_untraced_override(tiny_checkpoint, image_dir, tmp_path):
    config = _config("dps", "sr4", tiny_checkpoint, image_dir, tmp_path)
    module, params = build.load_model(config.model)
    sample = build.make_sample_fn(config, module)
    op = build.OperatorSource(config).shared
    with pytest.raises(ValueError, match="traced hyper-parameters are \\['scale'\\]"):
        sample(params, op, jnp.zeros((8, 8, 3)), jax.random.PRNGKey(0), {"eta": 0.5})
