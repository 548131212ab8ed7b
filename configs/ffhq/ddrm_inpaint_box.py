"""ffhq / ddrm / inpaint_box: bahjat-kawar/ddrm README.md / runners/diffusion.py: --deg none: the DPS box
--timesteps 20 --eta 0.85 --etaB 1 --sigma_0 0.05 (0.1 in [-1, 1]).
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "ddrm", "inpaint_box")
