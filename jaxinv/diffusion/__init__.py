"""Diffusion processes: DDPM schedules (respaced, as pytrees), DDPM/DDIM steps, the VP -> EDM
preconditioning, annealing sigma schedules, and one denoiser interface for networks and
closed-form priors."""
from jaxinv.diffusion.ddpm import (
    ddim_step,
    ddpm_step,
    model_log_variance,
    no_network_gradient,
    p_mean_variance,
    predict_eps_from_x0,
    predict_x0_from_eps,
    q_posterior_mean,
    q_sample,
    split_model_output,
)
from jaxinv.diffusion.denoisers import (
    Prior,
    base_alphas_cumprod,
    denoiser_prior,
    eps_model_from_denoiser,
    flax_eps_model,
    gaussian_denoiser,
    gaussian_mixture_denoiser,
    network_prior,
)
from jaxinv.diffusion.edm import (
    AnnealingSchedule,
    VPPrecond,
    annealing_schedule,
    log_time_steps,
    poly_time_steps,
)
from jaxinv.diffusion.schedules import (
    VARIANCE_TYPES,
    DiffusionSchedule,
    betas_for_alpha_bar,
    make_schedule,
    named_beta_schedule,
    respace_betas,
    schedule_from_betas,
    space_timesteps,
)

__all__ = [
    "AnnealingSchedule", "DiffusionSchedule", "Prior", "VARIANCE_TYPES", "VPPrecond", "annealing_schedule",
    "base_alphas_cumprod", "betas_for_alpha_bar", "ddim_step", "ddpm_step", "denoiser_prior",
    "eps_model_from_denoiser", "flax_eps_model", "gaussian_denoiser", "gaussian_mixture_denoiser",
    "log_time_steps", "make_schedule", "model_log_variance", "named_beta_schedule", "network_prior", "no_network_gradient", "p_mean_variance",
    "poly_time_steps", "predict_eps_from_x0", "predict_x0_from_eps", "q_posterior_mean", "q_sample",
    "respace_betas", "schedule_from_betas", "space_timesteps", "split_model_output",
]
