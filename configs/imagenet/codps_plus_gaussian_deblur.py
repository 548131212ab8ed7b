"""imagenet / codps_plus / gaussian_deblur: CSIPlab/CoDPS
configs/IMAGENET/DDIM/gaussian_deblur_config.yaml: method CoDPS+, scale 0.04, t_div 15, div_ratio 5,
inv_var 2, use_A_AT True, noise gaussian 0.05; respacing ddim100, eta 1.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "codps_plus", "gaussian_deblur")
