"""sony/g2d2 preset 'sr_ffhq' (util/experiments.py; reported VGG LPIPS 0.268)."""
from configs.g2d2.base import base_config


def get_config():
    return base_config(task="super_resolution", dataset="FFHQ", lr=10.0, lr_width=2.0, guidance_scale=1.0)
