"""DDRM: replays of the original `efficient_generalized_steps` (recorded noise) and its step sequence."""
import pathlib

import numpy as np
import pytest

from jaxinv.solvers.ddrm import ddrm_sequence
from replays import replay_args


DATA = pathlib.Path(__file__).parent / "data" / "ddrm"




@pytest.mark.parametrize("name,threshold", [("ddrm_tiny_sr4", 1e-4), ("ddrm_tiny_deblur_gauss", 3e-4)])
def test_replay_matches_original(fixtures_dir, name, threshold):
    """Thresholds relative to max|out| (experiments/crosscheck/ddrm.py says why deblurring's is wider)."""
    from experiments.crosscheck import ddrm

    err, got_threshold = ddrm.run(replay_args(fixtures_dir, fixtures_dir / "ddrm" / name))
    out = np.load(fixtures_dir / "ddrm" / f"{name}.npz")["out"]
    assert got_threshold == pytest.approx(threshold * np.abs(out).max())
    assert err < got_threshold, f"{name}: max_abs_err {err}"


def test_replay_matches_a_held_out_recording(fixtures_dir):
    """tests/data/ddrm: eta_b 0.7, eta 0.5, sr2, 8 steps at skip 142 (how it was made: its README)."""
    from experiments.crosscheck import ddrm

    err, threshold = ddrm.run(replay_args(fixtures_dir, DATA / "ddrm_tiny_sr2_etab"))
    assert threshold == pytest.approx(1e-4 * np.abs(np.load(DATA / "ddrm_tiny_sr2_etab.npz")["out"]).max())
    assert err < threshold, err


def test_step_sequence_is_the_codes():
    # seq = range(0, 1000, 1000 // N), visited from the top, the last step to t = -1 (abar = 1)
    pairs = ddrm_sequence(1000, 8)
    np.testing.assert_array_equal(pairs[:, 0], [875, 750, 625, 500, 375, 250, 125, 0])
    np.testing.assert_array_equal(pairs[:, 1], [750, 625, 500, 375, 250, 125, 0, -1])
    assert len(ddrm_sequence(1000, 3)) == 4          # 1000 // 3 = 333: 0, 333, 666, 999


def test_operators_without_the_svd_are_refused():
    from jaxinv.operators import make_operator
    from jaxinv.solvers.ddrm import ddrm_alphas, ddrm_solver

    # circular motion blur: a spectral view (A A^T), but no SVD of A (its kernel is not centro-symmetric)
    op = make_operator("motion_blur", (8, 8, 3), kernel_size=61, intensity=0.5, seed=0, padding="circular")
    assert op.spectral() is not None
    with pytest.raises(ValueError, match=r"DDRM needs .*full SVD.*block_average.*gaussian_blur \(padding='circular', "
                                         r"centro-symmetric kernel\)"):
        ddrm_solver(lambda x, t: x, ddrm_alphas(), op, np.zeros((8, 8, 3)), 0.1)
