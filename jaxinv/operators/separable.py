"""Separable linear operators y = M_h x M_w^T (per channel), denoising and colourisation: the
degradations of DDRM (bahjat-kawar/ddrm `functions/svd_replacement.py`), which DDNM, PiGDM and
RED-diff reuse.

Each axis matrix M (out x in) is factored once on the host, M = U diag(s) V^T (float64 SVD); the
operator applies M' = U diag(s') V^T with s' = s where s >= `zero_below`, else 0 (DDRM's `ZERO`:
its forward `H` is the truncated one, 3e-2 for blurs and the bicubic SR). Then A A^T = (U_h (x) U_w)
diag(s_h'^2 s_w'^2) (U_h (x) U_w)^T is the spectral view.

- `block_average` (DDRM `sr<d>`, DDNM `sr_averagepooling`): the mean of each d x d block.
- `separable_blur` (DDRM `deblur_uni`, `deblur_gauss`, `deblur_aniso`): DDRM's 1-D convolution
  matrix, zero outside the image. As in its code, row i holds taps j = i - k//2 .. i + k//2 - 1
  (k - 1 of the k taps: the last one is never used) with H[i, j] = kernel[j - i + k//2].
- `bicubic_sr` (DDRM `sr_bicubic<d>`, `SRConv`): Keys' bicubic kernel (a = -0.5) of 4d taps at
  stride d, rows at i = d//2, d//2 + d, ..., reflected at the borders (j < 0 -> -j - 1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinv.operators.base import OperatorBase, register_operator, upsampled_picture
from jaxinv.operators.spectral import SVD, Spectral, separable_spectral

DDRM_ZERO = 3e-2   # DDRM's singular-value threshold for blurs and SRConv
# colourisation's V: columns (1, 1, 1) / sqrt 3, (1, -1, 0) / sqrt 2, (1, 1, -2) / sqrt 6
COLOR_BASIS = np.array([[1, 1, 1], [1, -1, 1], [1, 0, -2]]) / np.sqrt([3.0, 2.0, 6.0])


def truncated_factors(matrix, zero_below: float):
    """(M', U, s'^2, V) of M = U diag(s) V^T (out <= in; V square) with s' = s where s >= zero_below else 0."""
    matrix = np.asarray(matrix, np.float64)
    if matrix.shape[0] > matrix.shape[1]:
        raise ValueError(f"separable operators need axis matrices with no more rows than columns, got {matrix.shape}")
    u, s, vt = np.linalg.svd(matrix, full_matrices=True)
    s = np.where(s >= zero_below, s, 0.0)
    return (u * s) @ vt[: len(s)], u, s**2, vt.T


def separable_svd(basis_h, eig_h, right_h, basis_w, eig_w, right_w, image_shape) -> SVD:
    """The SVD of y = M_h x M_w^T from each axis' M = U diag(sqrt(eig)) V^T: V^T x = V_h^T x V_w per
    channel; the measured grid is the top-left (out_h, out_w) block."""
    height, width, _ = image_shape
    out_h, out_w = eig_h.shape[-1], eig_w.shape[-1]
    pad = ((0, height - out_h), (0, width - out_w), (0, 0))
    singulars = jnp.pad(jnp.sqrt(eig_h)[:, None, None] * jnp.sqrt(eig_w)[None, :, None], pad)
    measured = jnp.pad(jnp.ones((out_h, out_w, 1), bool), pad)
    base = separable_spectral(basis_h, eig_h, basis_w, eig_w)
    hi = jax.lax.Precision.HIGHEST
    return SVD(vt=lambda x: jnp.einsum("ia,jb,ijc->abc", right_h, right_w, x, precision=hi),
               v=lambda c: jnp.einsum("ia,jb,abc->ijc", right_h, right_w, c, precision=hi),
               ut=lambda y: jnp.pad(base.ut(y), pad), u=lambda c: base.u(c[:out_h, :out_w]),
               singulars=singulars, measured=measured)


def ddrm_blur_matrix(kernel, size: int) -> np.ndarray:
    """DDRM `Deblurring`'s 1-D convolution matrix (zero boundary, the code's k - 1 taps)."""
    kernel = np.asarray(kernel, np.float64)
    half = kernel.shape[0] // 2
    matrix = np.zeros((size, size))
    for i in range(size):
        for j in range(max(i - half, 0), min(i + half, size)):
            matrix[i, j] = kernel[j - i + half]
    return matrix


