"""Replays of the original DPS / CoDPS loops (recorded x_T and noise) through the crosscheck modules."""
import argparse

import pytest

FIXTURES = [("dps", "dps", "dps_tiny_sr4"), ("dps", "dps", "dps_tiny_motion"),
            ("dps", "dps", "dps_tiny_inpaint_random"), ("dps", "dps", "dps_tiny_phase"),
            ("codps", "codps", "codps_plus_tiny_sr4"), ("codps", "codps", "codps_tiny_inpaint_random")]


def _args(fixtures_dir, sub, name):
    return argparse.Namespace(fixture=str(fixtures_dir / sub / f"{name}.npz"),
                              spec=str(fixtures_dir / sub / f"{name}.json"),
                              checkpoint=str(fixtures_dir / "adm" / "adm_tiny_a.pt"),
                              model_config=str(fixtures_dir / "adm" / "adm_tiny_a_config.json"))


@pytest.mark.parametrize("check,sub,name", FIXTURES, ids=[f[2] for f in FIXTURES])
def test_replay_matches_original(fixtures_dir, check, sub, name):
    import importlib

    module = importlib.import_module(f"experiments.crosscheck.{check}")
    err, threshold = module.run(_args(fixtures_dir, sub, name))
    assert threshold == 1e-3
    assert err < threshold, f"{name}: max_abs_err {err}"


def test_dps_replay_takes_the_recordings_side_at_clamp_near_ties(fixtures_dir):
    """A machine whose rounding puts the nearest clamp near tie of dps_tiny_phase on the other side
    misses the recording (the clamp's derivative jumps there); trying both sides at the near ties
    finds the recording's and reproduces `out` again."""
    import numpy as np

    from experiments.crosscheck import dps

    replay = dps.Replay(_args(fixtures_dir, "dps", "dps_tiny_phase"), dps.dps_solver_of_spec)
    ties = dps.near_ties(replay)
    assert 1 <= len(ties) <= dps.NEAR_TIES
    other_machine = np.zeros((replay.schedule.num_steps, *replay.x_T.shape), np.float32)
    other_machine[tuple(ties[0])] = 1.0
    choices, errors = dps.errors_over_clamp_sides(replay, ties, base=other_machine)
    assert errors[0] > dps.THRESHOLD                     # choice 0: the other machine's sides
    assert errors.min() < dps.THRESHOLD and choices[errors.argmin()][0]


def test_replay_rejects_other_methods(fixtures_dir):
    from experiments.crosscheck import codps, dps

    with pytest.raises(ValueError, match="not a DPS fixture"):
        dps.run(_args(fixtures_dir, "codps", "codps_plus_tiny_sr4"))
    assert codps.HELP and dps.HELP
