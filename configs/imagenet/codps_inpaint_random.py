"""imagenet / codps / inpaint_random: CSIPlab/CoDPS configs/IMAGENET/DDPM/inpainting_config.yaml:
method CoDPS, scale 0.02, t_div 80, div_ratio 100, inv_var 10, use_A_AT True, noise gaussian 0.05;
respacing 1000 (the file has no `noise:` block (the original crashes); sigma 0.05 of every other
CoDPS config is used).
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "codps", "inpaint_random")
