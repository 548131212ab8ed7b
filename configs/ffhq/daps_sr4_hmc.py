"""ffhq / daps / sr4_hmc: zhangbingliang2019/DAPS configs/task/down_sampling.yaml block pixel_hmc: hmc,
num_steps 12, lr 0.000104, lr_min_ratio 0.012, momentum 0.9, tau 0.01, prior_solver gaussian, sigma
0.05; configs/sampler/edm_daps.yaml: 200 steps, sigma 100 -> 0.1, poly-7, PF-ODE 5 steps to 0.01.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "daps", "sr4_hmc")
