"""The DPS `Resizer` (Shocher's resizer, `util/resizer.py`): antialiased bicubic downsampling.

Per axis, output pixel i reads the input at a field of view `fov[i, :]` (symmetric mirror at the
borders) with weights `w[i, :]`, both computed once on the host in float64 as the original does:

    match = (i + 1 - (out - in*s)/2) / s + (1 - 1/s)/2            (1-based pixel centres)
    w[i, k] = s * cubic(s * (match - fov[i, k] - 1)),  normalised to sum 1,   s = 1/scale

with Keys' cubic (a = -0.5) stretched to width 4/s for antialiasing. The weights are stored in
float32 (as the original's torch tensors) and applied in JAX as a gather and weighted sum,
H first, then W (the original's `argsort` of the per-axis scale factors).
"""
from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
from flax import struct

from jaxinv.operators.base import OperatorBase, register_operator, upsampled_picture
from jaxinv.operators.separable import separable_svd, truncated_factors
from jaxinv.operators.spectral import separable_spectral


def cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (the Resizer's default)."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (1 < absx) & (absx <= 2)
    )


def resizer_contributions(in_length: int, out_length: int, scale: float, antialiasing: bool = True):
    """Weights (out, taps) float64 and field of view (out, taps) int of the Resizer along one axis.

    Mirrors `Resizer.contributions` with the cubic kernel of width 4, including the removal of
    taps whose weight is zero for every output pixel.
    """
    antialiasing = antialiasing and scale < 1
    kernel_width = 4.0 / scale if antialiasing else 4.0
    if antialiasing:
        kernel = lambda arg: scale * cubic(scale * arg)
    else:
        kernel = cubic
    out_coordinates = np.arange(1, out_length + 1)
    shifted = out_coordinates - (out_length - in_length * scale) / 2
    match = shifted / scale + 0.5 * (1 - 1 / scale)
    left_boundary = np.floor(match - kernel_width / 2)
    expanded_width = np.ceil(kernel_width) + 2
    fov = np.int16(left_boundary[:, None] + np.arange(expanded_width) - 1).reshape(out_length, -1)
    weights = kernel(1.0 * match[:, None] - fov - 1)
    sums = np.sum(weights, axis=1)
    sums[sums == 0] = 1.0
    weights = weights / sums[:, None]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)]).astype(np.int64)
    fov = mirror[np.mod(fov, mirror.shape[0])]
    keep = np.nonzero(np.any(weights, axis=0))[0]
    return weights[:, keep], fov[:, keep]


def resize_matrix(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> np.ndarray:
    """The dense (out, in) matrix M of one axis of the Resizer (y = M x along that axis)."""
    weights, fov = resizer_contributions(in_length, out_length, scale, antialiasing)
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.repeat(np.arange(out_length), fov.shape[1]), fov.ravel()), weights.ravel())
    return matrix


def _axis_factors(in_length: int, out_length: int, factor: float, scale: int):
    """(U, s^2, V) of one axis matrix M = U diag(s) V^T (V square; M = I when the axis is not resized)."""
    if scale == 1:
        return np.eye(out_length), np.ones(out_length), np.eye(in_length)
    _, u, s2, v = truncated_factors(resize_matrix(in_length, out_length, factor), 0.0)
    return u, s2, v


def _resize_axis(x, weights, fov, axis):
    gathered = jnp.take(x, fov, axis=axis)  # (..., out, taps, ...) at positions axis, axis+1
    w = weights.reshape(weights.shape + (1,) * (x.ndim - axis - 1))
    return jnp.sum(gathered * w, axis=axis + 1)


@register_operator("super_resolution")
@struct.dataclass
class SuperResolution(OperatorBase):
    """DPS/SPGD/G2D2 super-resolution: `Resizer(in_shape, 1/scale)`, y_i = sum_k w_ik x_fov_ik per axis.

    `measurement_shape` is (ceil(H/scale), ceil(W/scale), C). A = M_h (x) M_w is separable, so
    A A^T = (U_h L_h U_h^T) (x) (U_w L_w U_w^T) with the small per-axis eigendecompositions, and
    U^T y = U_h^T y U_w with A A^T's eigenvalues l_h l_w^T (`spectral`; CoDPS's Gram solve); with the
    axes' right singular vectors V_h, V_w it is the full SVD of `Separable` (`svd`; DDRM, DDNM).
    """

    weights_h: jax.Array
    fov_h: jax.Array
    weights_w: jax.Array
    fov_w: jax.Array
    gram_basis_h: jax.Array   # U_h (out_h, out_h): eigenvectors of M_h M_h^T
    gram_eig_h: jax.Array     # l_h (out_h,)
    gram_basis_w: jax.Array
    gram_eig_w: jax.Array
    right_h: jax.Array        # V_h (in_h, in_h): the row space first, then the null space
    right_w: jax.Array
    image_shape: tuple = struct.field(pytree_node=False)
    scale: int = struct.field(pytree_node=False, default=4)

    is_linear = True
    spectral_condition = ""
    svd_condition = ""
    example_params = {"scale": 2}

    @classmethod
    def create(cls, image_shape, scale: int = 4):
        if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
            raise ValueError(f"super_resolution: scale must be a positive integer, got {scale!r}")
        height, width, _ = image_shape
        factor = 1.0 / scale
        out_h = int(np.ceil(height * factor))
        out_w = int(np.ceil(width * factor))
        w_h, f_h = resizer_contributions(height, out_h, factor)
        w_w, f_w = resizer_contributions(width, out_w, factor)
        u_h, l_h, v_h = _axis_factors(height, out_h, factor, scale)
        u_w, l_w, v_w = _axis_factors(width, out_w, factor, scale)
        return cls(
            weights_h=jnp.asarray(w_h, jnp.float32),
            fov_h=jnp.asarray(f_h, jnp.int32),
            weights_w=jnp.asarray(w_w, jnp.float32),
            fov_w=jnp.asarray(f_w, jnp.int32),
            gram_basis_h=jnp.asarray(u_h, jnp.float32),
            gram_eig_h=jnp.asarray(l_h, jnp.float32),
            gram_basis_w=jnp.asarray(u_w, jnp.float32),
            gram_eig_w=jnp.asarray(l_w, jnp.float32),
            right_h=jnp.asarray(v_h, jnp.float32),
            right_w=jnp.asarray(v_w, jnp.float32),
            image_shape=tuple(image_shape),
            scale=int(scale),
        )

    def _apply(self, x):
        if self.scale == 1:  # the Resizer skips axes whose scale factor is 1
            return x
        x = _resize_axis(x, self.weights_h, self.fov_h, 0)
        return _resize_axis(x, self.weights_w, self.fov_w, 1)

    def show(self, y):
        return upsampled_picture(y, self.image_shape)

    def spectral(self):
        """The separable eigenbasis of A A^T: U^T y = U_h^T y U_w, eigenvalues l_h l_w^T."""
        return separable_spectral(self.gram_basis_h, self.gram_eig_h, self.gram_basis_w, self.gram_eig_w)

    def svd(self):
        return separable_svd(self.gram_basis_h, self.gram_eig_h, self.right_h, self.gram_basis_w, self.gram_eig_w,
                             self.right_w, self.image_shape)
