"""sony/g2d2 preset 'gblur_ffhq' (util/experiments.py; reported VGG LPIPS 0.292)."""
from configs.g2d2.base import base_config


def get_config():
    return base_config(task="gaussian_blur", dataset="FFHQ", lr=15.0, lr_width=1.0, guidance_scale=1.0)
