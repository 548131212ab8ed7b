"""imagenet / reddiff / sr4_average: NVlabs/RED-diff _configs/algo/reddiff.yaml with README.md's algo.lr
0.5, grad_term_weight 0.25: obs_weight 1, denoise_term_weight linear, sigma_x0 0, sigma_y 0; algo.deg
sr4, exp.num_steps 100.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "reddiff", "sr4_average")
