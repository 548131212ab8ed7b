"""imagenet / ddrm / gaussian_deblur: bahjat-kawar/ddrm README.md / runners/diffusion.py: --deg
deblur_gauss --timesteps 20 --eta 0.85 --etaB 1 --sigma_0 0.05 (0.1 in [-1, 1]) (its Deblurring pairs
the channels' singular values wrongly (docs/baselines.md); here the blur it builds).
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "ddrm", "gaussian_deblur")
