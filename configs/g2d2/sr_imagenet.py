"""sony/g2d2 preset 'sr_imagenet' (util/experiments.py; reported VGG LPIPS 0.360)."""
from configs.g2d2.base import base_config


def get_config():
    return base_config(task="super_resolution", dataset="ImageNet", lr=10.0, lr_width=2.0, guidance_scale=5.0)
