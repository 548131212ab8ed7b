"""imagenet / spgd / inpaint_box: 74587887/SPGD config/task/inpainting.yaml: num_steps (J) 5, lr 5e-05,
sigma 0.05; config/sampler/edm_spgd.yaml: 200 steps, sigma_max 100, sigma_min 0.1, poly-7; variant
code (released momentum unused) (the file's `tau: 0.01` (a DAPS leftover that makes `SPGD(...)`
raise TypeError) is dropped; its lr 5e-5, also a DAPS leftover, is kept as written, so guidance is
nearly off).
"""
from configs.presets import preset


def get_config():
    return preset("imagenet", "spgd", "inpaint_box")
