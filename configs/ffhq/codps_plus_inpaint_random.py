"""ffhq / codps_plus / inpaint_random: CSIPlab/CoDPS configs/FFHQ/DDIM/inpainting_config.yaml: method
CoDPS+, scale 0.4, t_div 10, div_ratio 100, inv_var 0, use_A_AT True, noise gaussian 0.05; respacing
ddim100, eta 1.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "codps_plus", "inpaint_random")
