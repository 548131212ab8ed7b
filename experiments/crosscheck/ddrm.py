"""DDRM replay: `efficient_generalized_steps` from a fixture's x_T and recorded noise, through jaxinv.solvers.ddrm.

The original draws its noise in the coordinates of its own SVD layout (`functions/svd_replacement.py`):
singular values sorted in descending order, channels interleaved, LAPACK's bases from torch.svd. The
replay gives jaxinv's solver that layout as an `SVD` view (`original_svd`, rebuilt here with torch.svd
as the original does), so the recorded draws enter coordinate for coordinate. It reproduces the
original's `Deblurring` as it is: its `singulars()` tiles the sorted singular values over the channels
(`repeat(1, 3)`) while its `V`, `U` interleave the channels, so coordinate 3k + c carries singular value
s_{(3k + c) mod HW} instead of s_k and its H is not the blur it builds (the fixture's y - H x0 has std
0.098 = sigma_y with the tiled pairing, 0.116 with the blur). jaxinv's `separable_blur` is the blur.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.crosscheck.dps import add_arguments, load_fixture, load_model, nhwc

HELP = "replay a DDRM fixture (x_T, z_c/z_a/z_b_*) with jaxinv.solvers.ddrm and compare `out`"
# Of max|out| (random weights reach |x| of 75-220). Deblurring's 1-D blur has singular values down to
# 1e-3 whose float32 singular vectors LAPACK determines only loosely, and DDRM divides y_bar by them:
# the same replay with torch.svd's basis taken in float64 moves `out` by 1.0e-4 of max|out|.
THRESHOLD_REL = {"sr": 1e-4, "deblur_gauss": 3e-4}
ZERO = 3e-2            # the original's singular-value threshold for deblurring

__all__ = ["HELP", "add_arguments", "run"]


def original_svd(deg: str, size: int, channels: int, kernel=None):
    """The original's H_functions for `sr<r>` (`SuperResolution`) or `deblur_gauss` (`Deblurring`) as an
    `SVD` on its flat coordinate vector, images (H, W, C) in and out; y in its flat layout."""
    import torch

    from jaxinv.operators.spectral import SVD

    n, c = size, channels
    f32 = lambda a: jnp.asarray(np.asarray(a), jnp.float32)  # noqa: E731
    if deg.startswith("sr") and deg[2:].isdigit():
        r = int(deg[2:])
        m = n // r
        u, singular, v = (f32(a) for a in torch.svd(torch.full((1, r * r), 1.0 / r**2), some=False))
        measured_len, total = c * m * m, c * n * n

        def vt(x):                                  # patches (C, m*m, r*r) -> V_small^T each
            patches = jnp.moveaxis(x, -1, 0).reshape(c, m, r, m, r).transpose(0, 1, 3, 2, 4).reshape(c, m * m, r * r)
            coeffs = patches @ v                    # row i: V_small^T patch_i
            return jnp.concatenate([coeffs[..., 0].reshape(-1), coeffs[..., 1:].reshape(-1)])

        def v_(g):
            first, rest = g[:measured_len].reshape(c, m * m, 1), g[measured_len:].reshape(c, m * m, r * r - 1)
            patches = jnp.concatenate([first, rest], axis=-1) @ v.T
            return jnp.moveaxis(patches.reshape(c, m, m, r, r).transpose(0, 1, 3, 2, 4).reshape(c, n, n), 0, -1)

        singulars = jnp.concatenate([jnp.full(measured_len, singular[0]), jnp.zeros(total - measured_len)])
        return SVD(vt=vt, v=v_, ut=lambda y: jnp.pad(u[0, 0] * y.reshape(-1), (0, total - measured_len)),
                   u=lambda g: u[0, 0] * g[:measured_len], singulars=singulars,
                   measured=jnp.arange(total) < measured_len)
    if deg == "deblur_gauss":
        from jaxinv.operators.separable import ddrm_blur_matrix

        matrix = torch.tensor(ddrm_blur_matrix(np.asarray(kernel, np.float64), n), dtype=torch.float32)
        u, singular, v = torch.svd(matrix, some=False)
        singular[singular < ZERO] = 0
        grid, perm = torch.matmul(singular.reshape(n, 1), singular.reshape(1, n)).reshape(-1).sort(descending=True)
        u, v, perm, inverse = f32(u), f32(v), jnp.asarray(perm.numpy()), jnp.asarray(np.argsort(perm.numpy()))

        def to_coords(x, basis):                     # basis^T x basis per channel, sorted, channels interleaved
            g = jnp.einsum("ia,jb,ijc->cab", basis, basis, x).reshape(c, n * n)
            return g[:, perm].T.reshape(-1)

        def from_coords(g, basis):
            grid_ = g.reshape(n * n, c).T[:, inverse].reshape(c, n, n)
            return jnp.einsum("ia,jb,cab->ijc", basis, basis, grid_)

        return SVD(vt=lambda x: to_coords(x, v), v=lambda g: from_coords(g, v),
                   ut=lambda y: to_coords(jnp.moveaxis(y.reshape(c, n, n), 0, -1), u),
                   u=lambda g: jnp.moveaxis(from_coords(g, u), -1, 0).reshape(-1),
                   singulars=jnp.tile(f32(grid.numpy()), c), measured=jnp.ones(c * n * n, bool))
    raise ValueError(f"DDRM replay supports deg sr<r> and deblur_gauss, got {deg!r}")


class OriginalOperator:
    """An operator whose only view is the original's SVD layout (the solver needs nothing else)."""

    def __init__(self, svd):
        self._svd = svd

    def svd(self):
        return self._svd


