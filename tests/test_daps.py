"""DAPS: replays of the original `sampler.DAPS.sample` (Langevin and HMC; recorded draws) and its schedule."""
import argparse

import numpy as np
import pytest

from jaxinv.solvers.daps import daps_sigmas, daps_solver


def _args(fixtures_dir, name):
    return argparse.Namespace(fixture=str(fixtures_dir / "daps" / f"{name}.npz"),
                              spec=str(fixtures_dir / "daps" / f"{name}.json"),
                              checkpoint=str(fixtures_dir / "adm" / "adm_tiny_a.pt"),
                              model_config=str(fixtures_dir / "adm" / "adm_tiny_a_config.json"))


@pytest.mark.parametrize("name", ["daps_tiny_sr4", "daps_tiny_sr4_hmc"])
def test_replay_matches_original(fixtures_dir, name):
    from experiments.crosscheck import daps

    err, threshold = daps.run(_args(fixtures_dir, name))
    out = np.load(fixtures_dir / "daps" / f"{name}.npz")["out"]
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
