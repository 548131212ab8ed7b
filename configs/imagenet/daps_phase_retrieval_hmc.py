"""imagenet / daps / phase_retrieval_hmc: zhangbingliang2019/DAPS configs/task/phase_retrieval.yaml block
pixel_hmc: hmc, num_steps 62, lr 9.75e-06, lr_min_ratio 0.019, momentum 0.73, tau 0.01, prior_solver
gaussian, sigma 0.05; configs/sampler/edm_daps.yaml: 200 steps, sigma 100 -> 0.1, poly-7, PF-ODE 5 steps
to 0.01.
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "daps", "phase_retrieval_hmc")
