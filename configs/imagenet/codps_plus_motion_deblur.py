"""imagenet / codps_plus / motion_deblur: CSIPlab/CoDPS
configs/IMAGENET/DDIM/motion_deblur_config.yaml: method CoDPS+, scale 0.04, t_div 25, div_ratio 4,
inv_var 2, use_A_AT True, noise gaussian 0.05; respacing ddim100, eta 1.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "codps_plus", "motion_deblur")
