"""3x3 convolutions (stride 1, padding 1, NHWC) by Winograd's minimal filtering F(2x2, 3x3).

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016), eq. (8): each 2x2 output
tile is

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A

with d the 4x4 input tile (overlapping its neighbours by 2), g the 3x3 kernel and

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].

Summed over input channels, (.) becomes 16 independent matmuls (tiles x C_in) @ (C_in x C_out):
4 multiply-adds per output and channel pair instead of the direct convolution's 9. The input and
output transforms are additions of strided slices, which XLA fuses. Every coefficient is a power
of two, so the transforms round no more than the direct sum does.

The input gradient of a stride-1, padding-1 3x3 correlation is the same correlation of the output
cotangent with the kernel flipped in space and transposed in channels, so `conv3x3` has a custom
VJP that runs the backward pass through the same fast path; the kernel gradient (training) is the
convolution's own, from `lax`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

_G = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], jnp.float32)


def transformed_kernel(kernel: jax.Array) -> jax.Array:
    """U = G g G^T per channel pair: (3, 3, C_in, C_out) -> (16, C_in, C_out)."""
    u = jnp.einsum("ai,bj,ijco->abco", _G.astype(kernel.dtype), _G.astype(kernel.dtype), kernel,
                   precision=jax.lax.Precision.HIGHEST)
    return u.reshape(16, *kernel.shape[2:])


def _input_transform(rows: list[jax.Array]) -> list[jax.Array]:
    """B^T d along one axis: the four tile rows d0..d3 -> d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    d0, d1, d2, d3 = rows
    return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _output_transform(rows: list[jax.Array]) -> list[jax.Array]:
    """A^T m along one axis: m0..m3 -> m0 + m1 + m2, m1 - m2 - m3."""
    m0, m1, m2, m3 = rows
    return [m0 + m1 + m2, m1 - m2 - m3]


def _winograd(x: jax.Array, u: jax.Array) -> jax.Array:
    n, height, width, _ = x.shape
    th, tw = height // 2, width // 2
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # row a of every tile: padded rows 2i + a, i < th
    by_rows = _input_transform([padded[:, a:a + 2 * th:2] for a in range(4)])
    tiles = [t for r in by_rows for t in _input_transform([r[:, :, b:b + 2 * tw:2] for b in range(4)])]
    v = jnp.stack(tiles).reshape(16, n * th * tw, x.shape[-1])
    m = jnp.matmul(v, u).reshape(4, 4, n, th, tw, u.shape[-1])
    out_rows = _output_transform([m[a] for a in range(4)])
    out = [_output_transform([r[b] for b in range(4)]) for r in out_rows]
    # out[r][s] is output pixel (2i + r, 2j + s)
    y = jnp.stack([jnp.stack(pair, axis=3) for pair in out], axis=2)   # (n, th, 2, tw, 2, c)
    return y.reshape(n, height, width, u.shape[-1])


def _direct(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))


@jax.custom_vjp
def conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)))` in NHWC/HWIO by F(2x2, 3x3).

    x: (N, H, W, C_in) with H and W even; kernel: (3, 3, C_in, C_out).
    """
    if x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError(f"winograd conv3x3 needs even height and width, got {x.shape[1]}x{x.shape[2]}")
    return _winograd(x, transformed_kernel(kernel))


def _forward(x, kernel):
    return conv3x3(x, kernel), (x, kernel)


def _backward(residuals, cotangent):
    x, kernel = residuals
    flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
    grad_x = conv3x3(cotangent, flipped)
    _, pull_kernel = jax.vjp(lambda k: _direct(x, k), kernel)
    return grad_x, pull_kernel(cotangent)[0]


conv3x3.defvjp(_forward, _backward)
