"""experiments.prior_eval: the held-out eps-MSE against two predictors whose loss is known."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.prior_eval import held_out_loss
from jaxinv.diffusion import make_schedule


class _Predictor:
    """`apply({"params": ...}, x, t)` of an eps model: the exact one for x0 = 0, or zero."""

    def __init__(self, exact: bool):
        self.exact, self.abar = exact, jnp.asarray(make_schedule(1000).alphas_cumprod, jnp.float32)

    def apply(self, variables, x, t):
        eps = x / jnp.sqrt(1 - self.abar[t])[:, None, None, None] if self.exact else jnp.zeros_like(x)
        return jnp.concatenate([eps, eps], axis=-1)   # learn_sigma layout: the variance half is ignored


def test_held_out_loss_of_known_predictors():
    images = np.zeros((2, 8, 8, 3), np.float32)
    exact = held_out_loss(_Predictor(True), {}, images, [10, 500], draws=2)
    assert exact["loss"] == pytest.approx(0.0, abs=1e-10)
    zero = held_out_loss(_Predictor(False), {}, images, [10, 500], draws=4)
    n = 4 * images.size                 # E[eps^2] = 1 with std sqrt(2 / n) per timestep
    assert set(zero["per_timestep"]) == {10, 500}
    for value in zero["per_timestep"].values():
        assert value == pytest.approx(1.0, abs=5 * np.sqrt(2 / n))
