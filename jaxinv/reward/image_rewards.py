"""Differentiable rewards on ONE image (H, W, C) in [-1, 1], for the image guidance of GGDM.

* `channel_mean`: r(x) = (1/HW) Σ_{h,w} x[h, w, c] — linear, so its linearisation is exact and
  Algorithm 1's target y_i = δ + ⟨g_i, z_i⟩ = r(z_i) + δ asks each round for δ more;
* `mean_colour`: r(x) = −‖m(x) − c*‖², m(x) = (1/HW) Σ_{h,w} x[h, w, :] — concave, maximal (0)
  when the image's mean colour equals the target colour c*.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

IMAGE_REWARDS = ("channel_mean", "mean_colour")


def channel_mean(channel: int) -> Callable:
    def reward(image):
        return jnp.mean(image[..., channel])
    return reward


def mean_colour(colour) -> Callable:
    target = jnp.asarray(colour, jnp.float32)

    def reward(image):
        return -jnp.sum((jnp.mean(image, axis=(0, 1)) - target) ** 2)
    return reward


def make_image_reward(name: str, channel: int = 0, colour=(0.5, -0.2, -0.5), channels: int = 3) -> Callable:
    """The reward `name` with its parameters; unknown names and out-of-range channels raise."""
    if name == "channel_mean":
        if not 0 <= channel < channels:
            raise ValueError(f"reward channel {channel} out of range for {channels}-channel images")
        return channel_mean(channel)
    if name == "mean_colour":
        if len(colour) != channels:
            raise ValueError(f"target colour {tuple(colour)} must have {channels} entries")
        return mean_colour(colour)
    raise ValueError(f"unknown image reward {name!r}; expected one of {IMAGE_REWARDS}")
