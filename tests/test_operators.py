"""Forward operators against the original code's outputs (`fixtures/operators/operators.npz`)."""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

from jaxinv.operators import make_operator, resize_matrix

jax.config.update("jax_enable_x64", False)


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return dict(np.load(fixtures_dir / "operators" / "operators.npz"))


def nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


def test_super_resolution_matches_dps_resizer(ref):
    op = make_operator("super_resolution", (64, 64, 3), scale=4)
    y = jax.jit(jax.vmap(op.forward))(nhwc(ref["x"]))
    err = np.abs(np.asarray(y) - nhwc(ref["dps_super_resolution_x4"])).max()
    assert y.shape == (2, 16, 16, 3)
    assert err < 2e-6, err  # measured 6e-8


def test_super_resolution_interior_taps_and_small_image():
    """The 16 x4 taps from the note, and x2 on 16x16 = M X M^T with a symmetric border."""
    m4 = resize_matrix(64, 16, 0.25)
    taps = [-0.00171, -0.01099, -0.01831, -0.01196, 0.02271, 0.09741, 0.18188, 0.24097]
    np.testing.assert_allclose(m4[5, 4 * 5 - 6 : 4 * 5 + 10], taps + taps[::-1], atol=1e-5)
    np.testing.assert_allclose(m4.sum(1), 1.0, atol=1e-12)
    op = make_operator("super_resolution", (16, 16, 3), scale=2)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    m2 = resize_matrix(16, 8, 0.5)
    expected = np.einsum("ih,jw,hwc->ijc", m2, m2, x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(op.forward(x)), expected, atol=2e-6)
