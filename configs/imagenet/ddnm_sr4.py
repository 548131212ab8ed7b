"""imagenet / ddnm / sr4: wyhuai/DDNM README.md / guided_diffusion/diffusion.py: --deg sr_bicubic 4 --eta
0.85 --sigma_y 0.0 (DDNM); configs/*.yml time_travel: T_sampling 100, travel_length 1, travel_repeat 1.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "ddnm", "sr4")
