"""imagenet / diffpir / motion_deblur: yuanzhi-zhu/DiffPIR configs/deblur.yaml (blur_mode motion) with
main_ddpir.py's task block: lambda 7.0, zeta 0.3, eta 0, 100 iterations (quad), noise sigma 0.1 in
[-1, 1].
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "diffpir", "motion_deblur")
