"""DiffPIR: replays of the original deblurring script (recorded noise) and the pieces around its loop."""
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv.solvers.diffpir import diffpir_sequence
from replays import replay_args

DATA = pathlib.Path(__file__).parent / "data" / "diffpir"


@pytest.mark.parametrize("where,name,threshold", [
    ("shared", "diffpir_tiny_deblur", 5e-2),             # the script as shipped: float32 data step
    ("data", "diffpir_tiny_deblur_f64", 1e-3),            # the same inputs, its data step in float64
    ("data", "diffpir_tiny_deblur_inner", 1e-3),          # uniform steps, iter_num_U 2, eta 0.4, other kernel
])
def test_replay_matches_original(fixtures_dir, where, name, threshold):
    """Thresholds relative to max|out| (experiments/crosscheck/diffpir.py says why the float32 one is wider)."""
    from experiments.crosscheck import diffpir

    fixture = (fixtures_dir / "diffpir" if where == "shared" else DATA) / name
    err, got_threshold = diffpir.run(replay_args(fixtures_dir, fixture))
    assert got_threshold == pytest.approx(threshold * np.abs(np.load(fixture.with_suffix(".npz"))["out"]).max())
    assert err < got_threshold, f"{name}: max_abs_err {err}"


def test_timestep_sequences_are_the_scripts():
    # the scripts' seq for T = 1000: quad = sqrt(linspace(0, T^2, N)) with the last moved to T - 1,
    # uniform = range(0, T, T // N) + [T - 1], visited as T - 1 - seq
    np.testing.assert_array_equal(diffpir_sequence(1000, 10, "quad"), [999, 666, 528, 422, 333, 254, 183, 118, 57, 0])
    np.testing.assert_array_equal(diffpir_sequence(1000, 6, "uniform"), [999, 833, 667, 501, 335, 169, 0])
    with pytest.raises(ValueError, match="skip_type"):
        diffpir_sequence(1000, 10, "cubic")


def test_gradient_variant_for_operators_without_the_spectral_view():
    """Without `spectral()`, the data step is x0 + A^T (y - A x0) / (4 rho_t) for a linear A (the code's
    sub_1_analytic=False on [0, 1] images), followed by the same re-noising as the prox variant."""
    from jaxinv.diffusion import make_schedule
    from jaxinv.solvers.diffpir import diffpir_solver, diffpir_tables

    class Linear:                            # a MatrixOperator without the spectral view
        def __init__(self, m):
            self.m = m

        def forward(self, x):
            return (self.m @ x.reshape(-1)).reshape(-1, 1, 1)

    rng = np.random.default_rng(0)
    d, sigma, lam, zeta = 6, 0.1, 3.0, 0.4
    m = rng.standard_normal((3, d)).astype(np.float32)
    x, y = rng.standard_normal((d, 1, 1)).astype(np.float32), rng.standard_normal((3, 1, 1)).astype(np.float32)
    z = rng.standard_normal((1, 3, d, 1, 1)).astype(np.float32)
    tables = diffpir_tables()
    solver = diffpir_solver(lambda x, t: jnp.zeros_like(x), make_schedule(1000, "linear", ""), tables, Linear(m),
                            jnp.asarray(y), sigma, lambda_=lam, zeta=zeta, clip_denoised=False)
    t, t_next = 600, 400
    got, _ = solver.step(jnp.asarray(x), {"t": t, "t_next": t_next, "z": jnp.asarray(z)})

    s, b = tables["sqrt_abar"].astype(np.float64), tables["sqrt_1m"].astype(np.float64)
    rho = lam * (sigma / 2) ** 2 / (b[t] / s[t]) ** 2
    x0 = x.ravel() / s[t]                                  # eps = 0
    x0 = x0 + m.T @ (y.ravel() - m @ x0) / (4 * rho)
    eps = (x.ravel() - s[t] * x0) / b[t]
    want = s[t_next] * x0 + np.sqrt(1 - zeta) * b[t_next] * eps + np.sqrt(zeta) * b[t_next] * z[0, 1].ravel()
    np.testing.assert_allclose(np.asarray(got).ravel(), want, rtol=2e-4, atol=2e-5)
