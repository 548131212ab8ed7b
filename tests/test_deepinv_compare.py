"""jaxinv's DDRM and DiffPIR replay deepinv 0.5's on the same weights and draws (`experiments.deepinv_compare`).

The comparisons run where deepinv is installed (the `ref` extra); without it the command must refuse
with one message.
"""
import importlib.util

import pytest

HAS_DEEPINV = importlib.util.find_spec("deepinv") is not None
needs_deepinv = pytest.mark.skipif(not HAS_DEEPINV, reason="deepinv is not installed (the `ref` extra)")
REPLAY = "deepinv's conventions (replay)"


@pytest.fixture(scope="module")
def compare():
    from experiments.deepinv_compare import compare

    return compare


@needs_deepinv
def test_ddrm_replays_deepinv_and_its_noise_scale_matters(compare):
    result = compare("ddrm", "inpainting", size=32, steps=10)
    variants, scale = result["variants"], result["max_abs_output"]
    assert variants[REPLAY][0] < 1e-4 * scale, variants
    # deepinv's std * randn / sqrt(2): drawing std * randn instead moves the output far beyond the replay error
    assert variants["noise std sigma_t, not sigma_t / sqrt(2)"][0] > 1e3 * variants[REPLAY][0]


@needs_deepinv
def test_diffpir_inpainting_replays_deepinv_with_twice_the_codes_rho(compare):
    result = compare("diffpir", "inpainting", size=32, steps=10)
    variants, scale = result["variants"], result["max_abs_output"]
    assert variants[REPLAY][0] < 1e-4 * scale, variants
    assert variants["the code's rho (lambda, not 2 lambda)"][0] > 1e3 * variants[REPLAY][0]


@needs_deepinv
def test_diffpir_sr_matches_deepinv_up_to_its_float32_prox(compare):
    """deepinv's FFT prox returns (z_hat - r) gamma with gamma = 1 / (2 rho) ~ 1e6 at the first steps: its float32
    answer moves when only that step runs in float64, and the replay is close to the float64 run."""
    result = compare("diffpir", "sr4", size=32, steps=10)
    variants, scale = result["variants"], result["max_abs_output"]
    float64 = variants["replay against deepinv with that float64 step"][0]
    assert float64 < 1e-3 * scale, variants
    assert variants["deepinv itself, data step in float64"][0] > 5 * float64
    assert variants[REPLAY][0] < 5e-2 * scale


@pytest.mark.skipif(HAS_DEEPINV, reason="checks the refusal where deepinv is missing")
def test_without_deepinv_the_command_refuses_with_one_message(capsys):
    from experiments.deepinv_compare import main

    assert main(["deepinv_compare", "--method", "ddrm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deepinv is not installed" in err[0] and "ref" in err[0]
