"""ffhq / ddrm / inpaint_random: bahjat-kawar/ddrm README.md / runners/diffusion.py: --deg inp --timesteps
20 --eta 0.85 --etaB 1 --sigma_0 0.05 (0.1 in [-1, 1]) (the code drops exactly half of the pixels
(randperm); here each pixel with p = 0.5).
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "ddrm", "inpaint_random")
