"""ffhq / dps / gaussian_deblur: DPS2022/diffusion-posterior-sampling
configs/gaussian_deblur_config.yaml: method ps, scale 0.3, noise gaussian 0.05;
configs/diffusion_config.yaml: ddpm, 1000 steps, learned_range.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "dps", "gaussian_deblur")
