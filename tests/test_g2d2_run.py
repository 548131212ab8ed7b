"""G2D2 through `python -m experiments.run` end to end on a pipeline converted from the tiny fixture components."""
import csv
import json

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from convert.torch_io import load_state_dict
from convert.vq_diffusion import main as convert_main
from experiments import run as runner
from jaxinv.solvers.g2d2 import prompt_for

FAST = ["--config.solver.g2d2.num_steps=2", "--config.solver.g2d2.num_inner=3", "--config.operator.params.scale=2",
        "--config.data.image_size=16", "--config.eval.metrics=('psnr','ssim')"]
NAMES = ["00000_img0", "00001_img1", "00002_img2"]


@pytest.fixture(scope="module")
def pipeline(fixtures_dir, tmp_path_factory):
    from test_vq_diffusion import _fake_pipeline

    d = fixtures_dir / "vq"
    root = tmp_path_factory.mktemp("g2d2_run")
    _fake_pipeline(dict(dir=d, io=dict(np.load(d / "io.npz")), tr_sd=load_state_dict(d / "transformer.pt")), root / "pipe")
    assert convert_main(["--pipeline", str(root / "pipe"), "--output", str(root / "converted")]) == 0
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"img{k}.png")
    (root / "captions.csv").write_text("image_path,caption\nimg0.png,a photo of a face\nimg1.png,\nimg2.png,a face\n")
    return root


def _argv(root, out, *extra):
    return ["run", "--config", "configs/g2d2/sr_ffhq.py", f"--config.model.checkpoint_dir={root / 'converted'}",
            f"--config.data.path={root / 'captions.csv'}", f"--config.output.root={out}", *FAST, *extra]


def _rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_run_writes_the_run_directory_of_every_method(pipeline, tmp_path):
    """Batches of 2 (the last padded), K = 2 samples: the outputs of every method, the prompt per image."""
    assert runner.main(_argv(pipeline, tmp_path, "--config.data.batch_size=2", "--num_samples=2")) == 0
    (run_dir,) = list((tmp_path / "g2d2_sr_ffhq").iterdir())
    for sub in ("label", "measurement", "recon", "mean", "std"):
        assert sorted(p.stem for p in (run_dir / sub).iterdir()) == NAMES
    assert len(list((run_dir / "samples").iterdir())) == 6
    assert Image.open(run_dir / "recon" / "00000_img0.png").size == (16, 16)
    assert (run_dir / "grid.png").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["solver"]["g2d2"]["num_steps"] == 2 and config["operator"]["params"]["scale"] == 2
    rows = _rows(run_dir)
    assert [r["name"] for r in rows] == NAMES
    # the empty caption falls back to the FFHQ preset prompt
    assert [r["prompt"] for r in rows] == ["a photo of a face", "a high-quality headshot of a person", "a face"]
    for r in rows:
        label = np.asarray(Image.open(run_dir / "label" / f"{r['name']}.png"))
        recon = np.asarray(Image.open(run_dir / "recon" / f"{r['name']}.png"))
        assert float(r["psnr"]) == pytest.approx(peak_signal_noise_ratio(label, recon, data_range=255), abs=1e-3)
        assert float(r["residual"]) > 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["psnr"]["mean"] == pytest.approx(np.mean([float(r["psnr"]) for r in rows]), abs=1e-9)
    assert summary["model"] == {"image_shape": [16, 16, 3], "latent_grid": [8, 8]}
    assert summary["num_samples"] == 2 and summary["execution"]["loop"] == "scan"


def test_missing_pipeline_names_the_convert_command(pipeline, tmp_path, capsys):
    missing = tmp_path / "nope"
    argv = ["run", "--config", "configs/g2d2/gblur_imagenet.py", f"--config.model.checkpoint_dir={missing}",
            f"--config.data.path={pipeline / 'captions.csv'}", f"--config.output.root={tmp_path}"]
    assert runner.main(argv) == 2
    err = capsys.readouterr().err
    assert "python -m convert.vq_diffusion --pipeline" in err and f"--output {missing}" in err
    assert "Traceback" not in err and not (tmp_path / "g2d2_gblur_imagenet").exists()


def test_bad_g2d2_settings_are_refused_before_the_data(tmp_path, capsys):
    argv = ["run", "--config", "configs/g2d2/sr_ffhq.py", "--config.solver.g2d2.posterior=star",
            f"--config.data.path={tmp_path / 'none.csv'}"]
    assert runner.main(argv) == 2
    assert "posterior must be one of" in capsys.readouterr().err
    assert runner.main(argv[:3] + ["--config.execution.loop=host"]) == 2
    assert "one lax.scan" in capsys.readouterr().err
    from experiments import sweep

    assert sweep.main(["sweep", *argv[1:3], f"--config.data.path={tmp_path / 'none.csv'}"]) == 2
    assert "network of its own" in capsys.readouterr().err


def test_empty_caption_with_a_label_template_is_refused():
    with pytest.raises(ValueError, match="needs a label"):
        prompt_for("", "a photo of {label}", "00003_x")
    assert prompt_for("a photo of tench, Tinca tinca", "a photo of {label}", "x") == "a photo of tench, Tinca tinca"


def test_resume_and_four_devices_give_the_samples_of_batches_of_two(pipeline, tmp_path):
    """Two images in a batch of 2, then --resume adds the third; the same run split over 4 CPU devices
    (a subprocess: XLA_FLAGS precede jax; one image per device) gives each image's sample again."""
    import os
    import subprocess
    import sys

    assert runner.main(_argv(pipeline, tmp_path / "a", "--config.data.end=2", "--config.data.batch_size=2")) == 0
    (run_dir,) = list((tmp_path / "a" / "g2d2_sr_ffhq").iterdir())
    assert [r["name"] for r in _rows(run_dir)] == NAMES[:2]
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["end"] = None
    (run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    assert runner.main(["run", f"--resume={run_dir}"]) == 0
    assert [r["name"] for r in _rows(run_dir)] == NAMES

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=4")
    argv = _argv(pipeline, tmp_path / "four", "--config.data.batch_size=4")
    proc = subprocess.run([sys.executable, "-m", "experiments.run", *argv[1:]], cwd=root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (four,) = list((tmp_path / "four" / "g2d2_sr_ffhq").iterdir())
    summary = json.loads((four / "summary.json").read_text())
    assert summary["execution"]["num_devices"] == 4 and summary["execution"]["per_device_batch"] == 1
    for name in NAMES:
        a = np.asarray(Image.open(run_dir / "recon" / f"{name}.png"), np.int16)
        b = np.asarray(Image.open(four / "recon" / f"{name}.png"), np.int16)
        assert np.abs(a - b).max() <= 1, name     # an 8-bit level at most: two compiled batch sizes
