"""ffhq / pgdm / colorization: NVlabs/RED-diff _configs/algo/pgdm.yaml: eta 0, grad_term_weight 1, awd
True, sigma_y 0; algo.deg color, exp.num_steps 100 (README).
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "pgdm", "colorization")
