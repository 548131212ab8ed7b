"""The GPU kit (experiments.bench.gpu_kit) end to end on the CPU: the dry-run config through the same command
the lent GPU runs, its budget, kill and refusal paths, the wheel installation, and the goals it reports."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile

import pytest

from configs.bench import gpu_dry, gpu_quick
from experiments.bench import gpu_kit, gpu_kit_prep, kit_report, kit_smoke

# the quicker four of the six smoke checks (dps and spgd replay 100 and 8 x 5 steps: 30 s more on 2 cores)
QUICK_CHECKS = ('("adm:adm/adm_tiny_a","codps:codps/codps_plus_tiny_sr4","g2d2:g2d2/g2d2_inner_sr2",'
                '"daps:daps/daps_tiny_sr4")')


def has_deepinv() -> bool:
    try:
        import deepinv  # noqa: F401
    except ImportError:
        return False
    return True


def kit(tmp_path, *overrides, name="out"):
    """Runs the kit on the dry-run config with no wheels; returns (exit status, results.json, out dir)."""
    out, wheels = tmp_path / name, tmp_path / "no_wheels"
    wheels.mkdir(exist_ok=True)
    code = gpu_kit.main(["--out", str(out), "--config", "configs/bench/gpu_dry.py", "--wheels", str(wheels),
                         *overrides])
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else None
    return code, results, out


def test_dry_run_writes_every_section_s_results(tmp_path):
    code, results, out = kit(tmp_path, f"--config.smoke.checks={QUICK_CHECKS}")
    assert code == 0, results["problems"]
    assert sorted(p.name for p in out.iterdir()) == ["kit.log", "kit.png", "results.json", "rows.jsonl", "table.md"]
    assert [s["status"] for s in results["sections"]] == ["done"] * 4
    rows = results["rows"]
    checks = [r for r in rows if r["what"] == "crosscheck"]
    if kit_smoke.fixtures_root(gpu_dry.get_config())[0] is None:
        assert not checks and any("no fixtures folder" in p["reason"] for p in results["problems"])
    else:
        assert sorted(r["check"] for r in checks) == ["adm", "codps", "daps", "g2d2"]
        assert all(r["passed"] and r["max_abs_err"] < r["threshold"] for r in checks)
    for case, dtype, batch in (("ffhq_10m@32", "float32", 2), ("imagenet_256_uncond@32", "bfloat16", 1)):
        unet = {r["what"]: r for r in rows if r.get("case") == case and r["impl"] == "jax"}
        assert set(unet) == {"unet_forward", "unet_forward_vjp"}
        for r in unet.values():
            assert r["dtype"] == dtype and r["batch"] == batch and r["wall_s"] > 0 and r["compile_s"] > 0
            assert r["memory_mb"] > 0 and r["mfu"] > 0 and r["images_per_s"] == pytest.approx(batch / r["wall_s"])
        assert unet["unet_forward_vjp"]["memory_mb"] > unet["unet_forward"]["memory_mb"]
    for solver, nfe, paper_nfe in (("dps", 2, 1000), ("codps_plus", 2, 100)):
        (r,) = [r for r in rows if r["what"] == solver and r["impl"] == "jax scan"]
        assert (r["steps"], r["nfe"], r["paper_nfe"]) == (2, nfe, paper_nfe)
        assert r["paper_s_per_image"] == pytest.approx(r["wall_s"] / nfe * paper_nfe / 2)
    (g2d2,) = [r for r in rows if r["what"] == "g2d2_outer_step"]
    assert g2d2["num_inner"] == 2 and g2d2["paper_s_per_image"] == pytest.approx(100 * g2d2["wall_s"])
    assert g2d2["memory_mb"] > 0
    # no torch peer for the shrunk layouts, and the reason is recorded
    assert not [r for r in rows if r["impl"] in ("torch", "deepinv DPS")]
    assert [p["section"] for p in results["problems"] if p["label"] == "torch peer"] == ["case_float32", "large"]
    table = (out / "table.md").read_text()
    for heading in ("## Goals", "## UNet and samplers", "## G2D2", "## Not measured", "## Sections"):
        assert heading in table
    assert (out / "kit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert {e["section"] for e in events if e["kind"] == "environment"} == {"smoke", "case_float32", "large", "g2d2"}


def test_a_section_past_its_budget_is_killed_and_the_report_still_written(tmp_path):
    code, results, _ = kit(tmp_path, '--config.sections=("g2d2",)', "--config.budgets.g2d2=1",
                           "--config.min_left_s=0.5", "--config.grace_s=0")
    assert code == 1
    assert results["sections"][0]["status"] == "killed"
    assert [p["kind"] for p in results["problems"]] == ["killed"]


def test_no_measurement_starts_with_too_little_budget_left(tmp_path):
    code, results, _ = kit(tmp_path, '--config.sections=("case_float32",)', "--config.budgets.case_float32=60",
                           "--config.min_left_s=59", "--config.grace_s=60")
    assert code == 0 and results["sections"][0]["status"] == "done" and not results["rows"]
    skipped = [p["label"] for p in results["problems"] if p["kind"] == "skipped"]
    assert {"unet b2", "dps b2", "codps_plus b2"} <= set(skipped)
    # the whole kit's budget: a section with less than min_left_s of it left does not start
    code, results, _ = kit(tmp_path, "--config.total_budget_s=1", name="out2")
    assert code == 0 and {s["status"] for s in results["sections"]} == {"skipped"}


@pytest.mark.parametrize("argv, message", [
    (["--config", "configs/bench/gpu_dry.py"], "the following arguments are required: --out"),
    (["--out", "OUT", "--config", "configs/bench/gpu_dry.py", "--frobnicate"], "unrecognized arguments"),
    (["--out", "OUT", "--config", "configs/bench/gpu_dry.py", '--config.sections=("gpu",)'], "config.sections"),
    (["--out", "OUT", "--config", "configs/bench/gpu_dry.py", '--config.smoke.checks=("dps",)'], "CHECK:RECORDING"),
    (["--out", "OUT", "--config", "configs/bench/gpu_dry.py", "--wheels", "/no/such/folder"], "no such folder"),
])
def test_bad_input_is_one_message_and_status_2(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    if "--wheels" not in argv:
        (tmp_path / "no_wheels").mkdir()
        argv += ["--wheels", str(tmp_path / "no_wheels")]
    assert gpu_kit.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_prep_refuses_an_unknown_flag(capsys):
    assert gpu_kit_prep.main(["--frobnicate"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_non_empty_output_folder_is_refused(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text("{}")
    assert gpu_kit.main(["--out", str(tmp_path / "out"), "--config", "configs/bench/gpu_dry.py"]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "out" / "results.json").read_text() == "{}"


def test_carried_wheels_are_installed_and_seen_by_the_sections(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "kitprobe-0.1-py3-none-any.whl", "w") as whl:
        whl.writestr("kitprobe.py", "ANSWER = 42\n")
        whl.writestr("kitprobe-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: kitprobe\nVersion: 0.1\n")
        whl.writestr("kitprobe-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                     "Tag: py3-none-any\n")
        whl.writestr("kitprobe-0.1.dist-info/RECORD", "")
    lines = []
    install = gpu_kit.install_wheels(str(wheels), lines.append)
    try:
        assert install["wheels"] == ["kitprobe-0.1-py3-none-any.whl"] and "installed 1 wheels" in lines[-1]
        probe = subprocess.run([sys.executable, "-c", "import kitprobe, experiments; print(kitprobe.ANSWER)"],
                               env=gpu_kit.child_env(install["site"]), cwd=tmp_path, capture_output=True, text=True)
        assert probe.stdout.strip() == "42", probe.stderr
    finally:
        sys.path.remove(install["site"])


def test_prep_copies_what_the_smoke_checks_read(fixtures_dir, tmp_path):
    checks = gpu_quick.get_config().smoke.checks
    files = gpu_kit_prep.copy_fixtures(checks, str(fixtures_dir), str(tmp_path))
    assert {"adm/adm_tiny_a.pt", "vq/vqvae.pt", "dps/dps_tiny_sr4.npz", "daps/daps_tiny_sr4.json"} <= set(files)
    for spec in checks:    # every path a check's arguments name was copied
        args = vars(kit_smoke.check_args(spec, str(tmp_path)))
        for value in args.values():
            if isinstance(value, str):
                assert os.path.exists(value), (spec, value)
    # what travels (the repo and the carried folder) fits the device tool's 64 MiB
    assert gpu_kit_prep.folder_bytes(str(tmp_path)) / 2**20 < 20
    assert gpu_kit_prep.travelling_bytes() / 2**20 < 40
    assert {w.split("==")[0] for w in gpu_kit_prep.WHEELS} == {"ml_collections", "deepinv", "natsort"}


def test_goals_from_rows():
    config = gpu_quick.get_config()
    base = dict(case=config.case, dtype="bfloat16", batch=8)
    rows = [dict(base, what="dps", impl="jax scan", s_per_nfe=0.02, mfu=0.4, memory_mb=900.0),
            dict(base, what="dps", impl="deepinv DPS", s_per_nfe=0.08, memory_mb=1000.0),
            dict(base, what="unet_forward", impl="jax", memory_mb=500.0),
            dict(base, what="unet_forward", impl="torch", memory_mb=400.0),
            dict(base, what="crosscheck", precision="highest", passed=True),
            dict(base, what="crosscheck", precision="default", passed=False)]
    speed, mfu, memory, checks = kit_report.goals(rows, config)
    assert speed["value"] == pytest.approx(4.0) and speed["met"]
    assert mfu["value"] == 0.4 and mfu["met"]
    assert memory["value"] == pytest.approx(1.25) and memory["met"] is False and len(memory["pairs"]) == 2
    assert (checks["value"], checks["target"], checks["met"]) == (1, 1, True)   # the float32 (highest) ones
    assert [g["met"] for g in kit_report.goals([], config)] == [None] * 4


def test_smoke_check_names():
    assert kit_smoke.check_files("adm:adm/adm_tiny_b") == ["adm/adm_tiny_b.pt", "adm/adm_tiny_b_config.json",
                                                           "adm/adm_tiny_b_io.npz"]
    assert kit_smoke.check_files("g2d2:g2d2/x")[-2:] == list(kit_smoke.VQVAE)
    args = kit_smoke.check_args("spgd:spgd/spgd_tiny_sr4", "F")
    assert args == argparse.Namespace(fixture="F/spgd/spgd_tiny_sr4.npz", spec="F/spgd/spgd_tiny_sr4.json",
                                      checkpoint="F/adm/adm_tiny_a.pt", model_config="F/adm/adm_tiny_a_config.json")
    with pytest.raises(ValueError, match="CHECK:RECORDING"):
        kit_smoke.parse_check("ddrm:ddrm/x")


@pytest.mark.skipif(not has_deepinv(), reason="needs deepinv (the `ref` extra)")
def test_the_peer_config_keeps_the_layouts_deepinv_builds():
    config = gpu_dry.get_config("peer")
    assert not config.adm_overrides and not config.large.adm_overrides
    from experiments.bench.kit_case import why_no_peer

    assert why_no_peer(config, "ffhq_10m", {}) is None
