import jax
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jaxinv.metrics import psnr, ssim


def _pair(seed, shape, noise):
    rng = np.random.default_rng(seed)
    a = rng.random(shape).astype(np.float32)
    b = np.clip(a + noise * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return a, b


@pytest.mark.parametrize("shape,noise", [((64, 64, 3), 0.05), ((33, 47, 3), 0.3), ((16, 20, 1), 0.01)])
def test_psnr_ssim_equal_skimage(shape, noise):
    a, b = _pair(sum(shape), shape, noise)
    want_psnr = peak_signal_noise_ratio(a, b, data_range=1)
    want_ssim = structural_similarity(a, b, channel_axis=-1, data_range=1)
    assert abs(float(psnr(a, b)) - want_psnr) < 1e-4
    assert abs(float(ssim(a, b)) - want_ssim) < 1e-4


def test_batched_by_vmap_and_data_range():
    a, b = _pair(0, (4, 32, 32, 3), 0.1)
    got = jax.jit(jax.vmap(lambda x, y: ssim(x, y, data_range=2.0)))(2 * a - 1, 2 * b - 1)
    want = [structural_similarity(2 * x - 1, 2 * y - 1, channel_axis=-1, data_range=2.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match=r"one \(H, W, C\) image"):
        ssim(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="win_size"):
        ssim(np.zeros((5, 5, 3)), np.zeros((5, 5, 3)))
