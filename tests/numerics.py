"""The bound for tests that compare two compiled programs of one float32 computation.

Two XLA programs of the same computation (another per-device batch shape, a loop body against
the same step at the top level, two processes' thread pools) round differently, so they agree
only to rounding, and only where the computation is a smooth function of its inputs. DPS
differentiates through clip(x0_hat, -1, 1), whose derivative jumps from 1 to 0 at +-1: one
pre-clamp value within rounding of the clip changes that pixel's guidance by O(scale) (5.4e-4
was seen on one machine). Tests that compare two programs therefore run DPS with
`diffusion.clip_denoised=False`; CoDPS and CoDPS+ clamp but never differentiate through the clamp
(a 1-Lipschitz map), SPGD has no clamp. On a smooth map a last-bit difference in one operation
grows only with the few steps' condition number, so the programs agree to ROUNDING_RTOL of the
largest |value|: 2^-12, about 4000 ulps. Measured on 4 vs 1 devices: DPS and the sweep 2.3e-7 to
3.5e-7 of max|x| = 800; CoDPS+ 1.0e-5, the most, because its first steps multiply the guidance by
scale / sqrt(abar) = 0.4 * 157. A row placed on the wrong device, gathered out of order or given
another image's key differs by O(max|x|), thousands of times the bound.
"""
from __future__ import annotations

import numpy as np

ROUNDING_RTOL = 2.0 ** -12


def assert_rounding_close(actual, expected, what: str, rtol: float = ROUNDING_RTOL) -> None:
    """max |actual - expected| <= rtol max |expected|."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shapes {actual.shape} != {expected.shape}"
    err, bound = np.abs(actual - expected).max(), rtol * np.abs(expected).max()
    assert err <= bound, f"{what}: the two programs differ by {err:.3g} > {bound:.3g}"
