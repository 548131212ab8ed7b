"""Classical baselines against dense-matrix closed forms and PIL."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxinv.operators import make_operator
from jaxinv.solvers.classical import bicubic_upsample, mean_fill, pseudo_inverse, wiener_deconvolution

SHAPE = (16, 16, 3)


def dense(op):
    jac = jax.jacfwd(op.forward)(jnp.zeros(SHAPE, jnp.float32))
    return np.asarray(jac, np.float64).reshape(int(np.prod(op.measurement_shape)), -1)


def smooth_image(seed=0):
    coarse = np.random.default_rng(seed).uniform(-0.6, 0.6, (4, 4, 3))
    return jnp.asarray(jax.image.resize(coarse, SHAPE, "linear"), jnp.float32)


@pytest.mark.parametrize("params", [dict(scale=2), dict(scale=4)])
def test_pseudo_inverse_equals_numpy_pinv(params):
    op = make_operator("super_resolution", SHAPE, **params)
    y = op.forward(smooth_image())
    expected = np.linalg.pinv(dense(op)) @ np.asarray(y, np.float64).ravel()
    got = np.asarray(pseudo_inverse(op, y), np.float64).ravel()
    assert np.abs(got - np.clip(expected, -1, 1)).max() < 2e-5


def test_wiener_equals_dense_linear_mmse():
    op = make_operator("gaussian_blur", SHAPE, kernel_size=5, sigma=1.0, padding="circular")
    sigma = 0.05
    y = op.forward(smooth_image(1)) + sigma * jax.random.normal(jax.random.PRNGKey(0), SHAPE)
    a, yv = dense(op), np.asarray(y, np.float64)
    m = np.broadcast_to(yv.mean(axis=(0, 1)), SHAPE).ravel()
    lam = sigma**2 / (yv.var() - sigma**2)
    expected = m + a.T @ np.linalg.solve(a @ a.T + lam * np.eye(a.shape[0]), yv.ravel() - a @ m)
    got = np.asarray(wiener_deconvolution(op, y, sigma), np.float64).ravel()
    assert np.abs(got - np.clip(expected, -1, 1)).max() < 1e-4
    with pytest.raises(ValueError, match="wiener baseline needs a linear operator with a spectral"):
        wiener_deconvolution(make_operator("gaussian_blur", SHAPE, kernel_size=5, padding="reflect"), y, sigma)


def test_mean_fill_keeps_observed_pixels_and_fills_their_mean():
    op = make_operator("inpainting", SHAPE, mask_type="box", mask_len_range=(6, 7), margin=(2, 2), seed=0)
    x = smooth_image(2)
    out = np.asarray(mean_fill(op, op.forward(x)))
    mask = np.asarray(op.mask)[..., 0] > 0
    np.testing.assert_allclose(out[mask], np.asarray(x)[mask], atol=1e-6)
    np.testing.assert_allclose(out[~mask], np.broadcast_to(np.asarray(x)[mask].mean(0), out[~mask].shape), atol=1e-5)


def test_bicubic_matches_pil_away_from_the_border():
    op = make_operator("super_resolution", SHAPE, scale=4)
    y = np.random.default_rng(3).uniform(-0.5, 0.5, op.measurement_shape).astype(np.float32)
    got = np.asarray(bicubic_upsample(op, jnp.asarray(y)))
    pil = np.stack([np.asarray(Image.fromarray(y[..., c], mode="F").resize((16, 16), Image.BICUBIC))
                    for c in range(3)], -1)
    np.testing.assert_allclose(got[6:10, 6:10], np.clip(pil, -1, 1)[6:10, 6:10], atol=1e-5)
