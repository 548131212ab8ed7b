"""experiments.run with LPIPS and FID: skipped with one notice without weights, computed with them."""
from __future__ import annotations

import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict
from PIL import Image

from experiments import run as runner
from jaxinv.runner.metrics import set_metrics
from jaxinv.checkpoint import save_params
from jaxinv.metrics import LPIPS, activation_statistics, frechet_distance, load_lpips, load_statistics, save_statistics
from jaxinv.metrics.lpips import MODEL_NAME as LPIPS_NAME
from jaxinv.models.inception import MODEL_NAME as INCEPTION_NAME
from tests.test_run import _argv, image_dir  # noqa: F401  (fixture)


def _run_dir(root):
    (run_dir,) = [os.path.join(r, d) for r, ds, _ in os.walk(root / "ffhq_dps_sr4") for d in ds][:1]
    return run_dir


def _png01(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0


def test_missing_weights_skip_with_one_notice_naming_the_command(tiny_checkpoint, image_dir, tmp_path, capsys):
    lpips_dir, inception_dir = tmp_path / "no_lpips", tmp_path / "no_inception"
    argv = _argv(tiny_checkpoint, image_dir, tmp_path, f"--config.eval.lpips_dir={lpips_dir}",
                 f"--config.eval.inception_dir={inception_dir}")
    assert runner.main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    lpips_cmd = f"python -m convert.lpips --vgg16 vgg16-397923af.pth --output {lpips_dir}"
    fid_cmd = f"python -m convert.inception --weights pt_inception-2015-12-05-6726825d.pth --output {inception_dir}"
    assert sum(lpips_cmd in line for line in err) == 1  # three images, one notice
    assert sum(fid_cmd in line for line in err) == 1
    run_dir = _run_dir(tmp_path)
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["lpips"].startswith("not computed") and lpips_cmd in summary["lpips"]
    assert summary["fid"].startswith("not computed") and fid_cmd in summary["fid"]
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        assert "lpips" not in next(csv.reader(f))
    assert "lpips" not in summary["metrics"]


def test_unknown_metric_and_missing_reference_are_refused_before_sampling(tiny_checkpoint, image_dir, tmp_path,
                                                                          capsys):
    assert runner.main(_argv(tiny_checkpoint, image_dir, tmp_path, "--config.eval.metrics=('psnr','kid')")) == 2
    assert "kid" in capsys.readouterr().err
    missing = tmp_path / "missing.npz"
    assert runner.main(_argv(tiny_checkpoint, image_dir, tmp_path, f"--config.eval.fid_reference={missing}")) == 2
    assert f"FID statistics file not found: {missing}" in capsys.readouterr().err
    assert not (tmp_path / "ffhq_dps_sr4").exists()


def _small_features(images):
    """A stand-in for the Inception in the runner test: 6 smooth features per image, so that the 2048-d
    sqrtm (seconds) is not redone here; the Inception itself is checked against pytorch-fid in test_fid."""
    pooled = jnp.mean(images.reshape(images.shape[0], 4, images.shape[1] // 4, 4, images.shape[2] // 4, 3), (2, 4))
    return jnp.concatenate([pooled.mean((1, 2)), pooled.std((1, 2))], -1)


@pytest.fixture(scope="module")
def metric_weights(tmp_path_factory):
    """Random LPIPS weights saved as convert.lpips would, and a converted-Inception directory marker."""
    d = tmp_path_factory.mktemp("metric_weights")
    x = jnp.zeros((1, 32, 32, 3))
    lpips_params = LPIPS().init(jax.random.PRNGKey(0), x, x)["params"]
    lpips_params = jax.tree.map(jnp.abs, lpips_params)  # lin weights are non-negative, as trained ones
    save_params(d / "lpips", lpips_params, {"model": LPIPS_NAME})
    save_params(d / "inception", {"unused": np.zeros(1, np.float32)}, {"model": INCEPTION_NAME})
    return d


def test_lpips_per_image_and_fid_in_summary(tiny_checkpoint, image_dir, metric_weights, tmp_path, capsys,
                                            monkeypatch):
    import jaxinv.metrics

    monkeypatch.setattr(jaxinv.metrics, "load_inception", lambda directory: _small_features)
    argv = _argv(tiny_checkpoint, image_dir, tmp_path, f"--config.eval.lpips_dir={metric_weights / 'lpips'}",
                 f"--config.eval.inception_dir={metric_weights / 'inception'}")
    assert runner.main(argv) == 0
    assert "not computed" not in capsys.readouterr().err
    run_dir = _run_dir(tmp_path)
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    names = [r["name"] for r in rows]
    label = np.stack([_png01(os.path.join(run_dir, "label", f"{n}.png")) for n in names])
    recon = np.stack([_png01(os.path.join(run_dir, "recon", f"{n}.png")) for n in names])
    want = np.asarray(load_lpips(metric_weights / "lpips")(2 * label - 1, 2 * recon - 1))
    np.testing.assert_allclose([float(r["lpips"]) for r in rows], want, rtol=1e-5)
    assert np.all(want > 0)
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["metrics"]["lpips"]["mean"] == pytest.approx(want.mean(), rel=1e-5)

    recon_stats = activation_statistics(np.asarray(_small_features(jnp.asarray(recon))))
    label_stats = activation_statistics(np.asarray(_small_features(jnp.asarray(label))))
    fid = summary["fid"]
    assert fid["n"] == 3 and fid["reference"] == "label/" and "2048" in fid["note"]
    assert fid["value"] == pytest.approx(frechet_distance(*recon_stats, *label_stats), rel=1e-4)
    saved = load_statistics(os.path.join(run_dir, "fid_stats_recon.npz"))
    np.testing.assert_allclose(saved[0], recon_stats[0], rtol=1e-5, atol=1e-6)

    # against a reference statistics file (pytorch-fid .npz): here the label statistics themselves
    save_statistics(tmp_path / "ref.npz", *label_stats)
    config = ConfigDict(json.load(open(os.path.join(run_dir, "config.json"))))
    config.eval.fid_reference = str(tmp_path / "ref.npz")
    against_file = set_metrics(run_dir, config, names)["fid"]
    assert against_file["reference"] == str(tmp_path / "ref.npz")
    assert against_file["value"] == pytest.approx(fid["value"], rel=1e-6)
    config.eval.fid_reference = str(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        set_metrics(run_dir, config, names)
