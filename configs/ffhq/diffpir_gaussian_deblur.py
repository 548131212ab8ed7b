"""ffhq / diffpir / gaussian_deblur: yuanzhi-zhu/DiffPIR configs/deblur.yaml with main_ddpir.py's task
block: lambda 7.0, zeta 0.3, eta 0, 100 iterations (quad), noise sigma 0.1 in [-1, 1] (the script
draws each image's std as 3 |2 U + 1| (np.random.seed(10 idx)); here the paper's fixed std 3).
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "diffpir", "gaussian_deblur")
