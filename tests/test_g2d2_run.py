"""`python -m experiments.g2d2` end to end on a pipeline converted from the tiny fixture components."""
import csv
import json

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from convert.torch_io import load_state_dict
from convert.vq_diffusion import main as convert_main
from experiments import g2d2 as runner

FAST = ["--config.solver.num_steps=2", "--config.solver.num_inner=3", "--config.operator.params.scale=2"]


@pytest.fixture(scope="module")
def pipeline(fixtures_dir, tmp_path_factory):
    from test_vq_diffusion import _fake_pipeline

    d = fixtures_dir / "vq"
    root = tmp_path_factory.mktemp("g2d2_run")
    _fake_pipeline(dict(dir=d, io=dict(np.load(d / "io.npz")), tr_sd=load_state_dict(d / "transformer.pt")), root / "pipe")
    assert convert_main(["--pipeline", str(root / "pipe"), "--output", str(root / "converted")]) == 0
    return root


def _captions(root):
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"img{k}.png")
    path = root / "captions.csv"
    path.write_text("image_path,caption\nimg0.png,a photo of a face\nimg1.png,\n")
    return path


def test_run_writes_a_complete_run_directory(pipeline, capsys):
    csv_path = _captions(pipeline)
    argv = ["g2d2", "--config", "configs/g2d2/sr_ffhq.py", f"--config.pipeline_dir={pipeline / 'converted'}",
            f"--config.data.csv={csv_path}", f"--config.output_root={pipeline / 'runs'}", *FAST]
    assert runner.main(argv) == 0
    run_dir = pipeline / "runs" / "g2d2_sr_ffhq"
    (run_dir,) = list(run_dir.iterdir())
    names = ["00000_img0", "00001_img1"]
    for sub in ("label", "measurement", "recon"):
        assert sorted(p.stem for p in (run_dir / sub).iterdir()) == names
    assert Image.open(run_dir / "recon" / "00000_img0.png").size == (16, 16)
    assert (run_dir / "grid.png").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["solver"]["num_steps"] == 2 and config["operator"]["params"]["scale"] == 2
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == names
    # the empty caption falls back to the FFHQ preset prompt
    assert [r["prompt"] for r in rows] == ["a photo of a face", "a high-quality headshot of a person"]
    for r in rows:
        label = np.asarray(Image.open(run_dir / "label" / f"{r['name']}.png"))
        recon = np.asarray(Image.open(run_dir / "recon" / f"{r['name']}.png"))
        assert float(r["psnr"]) == pytest.approx(peak_signal_noise_ratio(label, recon, data_range=255), abs=1e-3)
    summary = json.loads((run_dir / "summary.json").read_text())
    psnrs = [float(r["psnr"]) for r in rows]
    assert summary["metrics"]["psnr"]["mean"] == pytest.approx(np.mean(psnrs), abs=1e-9)
    assert summary["image_shape"] == [16, 16, 3] and summary["latent_grid"] == [8, 8]
    assert "not computed" in summary["lpips"] and summary["devices"]


def test_missing_pipeline_names_the_convert_command(tmp_path, capsys):
    missing = tmp_path / "nope"
    argv = ["g2d2", "--config", "configs/g2d2/gblur_imagenet.py", f"--config.pipeline_dir={missing}"]
    assert runner.main(argv) == 2
    err = capsys.readouterr().err
    assert "python -m convert.vq_diffusion --pipeline" in err and f"--output {missing}" in err


def test_empty_caption_with_a_label_template_is_refused():
    with pytest.raises(ValueError, match="needs a label"):
        runner.prompt_for("", "a photo of {label}", "00003_x")
    assert runner.prompt_for("a photo of tench, Tinca tinca", "a photo of {label}", "x") == "a photo of tench, Tinca tinca"
