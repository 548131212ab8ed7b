"""ffhq / codps_plus / sr4: CSIPlab/CoDPS configs/FFHQ/DDIM/super_resolution_config.yaml: method
CoDPS+, scale 0.05, t_div 15, div_ratio 5, inv_var 2, use_A_AT True, noise gaussian 0.05; respacing
ddim100, eta 1.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "codps_plus", "sr4")
