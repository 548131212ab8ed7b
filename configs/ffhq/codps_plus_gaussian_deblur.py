"""ffhq / codps_plus / gaussian_deblur: CSIPlab/CoDPS configs/FFHQ/DDIM/gaussian_deblur_config.yaml:
method CoDPS+, scale 0.05, t_div 15, div_ratio 10, inv_var 1, use_A_AT True, noise gaussian 0.05;
respacing ddim100, eta 1.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "codps_plus", "gaussian_deblur")
