"""sony/g2d2 preset 'gblur_imagenet' (util/experiments.py; reported VGG LPIPS 0.373)."""
from configs.g2d2.base import base_config


def get_config():
    return base_config(task="gaussian_blur", dataset="ImageNet", lr=15.0, lr_width=1.0, guidance_scale=5.0)
