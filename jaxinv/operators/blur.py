"""Blur operators: DPS `Blurkernel` (reflect) and CoDPS (circular) Gaussian / motion blur, CoDPS SR.

All apply a k x k kernel to every channel as a depthwise *cross-correlation* after padding by
k // 2 (torch `ReflectionPad2d` = numpy 'reflect', or CoDPS's `CircularPad2d` = numpy 'wrap'):

    y[i, j, c] = sum_{a, b} kernel[a, b] * pad(x)[i + a, j + b, c].

With circular padding A is a 2-D circulant, diagonalised by the DFT: A A^T has eigenvalues
|K(u, v)|^2 (K the DFT of the kernel wrapped around the image grid); for a centro-symmetric kernel
(Gaussian) K is real and the orthonormal Hartley transform H gives A's SVD, A = H diag(K) H; and
(s^2 I + v A A^T)^{-1} r = ifft2(fft2(r) / (s^2 + v |K|^2)) (CoDPS `A_AT`). For the CoDPS
super-resolution S C (circular blur, then `[::d, ::d]`), S C C^T S^T is circulant on the
low-resolution grid with the average of the d^2 aliased values of |K|^2
(CoDPS `calculate_delta_M_v1`).
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage
import jax
import jax.numpy as jnp
from jax import lax
from flax import struct

from jaxinv.operators.base import OperatorBase, register_operator, upsampled_picture
from jaxinv.operators.motion_kernel import dps_motion_kernel, motion_kernel
from jaxinv.operators.spectral import SVD, Spectral

PADDING_MODES = {"reflect": "reflect", "circular": "wrap"}


def gaussian_blur_kernel(kernel_size: int, sigma: float) -> np.ndarray:
    """`scipy.ndimage.gaussian_filter` of a centred delta (defaults: mode 'reflect', truncate 4), float64.

    This is DPS's `Blurkernel('gaussian')` kernel: for 61 / 3.0 its support is 25 x 25; for
    CoDPS's 9 / 3.0 the reflect mode folds the tails back (centre 0.01848).
    """
    delta = np.zeros((kernel_size, kernel_size))
    delta[kernel_size // 2, kernel_size // 2] = 1.0
    return scipy.ndimage.gaussian_filter(delta, sigma=sigma)


def _check_kernel_args(name, kernel_size, padding):
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1:
        raise ValueError(f"{name}: kernel_size must be a positive integer, got {kernel_size!r}")
    if padding not in PADDING_MODES:
        raise ValueError(f"{name}: padding must be one of {sorted(PADDING_MODES)}, got {padding!r}")


def wrapped_kernel_dft(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """K: the DFT of the kernel wrapped around an (height, width) grid, centre at the origin."""
    kh, kw = kernel.shape
    rows = (np.arange(kh) - kh // 2) % height
    cols = (np.arange(kw) - kw // 2) % width
    wrapped = np.zeros((height, width))
    np.add.at(wrapped, (rows[:, None], cols[None, :]), np.asarray(kernel, np.float64))
    return np.fft.fft2(wrapped)


def wrapped_kernel_spectrum(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """|K|^2 on an (height, width) grid: the eigenvalues of A A^T for circular cross-correlation."""
    return np.abs(wrapped_kernel_dft(kernel, height, width)) ** 2


def hartley(x):
    """The orthonormal 2-D discrete Hartley transform over axes (0, 1): H = H^T = H^-1, real."""
    f = jnp.fft.fft2(x, axes=(0, 1))
    return (f.real - f.imag) / np.sqrt(x.shape[0] * x.shape[1])


def hartley_svd(eigenvalues) -> SVD:
    """The SVD of a circulant A with real eigenvalues lambda (a centro-symmetric kernel): A = H diag(lambda) H,
    so V = H, S = |lambda|, U = H diag(sign lambda)."""
    sign = jnp.where(eigenvalues >= 0, 1.0, -1.0)[:, :, None]
    return SVD(vt=hartley, v=hartley, ut=lambda y: sign * hartley(y), u=lambda c: hartley(sign * c),
               singulars=jnp.abs(eigenvalues)[:, :, None], measured=jnp.ones((*eigenvalues.shape, 1), bool))


def depthwise_correlate(x, kernel, padding: str):
    """Pad by k // 2 (`padding` 'reflect' or 'circular') and cross-correlate every channel with `kernel`."""
    kh, kw = kernel.shape
    channels = x.shape[-1]
    pads = ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0))
    padded = jnp.pad(x, pads, mode=PADDING_MODES[padding])
    rhs = jnp.broadcast_to(kernel.astype(x.dtype)[:, :, None, None], (kh, kw, 1, channels))
    out = lax.conv_general_dilated(
        padded[None], rhs, (1, 1), "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=channels,
        precision=lax.Precision.HIGHEST,
    )
    return out[0]


