"""imagenet / ddrm / colorization: bahjat-kawar/ddrm README.md / runners/diffusion.py: --deg color
--timesteps 20 --eta 0.85 --etaB 1 --sigma_0 0.05 (0.1 in [-1, 1]) (the code's weights 0.3333 / 0.3334 /
0.3333; here the mean).
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "ddrm", "colorization")
