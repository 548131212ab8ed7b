"""ffhq / dps / inpaint_box: DPS2022/diffusion-posterior-sampling configs/inpainting_config.yaml (its
commented `mask_len_range (128, 129)` line): method ps, scale 0.5, noise gaussian 0.05;
configs/diffusion_config.yaml: ddpm, 1000 steps, learned_range.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "dps", "inpaint_box")
