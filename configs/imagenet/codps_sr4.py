"""imagenet / codps / sr4: CSIPlab/CoDPS configs/IMAGENET/DDPM/super_resolution_config.yaml: method
CoDPS, scale 0.02, t_div 200, div_ratio 10, inv_var 0.01, use_A_AT True, noise gaussian 0.05;
respacing 1000.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "codps", "sr4")
