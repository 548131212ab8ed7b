"""ffhq / spgd / sr4: 74587887/SPGD config/task/down_sampling.yaml: num_steps (J) 5, lr 7.0, sigma
0.01; config/sampler/edm_spgd.yaml: 200 steps, sigma_max 100, sigma_min 0.1, poly-7; variant code
(released momentum unused).
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "spgd", "sr4")
