"""The cosine DDPM schedule of GGDMOptim `simulations/diffusion.py` (T = 200, s = 0.008).

alpha_bar(t) = cos(((t/T) + s)/(1 + s) · π/2)², normalised by alpha_bar(0), beta_t = 1 −
alpha_bar_{t+1}/alpha_bar_t clipped at 0.999: the betas of guided-diffusion's "cosine" schedule
(the normalisation cancels in the ratio). Everything in float64, then stored as float32 (the
reference `register_buffer` casts every buffer). Unlike guided-diffusion, the posterior log
variance is clamped at 1e-20 (denoising-diffusion-pytorch), hence a pytree of its own.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinv.diffusion.schedules import named_beta_schedule


@struct.dataclass
class CosineSchedule:
    betas: jnp.ndarray
    alphas_cumprod: jnp.ndarray
    sqrt_alphas_cumprod: jnp.ndarray          # α_t of the paper
    sqrt_one_minus_alphas_cumprod: jnp.ndarray  # √h_t
    sqrt_recip_alphas_cumprod: jnp.ndarray
    sqrt_recipm1_alphas_cumprod: jnp.ndarray
    posterior_mean_coef1: jnp.ndarray
    posterior_mean_coef2: jnp.ndarray
    posterior_log_variance_clipped: jnp.ndarray

    @property
    def num_steps(self) -> int:
        return self.betas.shape[0]


def make_schedule(num_steps: int = 200) -> CosineSchedule:
    """All buffers of `GaussianDiffusion.__init__` (s = 0.008), computed in float64 and cast to float32."""
    betas = named_beta_schedule("cosine", num_steps)
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
    f32 = lambda a: jnp.asarray(np.asarray(a, np.float64), jnp.float32)
    return CosineSchedule(
        betas=f32(betas), alphas_cumprod=f32(abar),
        sqrt_alphas_cumprod=f32(np.sqrt(abar)),
        sqrt_one_minus_alphas_cumprod=f32(np.sqrt(1.0 - abar)),
        sqrt_recip_alphas_cumprod=f32(np.sqrt(1.0 / abar)),
        sqrt_recipm1_alphas_cumprod=f32(np.sqrt(1.0 / abar - 1)),
        posterior_mean_coef1=f32(betas * np.sqrt(abar_prev) / (1.0 - abar)),
        posterior_mean_coef2=f32((1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar)),
        posterior_log_variance_clipped=f32(np.log(np.maximum(post_var, 1e-20))),
    )
