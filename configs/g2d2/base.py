"""Base config of G2D2 on VQ-Diffusion ITHQ (sony/g2d2 YAMLs + `util/experiments.py`; research note §1).

`solver` holds the fields of `jaxinv.solvers.g2d2.G2D2Settings`; the rest describes the task.
Values the presets override in the YAMLs (coef_forget 0.4, coef_kl 1e-4 for SR, type_posterior
"decouple_random") are not used; the preset values are.
"""
import ml_collections


def base_config(task: str, dataset: str, lr: float, lr_width: float, guidance_scale: float):
    c = ml_collections.ConfigDict()
    c.name = "g2d2"
    c.pipeline = "microsoft/vq-diffusion-ithq"   # a folder converted by convert/vq_diffusion.py
    c.dataset = dataset                          # ImageNet: prompt "a photo of {label}"; FFHQ: headshot prompt
    c.prompt = "a high-quality headshot of a person" if dataset == "FFHQ" else "a photo of {label}"
    c.image_size = 256
    c.task = task
    c.operator = ml_collections.ConfigDict(
        dict(name="super_resolution", params=dict(scale=4)) if task == "super_resolution"
        else dict(name="gaussian_blur", params=dict(kernel_size=61, sigma=3.0)))
    c.sigma_noise = 0.05                         # in [-1, 1] units
    c.guidance_scale = guidance_scale            # CFG w (two passes always, as the code)
    c.truncation_rate = 1.0
    c.solver = ml_collections.ConfigDict(dict(
        num_steps=100, num_inner=30, lr=lr, lr_width=lr_width, coef_kl=3e-4, kl_width=2.0,
        coef_forget=0.3, temperature=1.0, posterior="diffusion", decouple_truncation=0.95))
    c.metrics = ("psnr", "lpips_vgg")
    return c
