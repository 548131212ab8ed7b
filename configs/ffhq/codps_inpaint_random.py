"""ffhq / codps / inpaint_random: CSIPlab/CoDPS configs/FFHQ/DDPM/inpainting_config.yaml: method CoDPS,
scale 0.4, t_div 80, div_ratio 1000.0, inv_var 500.0, use_A_AT True, noise gaussian 0.05; respacing
1000.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "codps", "inpaint_random")
