"""The spectral (SVD-like) view of a linear operator, and everything derived from it.

A linear operator A that admits it returns `Spectral(ut, u, eigenvalues, gain)` from
`operator.spectral()`: an orthogonal basis U of the measurement space in which

    A A^T = U diag(lambda) U^T,        lambda = s^2 (s the singular values of A),

applied without dense matrices: per-axis matrices for separable operators (`ut(y) = U_h^T y U_w`),
the 2-D FFT for circular blurs and CoDPS's SR, the identity for masks, denoising and colourisation.
`ut(y)` gives the coefficients (complex for an FFT), `u` is its inverse, `eigenvalues` broadcast
against the coefficients and `gain` = |ut(y)| / |y| (sqrt(N) for an unnormalised FFT, else 1).

With V_r = A^T U S^{-1} (the row space of A; A = U S V_r^T) one mechanism gives

    gram_solve:        (s2 I + v A A^T)^{-1} r          = U (s2 + v lambda)^{-1} U^T r   (CoDPS, PiGDM)
    pseudo_inverse:    A^+ y                            = A^T U lambda^{-1} U^T y        (DDNM, baselines)
    prox:              (A^T A + rho I)^{-1} (A^T y + rho x) = x + A^T (rho I + A A^T)^{-1} (y - A x)  (DiffPIR)
    null_project:      (I - A^+ A) x

in unit-norm coordinates; lambda^{-1} is 0 where lambda = 0 (directions A does not see). A solver
that needs the view calls `spectral_of(operator, what)`, which names the operators that have it when
this one does not.

DDRM works on every coordinate of x, the null space included, so it needs the full SVD
A = U S V^T: `operator.svd()` returns `SVD(vt, v, ut, u, singulars, measured)` on a real coefficient
grid of the image's shape (per-axis SVDs for the separable operators, the identity for masks and
denoising, a per-pixel 3 x 3 basis for colourisation); `svd_of(operator, what)` is its `spectral_of`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp


class Spectral(NamedTuple):
    """A A^T = U diag(eigenvalues) U^T; `ut` = U^T up to `gain`, `u` its inverse (real measurements)."""
    ut: Callable
    u: Callable
    eigenvalues: jnp.ndarray
    gain: float = 1.0


# The samplers that start from A^+ y of a noisy y (PiGDM, RED-diff, DiffPIR's SR) drop singular values below
# this share of the largest: A^+ amplifies the noise by 1 / s (the demo's circular 13 x 13 Gaussian blur,
# sigma 1.5, at 64^2 has s down to 1.6e-9).
START_RCOND = 1e-2


def safe_divide(a, b):
    """a / b where b > 0, else 0 (a direction with no singular value carries no information)."""
    positive = b > 0
    return jnp.where(positive, a / jnp.where(positive, b, 1), 0)


def _view_of(operator, method: str, condition: str, what: str, needs: str):
    """`operator.<method>()`, or a ValueError naming `what`, what it needs and the registered operators whose
    `condition` class attribute says they have it (None = never, "" = always, else when)."""
    view = getattr(operator, method)() if callable(getattr(operator, method, None)) else None
    if view is None:
        from jaxinv.operators.base import OPERATORS

        have = ", ".join(f"{name} ({getattr(cls, condition)})" if getattr(cls, condition) else name
                         for name, cls in sorted(OPERATORS.items()) if getattr(cls, condition) is not None)
        raise ValueError(f"{what} needs {needs}; {type(operator).__name__} has none. Operators that have it: {have}")
    return view


def spectral_of(operator, what: str) -> Spectral:
    """`operator.spectral()`, or a ValueError naming `what` needs it and the operators that have it."""
    return _view_of(operator, "spectral", "spectral_condition", what, "a linear operator with a spectral (SVD) view")


def gram_solve(operator, r, s2, v, what: str = "the Gram solve"):
    """(s2 I + v A A^T)^{-1} r for a measurement-shaped r."""
    view = spectral_of(operator, what)
    return view.u(view.ut(r) / (s2 + v * view.eigenvalues)).astype(r.dtype)


def pseudo_inverse(operator, y, what: str = "the pseudo-inverse", rcond: float = 0.0):
    """A^+ y = A^T (A A^T)^+ y, the minimum-norm least-squares solution; singular values below `rcond`
    times the largest count as 0 (numpy's `pinv` convention)."""
    view = spectral_of(operator, what)
    eigenvalues = view.eigenvalues
    if rcond > 0:
        eigenvalues = jnp.where(eigenvalues > rcond**2 * jnp.max(eigenvalues), eigenvalues, 0)
    return operator.adjoint(view.u(safe_divide(view.ut(y), eigenvalues)).astype(y.dtype))


def prox(operator, y, x, rho, what: str = "the data proximal step"):
    """argmin_z ||y - A z||^2 + rho ||z - x||^2 = x + A^T (rho I + A A^T)^{-1} (y - A x)."""
    return x + operator.adjoint(gram_solve(operator, y - operator.forward(x), rho, 1.0, what))


def null_project(operator, x, what: str = "the null-space projection"):
    """(I - A^+ A) x: the part of x that the measurement does not see."""
    return x - pseudo_inverse(operator, operator.forward(x), what)


class SVD(NamedTuple):
    """A = U S V^T on a grid of the image's shape: `vt(x)` = V^T x and `v` its inverse (orthogonal);
    `ut(y)` = U^T y on the `measured` grid entries (0 elsewhere) and `u(c)` = U c of those entries;
    `singulars` broadcast against the grid, 0 where A does not see (unmeasured or truncated)."""
    vt: Callable
    v: Callable
    ut: Callable
    u: Callable
    singulars: jnp.ndarray
    measured: jnp.ndarray


def svd_of(operator, what: str) -> SVD:
    """`operator.svd()`, or a ValueError naming `what` needs it and the operators that have it."""
    return _view_of(operator, "svd", "svd_condition", what,
                    "a linear operator with a full SVD (A = U S V^T with V^T on every pixel)")


def separable_spectral(basis_h, eig_h, basis_w, eig_w) -> Spectral:
    """A = M_h (x) M_w on (h, w, C) measurements: U = U_h (x) U_w, eigenvalues l_h l_w^T."""
    return Spectral(ut=lambda y: jnp.einsum("ia,jb,ijc->abc", basis_h, basis_w, y),
                    u=lambda c: jnp.einsum("ia,jb,abc->ijc", basis_h, basis_w, c),
                    eigenvalues=eig_h[:, None, None] * eig_w[None, :, None])
