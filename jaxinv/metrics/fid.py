"""Fréchet Inception Distance (Heusel et al. 2017) on pytorch-fid's Inception pool3 features.

    FID = ||μ1 − μ2||² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2})

with (μ, Σ) the mean and covariance (`np.cov(rowvar=False)`, unbiased) of the 2048-d features of
each image set. `frechet_distance` is pytorch-fid's `calculate_frechet_distance` (scipy `sqrtm`, the
eps·I retry on a singular product, the imaginary-component check); statistics files are
pytorch-fid's `.npz` (`mu`, `sigma`), so its precomputed reference statistics can be used.
Σ has rank at most n − 1: with fewer images than feature dimensions (n < 2048) the value is biased
and not comparable with published FIDs — report n with it.
"""

from __future__ import annotations

import os
import warnings
from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from scipy import linalg

from jaxinv.models.inception import FEATURES, MODEL_NAME, FIDInceptionV3


def load_inception(directory: str | os.PathLike) -> Callable[[jax.Array], jax.Array]:
    """The jitted feature map `images (B, H, W, 3) in [0, 1] -> (B, 2048)` of a `convert.inception` dir."""
    from jaxinv.checkpoint import load_params

    variables, config = load_params(directory)
    if config.get("model") != MODEL_NAME:
        raise ValueError(f"{directory} holds {config.get('model')!r}, not converted Inception weights ({MODEL_NAME})")
    variables = jax.tree.map(jnp.asarray, variables)
    apply = jax.jit(lambda v, x: FIDInceptionV3().apply(v, x))
    return lambda images: apply(variables, images)


def inception_features(feature_fn: Callable[[jax.Array], jax.Array], images: np.ndarray | Iterable[np.ndarray],
                       batch_size: int = 50) -> np.ndarray:
    """(N, 2048) float32 features of (N, H, W, 3) images in [0, 1], `batch_size` at a time.

    The last batch is padded to `batch_size` so that one compiled shape serves every batch.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) images in [0, 1], got shape {images.shape}")
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        n = len(chunk)
        if n < batch_size and len(images) > batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], chunk.dtype)])
        out.append(np.asarray(jax.device_get(feature_fn(jnp.asarray(chunk))))[:n])
    return np.concatenate(out) if out else np.zeros((0, FEATURES), np.float32)


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) of (N, D) features, as pytorch-fid: `np.mean(axis=0)`, `np.cov(rowvar=False)`."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need (N, D) features with N >= 2 for a covariance, got shape {features.shape}")
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """d² = ||μ1 − μ2||² + Tr(Σ1 + Σ2 − 2 sqrt(Σ1 Σ2)) (pytorch-fid `calculate_frechet_distance`).

    If sqrtm(Σ1 Σ2) is not finite, retries with eps·I added to both covariances; a complex root
    whose diagonal has an imaginary part above 1e-3 raises `ValueError`, a smaller one is dropped.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors have different shapes {mu1.shape} and {mu2.shape}")
    if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"covariances {sigma1.shape} and {sigma2.shape} do not match the means {mu1.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        warnings.warn(f"FID: singular product of covariances; adding {eps} to their diagonals", RuntimeWarning)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: sqrt(Σ1 Σ2) has an imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def save_statistics(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray) -> None:
    """pytorch-fid's statistics file: `np.savez_compressed(path, mu=mu, sigma=sigma)`."""
    np.savez_compressed(path, mu=mu, sigma=sigma)


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) from a pytorch-fid `.npz` statistics file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"FID statistics file not found: {path}")
    with np.load(path) as f:
        missing = [k for k in ("mu", "sigma") if k not in f.files]
        if missing:
            raise ValueError(f"{path} is not a pytorch-fid statistics file: no {', '.join(missing)} "
                             f"(has {', '.join(f.files) or 'nothing'})")
        return f["mu"][:], f["sigma"][:]


def fid_of_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two (N, D) feature sets."""
    return frechet_distance(*activation_statistics(features1), *activation_statistics(features2))
