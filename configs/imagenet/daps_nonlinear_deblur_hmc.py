"""imagenet / daps / nonlinear_deblur_hmc: zhangbingliang2019/DAPS configs/task/nonlinear_blur.yaml block
pixel_hmc: hmc, num_steps 85, lr 1.2e-05, lr_min_ratio 0.012, momentum 0.46, tau 0.01, prior_solver
gaussian, sigma 0.05; configs/sampler/edm_daps.yaml: 200 steps, sigma 100 -> 0.1, poly-7, PF-ODE 5 steps
to 0.01.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "daps", "nonlinear_deblur_hmc")
