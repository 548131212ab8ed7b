"""Replays of the original DPS / CoDPS loops (recorded x_T and noise) through the crosscheck modules."""
import argparse

import pytest

FIXTURES = [("dps", "dps", "dps_tiny_sr4"), ("dps", "dps", "dps_tiny_motion"),
            ("dps", "dps", "dps_tiny_inpaint_random"), ("dps", "dps", "dps_tiny_phase"),
            ("codps", "codps", "codps_plus_tiny_sr4"), ("codps", "codps", "codps_tiny_inpaint_random")]


@pytest.mark.parametrize("check,sub,name", FIXTURES, ids=[f[2] for f in FIXTURES])
def test_replay_matches_original(fixtures_dir, check, sub, name):
    import importlib

    module = importlib.import_module(f"experiments.crosscheck.{check}")
    args = argparse.Namespace(fixture=str(fixtures_dir / sub / f"{name}.npz"),
                              spec=str(fixtures_dir / sub / f"{name}.json"),
                              checkpoint=str(fixtures_dir / "adm" / "adm_tiny_a.pt"),
                              model_config=str(fixtures_dir / "adm" / "adm_tiny_a_config.json"))
    err, threshold = module.run(args)
    assert threshold == 1e-3
    assert err < threshold, f"{name}: max_abs_err {err}"


def test_replay_rejects_other_methods(fixtures_dir):
    from experiments.crosscheck import codps, dps

    args = argparse.Namespace(fixture=str(fixtures_dir / "codps" / "codps_plus_tiny_sr4.npz"),
                              spec=str(fixtures_dir / "codps" / "codps_plus_tiny_sr4.json"),
                              checkpoint=str(fixtures_dir / "adm" / "adm_tiny_a.pt"),
                              model_config=str(fixtures_dir / "adm" / "adm_tiny_a_config.json"))
    with pytest.raises(ValueError, match="not a DPS fixture"):
        dps.run(args)
    assert codps.HELP and dps.HELP
