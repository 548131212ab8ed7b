"""ffhq / dps / phase_retrieval: DPS2022/diffusion-posterior-sampling
configs/phase_retrieval_config.yaml: method ps, scale 1.0, noise gaussian 0.05;
configs/diffusion_config.yaml: ddpm, 1000 steps, learned_range.
"""
from configs.presets import preset


def get_config():
    return preset("ffhq", "dps", "phase_retrieval")
