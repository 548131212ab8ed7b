"""experiments.run end to end on a tiny random ADM checkpoint and three 32x32 images."""
from __future__ import annotations

import csv
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from experiments import run as runner

PRESET = "configs/ffhq/dps_sr4.py"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        smooth = np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((4, 4, 1)))
        Image.fromarray(smooth.astype(np.uint8)).save(d / f"{name}.png")
    return d


def _argv(ckpt, images, out, *extra):
    return ["run", f"--config={PRESET}", f"--config.model.checkpoint_dir={ckpt}", f"--config.data.path={images}",
            "--config.data.image_size=32", "--config.data.batch_size=2", "--config.diffusion.respacing=4",
            f"--config.output.root={out}", *extra]


def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _png(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0


def test_run_writes_outputs_and_metrics_equal_skimage(tiny_checkpoint, image_dir, tmp_path, capsys):
    assert runner.main(_argv(tiny_checkpoint, image_dir, tmp_path)) == 0
    (run_dir,) = [os.path.join(r, d) for r, ds, _ in os.walk(tmp_path / "ffhq_dps_sr4") for d in ds][:1]
    for sub in ("label", "measurement", "recon"):
        assert sorted(os.listdir(os.path.join(run_dir, sub))) == ["a.png", "b.png", "c.png"]
    assert os.path.isfile(os.path.join(run_dir, "grid.png"))
    grid = Image.open(os.path.join(run_dir, "grid.png"))
    assert grid.size == (3 * 32 + 2 * 2, 3 * 32 + 2 * 2)
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    assert saved["solver"]["scale"] == 0.3 and saved["diffusion"]["respacing"] == "4"
    rows = _rows(run_dir)
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    for r in rows:
        label = _png(os.path.join(run_dir, "label", f"{r['name']}.png"))
        recon = _png(os.path.join(run_dir, "recon", f"{r['name']}.png"))
        assert float(r["psnr"]) == pytest.approx(peak_signal_noise_ratio(label, recon, data_range=1.0), abs=1e-3)
        ref_ssim = structural_similarity(label, recon, channel_axis=-1, data_range=1.0)
        assert float(r["ssim"]) == pytest.approx(ref_ssim, abs=1e-4)
        assert float(r["residual"]) > 0
        # the label PNG is the source image itself (8-bit round trip is exact)
        np.testing.assert_array_equal(label, _png(image_dir / f"{r['name']}.png"))
    # SR measurement shown 4x nearest-upsampled: constant 4x4 blocks
    shown = _png(os.path.join(run_dir, "measurement", "a.png"))
    np.testing.assert_array_equal(shown, np.kron(shown[::4, ::4], np.ones((4, 4, 1))))
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    psnrs = np.array([float(r["psnr"]) for r in rows])
    assert summary["metrics"]["psnr"]["mean"] == pytest.approx(psnrs.mean())
    assert summary["metrics"]["psnr"]["std"] == pytest.approx(psnrs.std())
    assert summary["lpips"].startswith("not computed") and summary["fid"].startswith("not computed")
    assert summary["num_images"] == 3 and summary["devices"] and summary["versions"]["jax"] == jax.__version__

    # a second run never reuses the directory
    assert runner.main(_argv(tiny_checkpoint, image_dir, tmp_path)) == 0
    assert len(os.listdir(tmp_path / "ffhq_dps_sr4")) == 2

    # resume: drop the last row and its recon; only that image is redone, giving the same numbers
    with open(os.path.join(run_dir, "metrics.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:2])
    os.remove(os.path.join(run_dir, "recon", "c.png"))
    mtime_a = os.path.getmtime(os.path.join(run_dir, "recon", "a.png"))
    # as a run directory written before `execution` existed: the missing group takes its default
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    del saved["execution"]
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(saved, f)
    assert runner.main(["run", f"--resume={run_dir}"]) == 0
    resumed = _rows(run_dir)
    assert [r["name"] for r in resumed] == ["a", "b", "c"]
    # c is redone in the same batch [c, c (padding)] by the same compiled program: bit for bit
    assert resumed[2] == rows[2]
    assert os.path.getmtime(os.path.join(run_dir, "recon", "a.png")) == mtime_a
    assert json.load(open(os.path.join(run_dir, "summary.json")))["timings"]["images_this_invocation"] == 1
    assert len(os.listdir(tmp_path / "ffhq_dps_sr4")) == 2
    # resuming with a different config is refused
    assert runner.main(_argv(tiny_checkpoint, image_dir, tmp_path, f"--resume={run_dir}",
                             "--config.solver.scale=0.9")) == 2
    assert "differs" in capsys.readouterr().err


def test_missing_checkpoint_prints_convert_command(image_dir, tmp_path, capsys):
    missing = tmp_path / "no_such_ckpt"
    assert runner.main(_argv(missing, image_dir, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"python -m convert.adm --checkpoint ffhq_10m.pt --model-config ffhq_10m --output {missing}" in err
    assert not (tmp_path / "ffhq_dps_sr4").exists()


def test_config_errors_come_first_as_one_line_with_status_2(tmp_path, capsys):
    """A bad solver, operator or misspelt field is reported before the (missing) data and weights."""
    nowhere = tmp_path / "nowhere"
    for flag, message in (("--config.solver.name=dsp", "unknown solver 'dsp'; registered: diffusion ["),
                          ("--config.operator.name=blurr", "unknown operator 'blurr'; registered operators: ["),
                          ("--config.solver.scal=0.5", 'Did you mean "scale" instead of "scal"?'),
                          ("--config.execution.loop=while", "unknown execution.loop 'while'")):
        assert runner.main(_argv(nowhere, nowhere, tmp_path, flag)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, (flag, err)
    assert runner.main(["run", "--config=configs/ffhq/dps_sr44.py"]) == 2
    assert "No such file or directory: 'configs/ffhq/dps_sr44.py'" in capsys.readouterr().err
    assert not (tmp_path / "ffhq_dps_sr4").exists()


def test_bad_data_folder(tiny_checkpoint, tmp_path, capsys):
    assert runner.main(_argv(tiny_checkpoint, tmp_path / "nowhere", tmp_path)) == 2
    assert "image folder not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.main(_argv(tiny_checkpoint, empty, tmp_path)) == 2
    assert "no images" in capsys.readouterr().err
    assert not (tmp_path / "ffhq_dps_sr4").exists()


def test_posterior_samples_mean_std_and_oracle(tiny_checkpoint, image_dir, tmp_path):
    argv = _argv(tiny_checkpoint, image_dir, tmp_path, "--num_samples=2", "--config.eval.oracle_best_of_n=True",
                 "--config.data.end=1", "--config.solver.name=codps_plus", "--config.diffusion.respacing=ddim3",
                 "--config.operator.name=gaussian_blur", "--config.solver.scale=0.05")
    # gaussian_blur needs its own params: give them through a ConfigDict-valued override of the preset
    argv = [a for a in argv if not a.startswith("--config.operator.name")]
    argv[1] = "--config=configs/ffhq/codps_plus_gaussian_deblur.py"
    assert runner.main(argv) == 0
    (run_dir,) = [os.path.join(tmp_path / "ffhq_codps_plus_gaussian_deblur", d)
                  for d in os.listdir(tmp_path / "ffhq_codps_plus_gaussian_deblur")]
    (row,) = _rows(run_dir)
    samples = [_png(os.path.join(run_dir, "samples", f"a_{j}.png")) for j in range(2)]
    label = _png(os.path.join(run_dir, "label", "a.png"))
    psnrs = [peak_signal_noise_ratio(label, s, data_range=1.0) for s in samples]
    assert int(row["oracle_pick"]) == int(np.argmax(psnrs))
    assert float(row["psnr"]) == pytest.approx(max(psnrs), abs=1e-3)
    np.testing.assert_array_equal(_png(os.path.join(run_dir, "recon", "a.png")), samples[int(np.argmax(psnrs))])
    # the posterior mean and std are those of the images as saved (clipped to the image range), so the
    # mean's error is at most the samples' mean squared error (Jensen)
    mean, std = (_png(os.path.join(run_dir, sub, "a.png")) for sub in ("mean", "std"))
    assert np.abs(mean - np.mean(samples, 0)).max() <= 1.01 / 255
    assert np.abs(std - np.minimum(2 * np.std(samples, 0), 1)).max() <= 2.01 / 255   # the PNG shows std on [-1, 1]
    sample_mse = np.mean([np.mean((s - label) ** 2) for s in samples])
    assert float(row["psnr_mean"]) >= -10 * np.log10(sample_mse) - 0.05
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert "oracle" in summary["recon"] and "NOT" in summary["recon"]


def test_each_operator_shows_its_measurement():
    from jaxinv.operators import make_operator

    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    op = make_operator("inpainting", (32, 32, 3), mask_type="random", mask_prob_range=(0.5, 0.5), seed=1)
    noisy = np.asarray(op.forward(x)) + 0.1
    mask = np.asarray(op.mask)
    np.testing.assert_allclose(op.show(noisy), np.clip(noisy * mask, -1, 1))
    assert (op.show(noisy)[mask[..., 0] == 0] == 0).all()
    for name in ("super_resolution", "codps_super_resolution"):     # each low-resolution pixel as a 4x4 block
        sr = make_operator(name, (32, 32, 3), scale=4)
        y = np.asarray(sr.forward(x))
        np.testing.assert_array_equal(sr.show(y), np.clip(np.kron(y, np.ones((4, 4, 1))), -1, 1))
    blur = make_operator("gaussian_blur", (32, 32, 3), kernel_size=5, sigma=1.0)
    np.testing.assert_array_equal(blur.show(2 * x), np.clip(2 * x, -1, 1))
    pr = make_operator("phase_retrieval", (32, 32, 3), oversample=2.0)
    positive = np.abs(x)  # a positive image: the DC term dominates |F|
    shown = pr.show(np.asarray(pr.forward(positive)))
    assert shown.shape == x.shape and shown.min() >= -1 and shown.max() <= 1
    # log-magnitude, min-max normalised: the DC peak of |F| is the brightest pixel, near the centre
    peak = np.unravel_index(np.argmax(shown[..., 0]), shown.shape[:2])
    assert abs(peak[0] - 16) <= 1 and abs(peak[1] - 16) <= 1


def test_diverging_sampler_is_an_error_naming_the_images(tiny_checkpoint, image_dir, tmp_path, capsys):
    """DPS with an absurd step size overflows; the run stops with a DivergenceError, not NaN images."""
    argv = _argv(tiny_checkpoint, image_dir, tmp_path, "--config.solver.scale=1e38", "--config.data.end=2")
    assert runner.main(argv) == 2
    err = capsys.readouterr().err
    assert "dps: NaN/inf in the samples of ['a', 'b']" in err and "solver.scale" in err


@pytest.mark.parametrize("loop", ["scan", "host"])
def test_a_bar_over_the_sampling_steps_of_each_batch(tiny_checkpoint, image_dir, tmp_path, monkeypatch, loop):
    """Both step loops move a step bar to its end and show a residual; `output.progress=False` has none."""
    import tqdm

    bars = []

    class Recording(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.postfixes = []
            bars.append(self)

        def set_postfix(self, **kwargs):
            self.postfixes.append(kwargs)
            super().set_postfix(**kwargs)

    monkeypatch.setattr(tqdm, "tqdm", Recording)
    argv = _argv(tiny_checkpoint, image_dir, tmp_path, f"--config.execution.loop={loop}", "--config.seed=7")
    assert runner.main(argv) == 0
    steps = [b for b in bars if b.unit == "step"]
    assert [(b.n, b.total) for b in steps] == [(4, 4), (4, 4)]          # 3 images in batches of 2
    residuals = [float(p["residual"]) for b in steps for p in b.postfixes]
    assert len(residuals) >= 2 and np.all(np.isfinite(residuals)) and min(residuals) > 0
    bars.clear()
    assert runner.main(argv + ["--config.output.progress=False"]) == 0
    assert [b.unit for b in bars] == ["img"]