def block_average_matrix(size: int, scale: int) -> np.ndarray:
    """(size/scale, size): row i averages pixels scale*i .. scale*i + scale - 1."""
    return np.kron(np.eye(size // scale), np.full((1, scale), 1.0 / scale))


def keys_bicubic(x, a: float = -0.5) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def bicubic_sr_matrix(size: int, scale: int) -> np.ndarray:
    """DDRM `SRConv`'s (size/scale, size) matrix for `sr_bicubic<scale>` (reflect boundary)."""
    taps = 4 * scale
    kernel = np.array([keys_bicubic((i - np.floor(taps / 2) + 0.5) / scale) for i in range(taps)])
    kernel = kernel / kernel.sum()
    kernel = kernel / kernel.sum()   # the code normalises twice
    matrix = np.zeros((size // scale, size))
    half = taps // 2
    for i in range(scale // 2, size + scale // 2, scale):
        for j in range(i - half, i + half):
            k = -j - 1 if j < 0 else (2 * size - 1 - j if j >= size else j)
            matrix[i // scale, k] += kernel[j - i + half]
    return matrix


def gaussian_taps(taps: int, sigma: float) -> np.ndarray:
    """DDRM's blur kernel: exp(-x^2 / (2 sigma^2)) at x = -taps//2 .. taps//2, normalised."""
    x = np.arange(taps) - taps // 2
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _positive_int(name, value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")


@struct.dataclass
class Separable(OperatorBase):
    """y[:, :, c] = M_h x[:, :, c] M_w^T, with the spectral view of the per-axis SVDs."""

    matrix_h: jax.Array
    matrix_w: jax.Array
    basis_h: jax.Array     # U_h (out_h, out_h)
    eig_h: jax.Array       # s_h'^2 (out_h,)
    basis_w: jax.Array
    eig_w: jax.Array
    right_h: jax.Array     # V_h (in_h, in_h): the row space first, then the null space
    right_w: jax.Array
    image_shape: tuple = struct.field(pytree_node=False)

    is_linear = True
    spectral_condition = ""
    svd_condition = ""

    @classmethod
    def from_matrices(cls, image_shape, matrix_h, matrix_w, zero_below: float = 0.0):
        height, width, _ = image_shape
        if matrix_h.shape[1] != height or matrix_w.shape[1] != width:
            raise ValueError(f"{cls.__name__}: axis matrices {matrix_h.shape}, {matrix_w.shape} do not act on "
                             f"images of shape {tuple(image_shape)}")
        m_h, u_h, l_h, v_h = truncated_factors(matrix_h, zero_below)
        m_w, u_w, l_w, v_w = truncated_factors(matrix_w, zero_below)
        f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
        return cls(matrix_h=f32(m_h), matrix_w=f32(m_w), basis_h=f32(u_h), eig_h=f32(l_h), basis_w=f32(u_w),
                   eig_w=f32(l_w), right_h=f32(v_h), right_w=f32(v_w), image_shape=tuple(image_shape))

    def _apply(self, x):
        return jnp.einsum("ai,bj,ijc->abc", self.matrix_h, self.matrix_w, x, precision=jax.lax.Precision.HIGHEST)

    def spectral(self) -> Spectral:
        return separable_spectral(self.basis_h, self.eig_h, self.basis_w, self.eig_w)

    def svd(self) -> SVD:
        return separable_svd(self.basis_h, self.eig_h, self.right_h, self.basis_w, self.eig_w, self.right_w,
                             self.image_shape)

    def show(self, y):
        return upsampled_picture(y, self.image_shape)


@register_operator("block_average")
@struct.dataclass
class BlockAverage(Separable):
    """DDRM `sr<d>` / DDNM `sr_averagepooling`: y = the mean of every d x d block (H, W multiples of d)."""

    example_params = {"scale": 2}

    @classmethod
    def create(cls, image_shape, scale: int = 4):
        _positive_int("block_average", scale, "scale")
        height, width, _ = image_shape
        if height % scale or width % scale:
            raise ValueError(f"block_average: image height and width must be multiples of scale {scale}, "
                             f"got {tuple(image_shape)}")
        return cls.from_matrices(image_shape, block_average_matrix(height, scale), block_average_matrix(width, scale))


@register_operator("separable_blur")
@struct.dataclass
class SeparableBlur(Separable):
    """DDRM's separable deblurring: `kernel` 'gaussian' (`taps`, `sigma`; `sigma_w` for the anisotropic
    `deblur_aniso` with sigma along H and sigma_w along W) or 'uniform' (1/taps), zero boundary,
    singular values below `zero_below` dropped. Defaults: `deblur_gauss` (5 taps, sigma 10)."""

    example_params = {"taps": 5, "sigma": 2.0}

    @classmethod
    def create(cls, image_shape, kernel: str = "gaussian", taps: int = 5, sigma: float = 10.0,
               sigma_w: float | None = None, zero_below: float = DDRM_ZERO):
        _positive_int("separable_blur", taps, "taps")
        if kernel == "gaussian":
            if not sigma > 0 or (sigma_w is not None and not sigma_w > 0):
                raise ValueError(f"separable_blur: sigma must be positive, got {sigma!r}, {sigma_w!r}")
            k_h, k_w = gaussian_taps(taps, sigma), gaussian_taps(taps, sigma if sigma_w is None else sigma_w)
        elif kernel == "uniform":
            k_h = k_w = np.full(taps, 1.0 / taps)
        else:
            raise ValueError(f"separable_blur: kernel must be 'gaussian' or 'uniform', got {kernel!r}")
        height, width, _ = image_shape
        return cls.from_matrices(image_shape, ddrm_blur_matrix(k_h, height), ddrm_blur_matrix(k_w, width),
                                 zero_below)

    def show(self, y):
        return np.clip(np.asarray(y, np.float32), -1, 1)


@register_operator("bicubic_sr")
@struct.dataclass
class BicubicSR(Separable):
    """DDRM `sr_bicubic<d>` (`SRConv`): bicubic filtering at stride d with reflect borders."""

    example_params = {"scale": 2}

    @classmethod
    def create(cls, image_shape, scale: int = 4, zero_below: float = DDRM_ZERO):
        _positive_int("bicubic_sr", scale, "scale")
        height, width, _ = image_shape
        if height % scale or width % scale:
            raise ValueError(f"bicubic_sr: image height and width must be multiples of scale {scale}, "
                             f"got {tuple(image_shape)}")
        return cls.from_matrices(image_shape, bicubic_sr_matrix(height, scale), bicubic_sr_matrix(width, scale),
                                 zero_below)


@register_operator("denoising")
@struct.dataclass
class Denoising(OperatorBase):
    """y = x (DDRM `deno`): the measurement is the noisy image."""

    image_shape: tuple = struct.field(pytree_node=False)

    is_linear = True
    spectral_condition = ""
    svd_condition = ""

    @classmethod
    def create(cls, image_shape):
        return cls(image_shape=tuple(image_shape))

    def _apply(self, x):
        return x

    def spectral(self) -> Spectral:
        return Spectral(ut=lambda y: y, u=lambda c: c, eigenvalues=jnp.ones((1, 1, 1), jnp.float32))

    def svd(self) -> SVD:
        same = lambda a: a  # noqa: E731
        return SVD(vt=same, v=same, ut=same, u=same, singulars=jnp.ones((1, 1, 1), jnp.float32),
                   measured=jnp.ones((1, 1, 1), bool))


@register_operator("colorization")
@struct.dataclass
class Colorization(OperatorBase):
    """y = (x_r + x_g + x_b) / 3, shape (H, W, 1) (DDRM `color`); A A^T = I / 3."""

    image_shape: tuple = struct.field(pytree_node=False)

    is_linear = True
    spectral_condition = ""
    svd_condition = ""

    @classmethod
    def create(cls, image_shape):
        if image_shape[2] != 3:
            raise ValueError(f"colorization: needs RGB images (C = 3), got {tuple(image_shape)}")
        return cls(image_shape=tuple(image_shape))

    def _apply(self, x):
        return jnp.mean(x, axis=-1, keepdims=True)

    def spectral(self) -> Spectral:
        return Spectral(ut=lambda y: y, u=lambda c: c, eigenvalues=jnp.full((1, 1, 1), 1.0 / 3.0, jnp.float32))

    def svd(self) -> SVD:
        """Per pixel V = [1/sqrt 3 (1, 1, 1), an orthonormal complement]; s = 1/sqrt 3 on channel 0."""
        basis = jnp.asarray(COLOR_BASIS, jnp.float32)
        return SVD(vt=lambda x: x @ basis, v=lambda c: c @ basis.T,
                   ut=lambda y: jnp.pad(y, ((0, 0), (0, 0), (0, 2))), u=lambda c: c[..., :1],
                   singulars=jnp.asarray([1 / np.sqrt(3.0), 0.0, 0.0], jnp.float32),
                   measured=jnp.asarray([True, False, False]))

    def show(self, y):
        return np.clip(np.repeat(np.asarray(y, np.float32), 3, axis=-1), -1, 1)
