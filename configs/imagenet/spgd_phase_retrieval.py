"""imagenet / spgd / phase_retrieval: 74587887/SPGD config/task/phase_retrieval.yaml: num_steps (J) 5,
lr 2.0, sigma 0.05; config/sampler/edm_spgd.yaml: 200 steps, sigma_max 100, sigma_min 0.1, poly-7;
variant code (released momentum unused).
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "spgd", "phase_retrieval")
