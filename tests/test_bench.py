"""The benchmark's PyTorch peer runs the same network: deepinv's DiffUNet, converted by convert.adm."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("deepinv")  # the `ref` extra

from configs.bench.defaults import get_config  # noqa: E402
from experiments.bench import jax_side, report, runner  # noqa: E402


@pytest.mark.parametrize("size", [32, 64])
def test_diffunet_and_admunet_agree_on_one_input(size):
    """Every Conv3x3 algorithm the CPU picks at these sizes (shifted, Winograd, direct) is in the path."""
    config = get_config()
    peer = runner.TorchPeer("ffhq_10m", size, config, "float32")
    module, params = jax_side.module_and_params("ffhq_10m", size, peer.state_dict)
    eq = runner.unet_equivalence(module, params, peer, size, seed=0)
    assert eq["shape"] == [1, size, size, 6]
    # the re-drawn zero-initialised layers make the output non-trivial
    assert eq["max_abs_output"] > 0.1
    assert eq["max_abs_err"] < 1e-5 * max(1.0, eq["max_abs_output"]), eq


def test_bad_case_and_solver_names():
    with pytest.raises(ValueError, match="LAYOUT@IMAGE_SIZE"):
        jax_side.parse_case("ffhq_10m")
    with pytest.raises(ValueError, match="unknown solver 'no_such_solver'; registered: diffusion"):
        jax_side.solver_config("no_such_solver", "ffhq_10m", 64, 4, 5, "float32")
    with pytest.raises(ValueError, match="'wiener' is a classical baseline"):
        jax_side.solver_config("wiener", "ffhq_10m", 64, 4, 5, "float32")
    from experiments.bench.torch_peer import build_diffunet

    with pytest.raises(ValueError, match="no 'tiny' layout"):
        build_diffunet("tiny")


def test_ratios_and_headline():
    rows = [dict(case="c@8", dtype="float32", batch=b, solver="dps", impl=impl, images_per_s=v, s_per_nfe=1 / v)
            for b in (1, 4) for impl, v in (("jax scan", 2.0 * b), ("jax host loop", 3.0 * b),
                                            ("deepinv DPS", 1.0 * b), ("torch DPS step loop", 4.0))]
    config = get_config()
    config.cases = ("c@8",)
    summary = report.summarize(rows, config, "jax host loop")
    assert summary["jax_over_torch_dps"] == pytest.approx(3.0) and summary["headline_impl"] == "jax host loop"
    assert report.summarize(rows, config, "jax scan")["jax_over_torch_dps"] == pytest.approx(2.0)
    loop = [t for t in summary["ratios"] if t["jax"] == "jax scan" and t["peer"] == "torch DPS step loop"
            and t["batch"] == 4]
    assert loop[0]["jax_over_torch"] == pytest.approx(2.0)
    host = [t for t in summary["ratios"] if t["jax"] == "jax host loop" and t["peer"] == "deepinv DPS" and t["batch"] == 4]
    assert host[0]["jax_over_torch"] == pytest.approx(3.0)
    assert not [t for t in summary["ratios"] if t["peer"].startswith("jax")]
    assert summary["jax_over_torch_step_loop"] == {"dps": pytest.approx(3.0)}   # 12 img/s over 4 at batch 4
    rows += [dict(case="c@8", dtype="float32", batch=4, solver=what, impl=impl, images_per_s=1.0, s_per_nfe=s)
             for impl, what, s in (("jax", "unet_forward", 0.25), ("jax", "unet_forward_vjp", 0.5),
                                   ("torch", "unet_forward", 0.1), ("torch", "unet_forward_vjp", 0.2))]
    breakdown = {b["impl"]: b for b in report.summarize(rows, config, "jax host loop")["dps_step_breakdown"]}
    assert set(breakdown) == {"jax host loop", "torch DPS step loop", "deepinv DPS"}
    assert breakdown["jax host loop"]["forward_s"] == 0.25 and breakdown["jax host loop"]["vjp_s"] == 0.25
    assert breakdown["jax host loop"]["rest_s"] == pytest.approx(1 / 12 - 0.5)
    assert breakdown["torch DPS step loop"]["rest_s"] == pytest.approx(1 / 4 - 0.2)
    assert np.isfinite([t["jax_over_torch"] for t in summary["ratios"]]).all()


def test_codps_plus_peer_gram_solve_is_exact():
    """The torch CoDPS+ step's FFT solve of (s^2 I + v A A^T) r equals the dense solve for deepinv's
    circular bicubic x4 downsampling."""
    import torch

    from experiments.bench import torch_peer

    size, s2, v = 16, 0.01, 0.3
    physics = torch_peer.sr_physics(size)
    lr = physics.A(torch.zeros(1, 3, size, size)).shape[-1]
    basis = torch.eye(lr * lr).reshape(lr * lr, 1, lr, lr).repeat(1, 3, 1, 1)
    gram = physics.A(physics.A_adjoint(basis))[:, 0].reshape(lr * lr, lr * lr).double()
    r = torch.randn(1, 3, lr, lr)
    dense = torch.linalg.solve(s2 * torch.eye(lr * lr, dtype=torch.float64) + v * gram, r[0, 0].reshape(-1).double())
    symbol = torch_peer.gram_symbol(physics, size)
    fast = torch.fft.ifft2(torch.fft.fft2(r) / (s2 + v * symbol)).real
    np.testing.assert_allclose(fast[0, 0].reshape(-1).numpy(), dense.numpy(), rtol=1e-4, atol=1e-5)


def test_loops_resolve_and_dedupe():
    config = get_config()
    assert runner.loops(config) == ["host", "scan"]      # "auto" is the host loop on the CPU
    config.loops = ("scan", "auto", "scan")
    assert runner.loops(config) == ["scan", "host"]
