"""imagenet / pgdm / gaussian_deblur: NVlabs/RED-diff _configs/algo/pgdm.yaml: eta 0, grad_term_weight 1,
awd True, sigma_y 0; algo.deg deblur_gauss, exp.num_steps 100 (README).
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "pgdm", "gaussian_deblur")
