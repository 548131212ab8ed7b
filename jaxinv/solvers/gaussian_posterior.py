"""Closed-form posteriors for linear Gaussian measurements y = A x + s n of vectors x (shape (d, 1, 1)).

Gaussian prior N(mu, diag(c)):   Sigma = (diag(1/c) + A^T A / s^2)^{-1},  m = Sigma (mu / c + A^T y / s^2).
Mixture prior sum_k w_k N(mu_k, diag(c_k)): the posterior is sum_k w'_k N(m_k, Sigma_k) with each
component updated as above and w'_k proportional to w_k N(y; A mu_k, A diag(c_k) A^T + s^2 I).
Also a dense-matrix operator with the spectral view (for CoDPS and the spectral methods) and the
sliced Wasserstein distance.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinv.operators.spectral import SVD, Spectral


@struct.dataclass
class MatrixOperator:
    """y = M vec(x) on one (d, 1, 1) 'image'; output shape (m, 1, 1), with the spectral view of M M^T."""

    matrix: jax.Array

    @property
    def image_shape(self):
        return (self.matrix.shape[1], 1, 1)

    def forward(self, x):
        if x.shape != self.image_shape:
            raise ValueError(f"MatrixOperator: expected one vector of shape {self.image_shape}, got {x.shape}")
        return (self.matrix @ x.reshape(-1)).reshape(-1, 1, 1)

    __call__ = forward

    def adjoint(self, y):
        return (self.matrix.T @ y.reshape(-1)).reshape(self.image_shape)

    def spectral(self):
        """M M^T = U diag(l) U^T by `eigh` (negative round-off clipped to 0)."""
        eig, basis = jnp.linalg.eigh(self.matrix @ self.matrix.T)
        return Spectral(ut=lambda y: (basis.T @ y.reshape(-1)).reshape(y.shape),
                        u=lambda c: (basis @ c.reshape(-1)).reshape(c.shape),
                        eigenvalues=jnp.maximum(eig, 0.0).reshape(-1, 1, 1))

    def svd(self):
        """M = U S V^T by `jnp.linalg.svd` (m <= d rows): the grid is the d coordinates of V^T x."""
        m, d = self.matrix.shape
        u, s, vt = jnp.linalg.svd(self.matrix, full_matrices=True)
        column = lambda a: a.reshape(-1, 1, 1)  # noqa: E731
        return SVD(vt=lambda x: column(vt @ x.reshape(-1)), v=lambda c: column(vt.T @ c.reshape(-1)),
                   ut=lambda y: column(jnp.pad(u.T @ y.reshape(-1), (0, d - m))),
                   u=lambda c: column(u @ c.reshape(-1)[:m]), singulars=column(jnp.pad(s, (0, d - m))),
                   measured=column(jnp.arange(d) < m))


def gaussian_posterior(mean, var, matrix, y, noise_sigma):
    """(m, Sigma) of x | y for x ~ N(mean, diag(var)) (float64 numpy; vectors flattened)."""
    mean, var = np.asarray(mean, np.float64).ravel(), np.asarray(var, np.float64).ravel()
    a, y = np.asarray(matrix, np.float64), np.asarray(y, np.float64).ravel()
    s2 = float(noise_sigma) ** 2
    precision = np.diag(1.0 / var) + a.T @ a / s2
    cov = np.linalg.inv(precision)
    cov = 0.5 * (cov + cov.T)
    return cov @ (mean / var + a.T @ y / s2), cov


def mixture_posterior(weights, means, variances, matrix, y, noise_sigma):
    """(w', m_k, Sigma_k) of x | y for a diagonal Gaussian-mixture prior (means/variances (K, ...))."""
    weights = np.asarray(weights, np.float64)
    a, y = np.asarray(matrix, np.float64), np.asarray(y, np.float64).ravel()
    s2 = float(noise_sigma) ** 2
    logw, post_means, post_covs = [], [], []
    for w, mu, c in zip(weights, np.asarray(means, np.float64), np.asarray(variances, np.float64)):
        mu, c = mu.ravel(), c.ravel()
        m, cov = gaussian_posterior(mu, c, a, y, noise_sigma)
        evidence_cov = a @ np.diag(c) @ a.T + s2 * np.eye(a.shape[0])
        r = y - a @ mu
        _, logdet = np.linalg.slogdet(evidence_cov)
        logw.append(np.log(w) - 0.5 * (r @ np.linalg.solve(evidence_cov, r) + logdet))
        post_means.append(m)
        post_covs.append(cov)
    logw = np.array(logw)
    post_w = np.exp(logw - logw.max())
    return post_w / post_w.sum(), np.stack(post_means), np.stack(post_covs)


def sample_mixture(rng: np.random.Generator, weights, means, covs, n: int) -> np.ndarray:
    """n draws (n, d) of sum_k w_k N(means_k, covs_k) (full covariances)."""
    comp = rng.choice(len(weights), size=n, p=np.asarray(weights) / np.sum(weights))
    out = np.empty((n, means.shape[1]))
    for k in range(len(weights)):
        idx = np.nonzero(comp == k)[0]
        if idx.size:
            chol = np.linalg.cholesky(covs[k] + 1e-12 * np.eye(covs.shape[1]))
            out[idx] = means[k] + rng.standard_normal((idx.size, means.shape[1])) @ chol.T
    return out


def mixture_moments(weights, means, covs):
    """Mean and marginal variances of a Gaussian mixture."""
    w = np.asarray(weights)[:, None]
    mean = (w * means).sum(0)
    second = (w * (np.diagonal(covs, axis1=1, axis2=2) + means ** 2)).sum(0)
    return mean, second - mean ** 2


def sliced_wasserstein(rng: np.random.Generator, a, b, num_projections: int = 256) -> float:
    """SW_2 = sqrt(E_theta W_2^2(theta^T a, theta^T b)), theta uniform on the sphere; equal sample counts."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs equal sample sets, got {a.shape} and {b.shape}")
    theta = rng.standard_normal((a.shape[1], num_projections))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    pa, pb = np.sort(a @ theta, axis=0), np.sort(b @ theta, axis=0)
    return float(np.sqrt(np.mean((pa - pb) ** 2)))
