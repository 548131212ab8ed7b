"""DDPM noise schedules and timestep respacing (guided-diffusion `gaussian_diffusion.py`, `respace.py`).

Everything here is computed host-side in float64 numpy exactly as guided-diffusion does, then
stored as float32 arrays in a `DiffusionSchedule` pytree (guided-diffusion's `_extract_into_tensor`
indexes the float64 arrays and casts the picked value to float32, which is the same thing).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

VARIANCE_TYPES = ("fixed_small", "fixed_large", "learned_range", "learned")


def betas_for_alpha_bar(num_steps: int, alpha_bar, max_beta: float = 0.999) -> np.ndarray:
    """beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), max_beta)."""
    return np.array([min(1.0 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta)
                     for i in range(num_steps)], dtype=np.float64)


def named_beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """guided-diffusion `get_named_beta_schedule`.

    linear: linspace(1e-4 s, 0.02 s, T) with s = 1000/T (Ho et al.);
    cosine: alpha_bar(t) = cos((t + 0.008)/1.008 * pi/2)^2 (Nichol & Dhariwal).
    """
    if num_steps <= 0:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    if name == "linear":
        scale = 1000 / num_steps
        return np.linspace(scale * 0.0001, scale * 0.02, num_steps, dtype=np.float64)
    if name == "cosine":
        return betas_for_alpha_bar(num_steps, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2)
    raise ValueError(f"unknown beta schedule {name!r}; expected 'linear' or 'cosine'")


def space_timesteps(num_timesteps: int, section_counts) -> list[int]:
    """guided-diffusion `space_timesteps`: the kept original timesteps, sorted.

    `section_counts` is an int, a list of ints, a string "10,20,30" (the process is cut into
    equal sections, section i keeps count_i steps evenly strided with `round`), or "ddimN"
    (the smallest integer stride i with len(range(0, T, i)) == N).
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            desired = int(section_counts[len("ddim"):])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return list(range(0, num_timesteps, stride))
            raise ValueError(f"cannot create exactly {desired} steps with an integer stride from {num_timesteps}")
        section_counts = [int(x) for x in section_counts.split(",")]
    elif isinstance(section_counts, int):
        section_counts = [section_counts]
    size_per, extra = divmod(num_timesteps, len(section_counts))
    start, steps = 0, []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide section of {size} steps into {count}")
        frac_stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.append(start + round(cur))
            cur += frac_stride
        start += size
    return sorted(set(steps))


def respace_betas(betas: np.ndarray, use_timesteps) -> tuple[np.ndarray, np.ndarray]:
    """`SpacedDiffusion`: new beta_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}} over the kept steps."""
    alphas_cumprod = np.cumprod(1.0 - np.asarray(betas, np.float64))
    keep = set(int(t) for t in use_timesteps)
    last, new_betas, timestep_map = 1.0, [], []
    for i, abar in enumerate(alphas_cumprod):
        if i in keep:
            new_betas.append(1.0 - abar / last)
            last = abar
            timestep_map.append(i)
    return np.array(new_betas, np.float64), np.array(timestep_map, np.int32)


@struct.dataclass
class DiffusionSchedule:
    """The arrays of a (respaced) guided-diffusion `GaussianDiffusion`, indexed by respaced step t.

    `timestep_map[t]` is the original timestep fed to the network (`_WrappedModel`).
    posterior q(x_{t-1} | x_t, x_0): mean = coef1 x_0 + coef2 x_t with
    coef1 = beta_t sqrt(abar_{t-1}) / (1 - abar_t), coef2 = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t),
    variance = beta_t (1 - abar_{t-1}) / (1 - abar_t), log variance clipped at t = 0 to its t = 1 value.
    """

    betas: jax.Array
    alphas_cumprod: jax.Array
    alphas_cumprod_prev: jax.Array
    sqrt_recip_alphas_cumprod: jax.Array
    sqrt_recipm1_alphas_cumprod: jax.Array
    posterior_variance: jax.Array
    posterior_log_variance_clipped: jax.Array
    posterior_mean_coef1: jax.Array
    posterior_mean_coef2: jax.Array
    log_betas: jax.Array
    fixed_large_log_variance: jax.Array
    timestep_map: jax.Array

    @property
    def num_steps(self) -> int:
        return int(self.betas.shape[0])


def schedule_from_betas(betas, timestep_map=None) -> DiffusionSchedule:
    """Build the schedule arrays from float64 betas (guided-diffusion `GaussianDiffusion.__init__`)."""
    betas = np.asarray(betas, np.float64)
    if betas.ndim != 1 or not ((betas > 0).all() and (betas <= 1).all()):
        raise ValueError("betas must be a 1-D array with values in (0, 1]")
    n = betas.shape[0]
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.append(1.0, abar[:-1])
    post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
    post_log_var = np.log(np.append(post_var[1], post_var[1:])) if n > 1 else np.log(np.maximum(post_var, 1e-20))
    fixed_large = np.append(post_var[1], betas[1:]) if n > 1 else betas
    if timestep_map is None:
        timestep_map = np.arange(n)
    f32 = lambda a: jnp.asarray(np.asarray(a, np.float64), jnp.float32)
    return DiffusionSchedule(
        betas=f32(betas),
        alphas_cumprod=f32(abar),
        alphas_cumprod_prev=f32(abar_prev),
        sqrt_recip_alphas_cumprod=f32(np.sqrt(1.0 / abar)),
        sqrt_recipm1_alphas_cumprod=f32(np.sqrt(1.0 / abar - 1.0)),
        posterior_variance=f32(post_var),
        posterior_log_variance_clipped=f32(post_log_var),
        posterior_mean_coef1=f32(betas * np.sqrt(abar_prev) / (1.0 - abar)),
        posterior_mean_coef2=f32((1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar)),
        log_betas=f32(np.log(betas)),
        fixed_large_log_variance=f32(np.log(fixed_large)),
        timestep_map=jnp.asarray(np.asarray(timestep_map), jnp.int32),
    )


def make_schedule(num_diffusion_steps: int = 1000, noise_schedule: str = "linear",
                  timestep_respacing=None) -> DiffusionSchedule:
    """guided-diffusion `create_gaussian_diffusion` + `SpacedDiffusion`.

    `timestep_respacing` None or "" keeps all steps; otherwise as `space_timesteps`.
    """
    betas = named_beta_schedule(noise_schedule, num_diffusion_steps)
    if timestep_respacing in (None, ""):
        timestep_respacing = [num_diffusion_steps]
    kept = space_timesteps(num_diffusion_steps, timestep_respacing)
    new_betas, timestep_map = respace_betas(betas, kept)
    return schedule_from_betas(new_betas, timestep_map)