def recorded_noise(arrays, svd, pairs, sigma_y: float, alphas) -> np.ndarray:
    """(steps, 3, C H W) draws in the original's coordinates: missing, less noisy (z_a at its `cond_after`
    coordinates), noisier (z_b, indexed like U^T y)."""
    singulars = np.asarray(svd.singulars)
    measured_len = int(np.asarray(svd.measured).sum())
    steps = []
    for k, (_, t_next) in enumerate(pairs):
        a_next = np.float32(alphas[t_next + 1])
        sigma_next = np.float32(np.sqrt(1 - a_next) / np.sqrt(a_next))
        full = np.zeros((3, singulars.size), np.float32)
        full[0] = arrays[f"z_c_{k:03d}"].reshape(-1)
        full[1, np.flatnonzero(np.asarray(svd.measured) & (singulars * sigma_next < sigma_y))] = \
            arrays[f"z_a_{k:03d}"].reshape(-1)
        full[2, :measured_len] = arrays[f"z_b_{k:03d}"].reshape(-1)
        steps.append(full)
    return np.asarray(steps)


def run(args):
    from jaxinv.solvers.ddrm import ddrm_alphas, ddrm_solver, ddrm_start
    from jaxinv.solvers.driver import run as drive

    spec, arrays = load_fixture(args)
    if spec.get("method") != "DDRM":
        raise ValueError(f"{args.fixture} is not a DDRM fixture (method {spec.get('method')!r})")
    if spec.get("batch", 1) != 1:
        raise ValueError("DDRM replay supports batch 1 fixtures")
    channels, size = arrays["x_T"].shape[1:3]
    operator = OriginalOperator(original_svd(spec["deg"], size, channels, arrays.get("kernel_1d")))
    sigma_y = float(spec["sigma_0"])
    alphas = ddrm_alphas(1000, "linear")
    seq = np.asarray(arrays["timesteps"], np.int64)
    pairs = np.stack([seq[::-1], np.concatenate([[-1], seq[:-1]])[::-1]], axis=1).astype(np.int32)
    z = recorded_noise(arrays, operator.svd(), pairs, sigma_y, alphas)
    module, params, eps_model_of = load_model(args.checkpoint, args.model_config)

    @jax.jit
    def replay(params, y, z_start, z):
        solver = ddrm_solver(eps_model_of(module, params), alphas, operator, y, sigma_y, eta=float(spec["eta"]),
                             eta_b=float(spec["etaB"]))
        x_T = ddrm_start(alphas, operator, y, sigma_y, int(pairs[0, 0]), z_start)
        xs = {"t": jnp.asarray(pairs[:, 0]), "t_next": jnp.asarray(pairs[:, 1]), "z": z}
        return drive(solver, x_T, xs)["sample"]

    out = np.asarray(replay(params, jnp.asarray(arrays["y"][0], jnp.float32),
                            jnp.asarray(arrays["x_T"].reshape(-1), jnp.float32), jnp.asarray(z)))
    expected = nhwc(arrays["out"])
    print(f"max|out|={np.abs(expected).max():.6g}")
    threshold = THRESHOLD_REL["deblur_gauss" if spec["deg"] == "deblur_gauss" else "sr"]
    return float(np.abs(out - expected).max()), threshold * float(np.abs(expected).max())
