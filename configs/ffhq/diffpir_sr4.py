"""ffhq / diffpir / sr4: yuanzhi-zhu/DiffPIR configs/sisr.yaml with main_ddpir.py's task block: lambda
7.0, zeta 0.25, eta 0, 100 iterations (quad), noise sigma 0.1 in [-1, 1] (the script's y is MATLAB
bicubic (`imresize_np`, = this Resizer) but its data step assumes a blur-and-stride model with
kernels_bicubicx234.mat; here the data step is the exact prox of the operator that made y. lambda 7
is the deblur block's: the SR block sweeps 2..12).
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "diffpir", "sr4")
