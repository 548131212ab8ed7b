"""ffhq / daps / nonlinear_deblur: zhangbingliang2019/DAPS configs/task/nonlinear_blur.yaml block pixel:
langevin, num_steps 200, lr 1e-05, lr_min_ratio 0.01, tau 0.01, prior_solver gaussian, sigma 0.05;
configs/sampler/edm_daps.yaml: 200 steps, sigma 100 -> 0.1, poly-7, PF-ODE 5 steps to 0.01.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "daps", "nonlinear_deblur")
