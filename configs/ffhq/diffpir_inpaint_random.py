"""ffhq / diffpir / inpaint_random: yuanzhi-zhu/DiffPIR configs/inpaint.yaml with main_ddpir.py's task
block: lambda 1.0, zeta 1.0, eta 0, 20 iterations (quad), noise sigma 0 in [-1, 1].
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "diffpir", "inpaint_random")