def fourier_spectral(spectrum) -> Spectral:
    """The spectral view of a circulant A A^T with eigenvalues `spectrum` (H, W): the (unnormalised) 2-D DFT."""
    height, width = spectrum.shape
    return Spectral(ut=lambda y: jnp.fft.fft2(y, axes=(0, 1)), u=lambda c: jnp.real(jnp.fft.ifft2(c, axes=(0, 1))),
                    eigenvalues=spectrum[:, :, None], gain=float(np.sqrt(height * width)))


@struct.dataclass
class Blur(OperatorBase):
    """y = kernel (*) pad(x), depthwise cross-correlation; the spectral view exists for circular padding."""

    kernel: jax.Array
    spectrum: jax.Array | None
    image_shape: tuple = struct.field(pytree_node=False)
    padding: str = struct.field(pytree_node=False, default="reflect")
    eigenvalues: jax.Array | None = None     # real K of a centro-symmetric kernel with circular padding

    is_linear = True
    spectral_condition = "padding='circular'"
    svd_condition = "padding='circular', centro-symmetric kernel"

    @classmethod
    def from_kernel(cls, image_shape, kernel, padding: str = "reflect"):
        """Blur with an explicit 2-D kernel (e.g. one replayed from the original code's run)."""
        kernel = np.asarray(kernel)
        if kernel.ndim != 2:
            raise ValueError(f"blur kernel must be 2-D (k, k), got shape {kernel.shape}")
        _check_kernel_args("blur", kernel.shape[0], padding)
        height, width, _ = image_shape
        if padding == "reflect" and (kernel.shape[0] // 2 >= height or kernel.shape[1] // 2 >= width):
            raise ValueError(
                f"reflect padding by {kernel.shape[0] // 2} needs images larger than that, got {tuple(image_shape)}"
            )
        spectrum = eigenvalues = None
        if padding == "circular":
            dft = wrapped_kernel_dft(kernel, height, width)
            spectrum = jnp.asarray(np.abs(dft) ** 2, jnp.float32)
            if np.abs(dft.imag).max() <= 1e-6 * np.abs(dft).max():   # A symmetric: the Hartley basis is its SVD
                eigenvalues = jnp.asarray(dft.real, jnp.float32)
        return cls(kernel=jnp.asarray(kernel, jnp.float32), spectrum=spectrum,
                   image_shape=tuple(image_shape), padding=padding, eigenvalues=eigenvalues)

    def _apply(self, x):
        return depthwise_correlate(x, self.kernel, self.padding)

    def spectral(self):
        """The DFT diagonalises A A^T for circular padding only (None otherwise)."""
        return fourier_spectral(self.spectrum) if self.padding == "circular" else None

    def svd(self):
        """The Hartley basis diagonalises A itself for circular padding and a centro-symmetric kernel."""
        return hartley_svd(self.eigenvalues) if self.eigenvalues is not None else None


@register_operator("gaussian_blur")
@struct.dataclass
class GaussianBlur(Blur):
    """DPS/SPGD/G2D2 Gaussian deblurring (reflect) or CoDPS (circular): `Blurkernel('gaussian', k, sigma)`."""

    example_params = {"kernel_size": 5, "sigma": 1.0}

    @classmethod
    def create(cls, image_shape, kernel_size: int = 61, sigma: float = 3.0, padding: str = "reflect"):
        _check_kernel_args("gaussian_blur", kernel_size, padding)
        if not sigma > 0:
            raise ValueError(f"gaussian_blur: sigma must be positive, got {sigma!r}")
        kernel = gaussian_blur_kernel(kernel_size, sigma).astype(np.float32)
        return cls.from_kernel(image_shape, kernel, padding)


@register_operator("motion_blur")
@struct.dataclass
class MotionBlur(Blur):
    """Motion deblurring with a MotionBlur-library `Kernel(size, intensity)` drawn on the host.

    `seed` seeds a numpy `RandomState` (= `np.random.seed(seed)` before building the operator).
    `draws=2` is the DPS/SPGD/DAPS operator (its `Blurkernel` consumes one kernel, the operator
    keeps the second); `draws=1` is a bare `Kernel(...).kernelMatrix`. `kernel` replays a given one.
    """

    example_params = {"kernel_size": 61, "intensity": 0.5, "seed": 0, "padding": "circular"}

    @classmethod
    def create(cls, image_shape, kernel_size: int = 61, intensity: float = 0.5, seed: int | None = 0,
               padding: str = "reflect", draws: int = 2, kernel=None):
        _check_kernel_args("motion_blur", kernel_size, padding)
        if kernel is None:
            return cls.draw(np.random.RandomState(seed), image_shape, kernel_size, intensity, padding, draws)
        return cls.from_kernel(image_shape, np.asarray(kernel, np.float32), padding)

    @classmethod
    def draw(cls, rng: np.random.RandomState, image_shape, kernel_size: int = 61, intensity: float = 0.5,
             padding: str = "reflect", draws: int = 2):
        """One kernel drawn from `rng` (CoDPS draws one per image)."""
        _check_kernel_args("motion_blur", kernel_size, padding)
        if draws not in (1, 2):
            raise ValueError(f"motion_blur: draws must be 1 or 2, got {draws!r}")
        kernel = (dps_motion_kernel if draws == 2 else motion_kernel)(kernel_size, intensity, rng)
        return cls.from_kernel(image_shape, np.asarray(kernel, np.float32), padding)


def decimated_spectrum(spectrum: np.ndarray, stride: int) -> np.ndarray:
    """Eigenvalues of S C C^T S^T for S = [::stride, ::stride]: mean of the stride^2 aliases of `spectrum`."""
    height, width = spectrum.shape
    low_h, low_w = height // stride, width // stride
    return spectrum.reshape(stride, low_h, stride, low_w).sum(axis=(0, 2)) / stride**2


@register_operator("codps_super_resolution")
@struct.dataclass
class CoDPSSuperResolution(OperatorBase):
    """CoDPS `SuperResolutionOperatorV2` (degradation 'gaussian'): y = (k (*)_circ x)[::d, ::d].

    k is the 9x9 `gaussian_filter` kernel (sigma 3); H and W must be multiples of d.
    """

    kernel: jax.Array
    spectrum: jax.Array
    image_shape: tuple = struct.field(pytree_node=False)
    scale: int = struct.field(pytree_node=False, default=4)

    is_linear = True
    spectral_condition = ""
    example_params = {"scale": 2, "kernel_size": 5, "sigma": 1.5}

    @classmethod
    def create(cls, image_shape, scale: int = 4, kernel_size: int = 9, sigma: float = 3.0):
        _check_kernel_args("codps_super_resolution", kernel_size, "circular")
        if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
            raise ValueError(f"codps_super_resolution: scale must be a positive integer, got {scale!r}")
        height, width, _ = image_shape
        if height % scale or width % scale:
            raise ValueError(
                f"codps_super_resolution: image height and width must be multiples of scale {scale}, "
                f"got {tuple(image_shape)}"
            )
        return cls.from_kernel(image_shape, gaussian_blur_kernel(kernel_size, sigma), scale)

    @classmethod
    def from_kernel(cls, image_shape, kernel, scale: int):
        """y = (kernel (*)_circ x)[::scale, ::scale] with an explicit 2-D kernel (e.g. deepinv's
        `Downsampling(filter=..., padding='circular')`, whose filters are symmetric)."""
        kernel = np.asarray(kernel, np.float32)
        if kernel.ndim != 2:
            raise ValueError(f"codps_super_resolution: kernel must be 2-D (k, k), got shape {kernel.shape}")
        height, width, _ = image_shape
        spectrum = decimated_spectrum(wrapped_kernel_spectrum(kernel, height, width), scale)
        return cls(kernel=jnp.asarray(kernel), spectrum=jnp.asarray(spectrum, jnp.float32),
                   image_shape=tuple(image_shape), scale=int(scale))

    def _apply(self, x):
        return depthwise_correlate(x, self.kernel, "circular")[:: self.scale, :: self.scale]

    def show(self, y):
        return upsampled_picture(y, self.image_shape)

    def spectral(self):
        """A A^T is circulant on the low-resolution grid: its DFT."""
        return fourier_spectral(self.spectrum)
