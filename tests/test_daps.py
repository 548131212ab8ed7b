"""DAPS: replays of the original `sampler.DAPS.sample` (Langevin and HMC; recorded draws) and its schedule."""
import pathlib

import numpy as np
import pytest

from jaxinv.solvers.daps import daps_sigmas, daps_solver
from replays import replay_args


DATA = pathlib.Path(__file__).parent / "data" / "daps"




@pytest.mark.parametrize("name,held_out", [("daps_tiny_sr4", False), ("daps_tiny_sr4_hmc", False),
                                           ("daps_tiny_blur_hmc_b2", True), ("daps_tiny_blur_langevin_b2", True)])
def test_replay_matches_original(fixtures_dir, name, held_out):
    """The shared recordings (SR x4) and two made here (tests/data/daps: Gaussian blur, batch 2)."""
    from experiments.crosscheck import daps

    folder = DATA if held_out else fixtures_dir / "daps"
    err, threshold = daps.run(replay_args(fixtures_dir, folder / name))
    out = np.load(folder / f"{name}.npz")["out"]
    assert threshold == pytest.approx(1e-4 * np.abs(out).max())
    assert err < threshold, err


def test_annealing_sigmas_are_the_codes(fixtures_dir):
    """N + 1 poly-7 points with the last replaced by 0 (the fixture's `annealing_sigma_steps`)."""
    recorded = np.load(fixtures_dir / "daps" / "daps_tiny_sr4.npz")["annealing_sigma_steps"]
    np.testing.assert_allclose(daps_sigmas(8, 20.0, 0.1), recorded, rtol=1e-6)
    assert daps_sigmas(3, 10.0, 1.0)[-1] == 0 and len(daps_sigmas(3, 10.0, 1.0)) == 4


def test_unknown_mcmc_is_refused():
    with pytest.raises(ValueError, match="mc_algo 'mala'"):
        daps_solver(lambda x, s: x, None, None, mc_algo="mala")
