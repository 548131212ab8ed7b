"""Default tree of `experiments.ggdm_image`: GGDM reward guidance on the demo prior (pixel space).

32×32 samples of the demo ADM (linear β, 1000 steps) with a 50-step respaced DDPM, batch 8 per
seed, three seeds as one vmap, four rounds after the unguided round 0. The reward raises the mean
of the red channel (`channel_mean`, channel 0) unless a preset says otherwise.
"""
import os

import ml_collections

import jaxinv


def image_config():
    c = ml_collections.ConfigDict()
    c.name = "ggdm_image"
    c.prior_dir = os.path.join(os.path.dirname(jaxinv.__file__), "demo", "prior")
    c.image_size = 32
    c.diffusion_steps = 1000
    c.noise_schedule = "linear"
    c.sampling_steps = 50                 # respaced DDPM (guided-diffusion `space_timesteps`)
    c.batch = 8
    c.seeds = (0, 1, 2)
    c.rounds = 4
    c.clip_denoised = True                # guided-diffusion's sampler default for image priors
    c.reuse_noise = True                  # every round starts from the same x_T and noise (SD experiment, seed > 0)
    c.scheme = "iterative"                # or "fixed_target"
    c.version = "v2"                      # iterative: "v1" = G, "v2" = G_loss
    c.delta = 0.1                         # iterative: y_i = δ + ⟨g_i, z_i⟩
    c.sigma = 0.1
    c.beta_coef = 1.0
    c.target = 0.5                        # fixed_target: y*
    c.strength = 1.0                      # fixed_target: the SD pipeline's `guidance`
    c.batch_coupled = False               # fixed_target: the original's (B,B) broadcast
    c.reward = ml_collections.ConfigDict(dict(name="channel_mean", channel=0, colour=(0.5, -0.2, -0.5)))
    c.onprior = ml_collections.ConfigDict(dict(timesteps=(50, 200, 500), seed=7))
    c.naive = ml_collections.ConfigDict(dict(lr=4.0, steps=300))
    c.timing = ml_collections.ConfigDict(dict(extra=("v1", "v2")))   # also time these samplers once
    c.output = ml_collections.ConfigDict(dict(root="runs"))
    return c


def get_config():
    return image_config()
