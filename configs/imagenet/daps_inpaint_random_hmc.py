"""imagenet / daps / inpaint_random_hmc: zhangbingliang2019/DAPS configs/task/inpainting_rand.yaml block
pixel_hmc: hmc, num_steps 11, lr 3.56e-05, lr_min_ratio 0.015, momentum 0.8, tau 0.01, prior_solver
gaussian, sigma 0.05; configs/sampler/edm_daps.yaml: 200 steps, sigma 100 -> 0.1, poly-7, PF-ODE 5 steps
to 0.01.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "daps", "inpaint_random_hmc")
