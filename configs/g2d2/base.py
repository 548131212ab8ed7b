"""Base config of G2D2 on VQ-Diffusion ITHQ (sony/g2d2 YAMLs + `util/experiments.py`; research note §1).

`solver` holds the fields of `jaxinv.solvers.g2d2.G2D2Settings`; the rest describes the task.
Values the presets override in the YAMLs (coef_forget 0.4, coef_kl 1e-4 for SR, type_posterior
"decouple_random") are not used; the preset values are. Run with
`python -m experiments.g2d2 --config configs/g2d2/sr_ffhq.py --config.data.csv=captions.csv`.
The image size and latent grid come from the converted pipeline's configs (256 and 32x32 for ITHQ).
"""
import ml_collections


def base_config(task: str, dataset: str, lr: float, lr_width: float, guidance_scale: float):
    c = ml_collections.ConfigDict()
    c.name = f"g2d2_{'sr' if task == 'super_resolution' else 'gblur'}_{dataset.lower()}"
    # written by `python -m convert.vq_diffusion --pipeline <microsoft/vq-diffusion-ithq> --output ...`
    c.pipeline_dir = "checkpoints/vq-diffusion-ithq"
    c.dataset = dataset
    # sony/g2d2 uses the CSV caption as the prompt; this is used only for rows with an empty caption
    # (ImageNet's "{label}" cannot be filled without the caption, so such rows are refused).
    c.prompt = "a high-quality headshot of a person" if dataset == "FFHQ" else "a photo of {label}"
    c.task = task
    # sony/g2d2: SuperResolutionOperator = Resizer(in_shape, 1/4) (antialiased bicubic, mirror
    # boundary, as DPS); GaussianBlurOperator = ReflectionPad2d(30) + 61x61 depthwise conv, sigma 3.
    c.operator = ml_collections.ConfigDict(
        dict(name="super_resolution", params=dict(scale=4)) if task == "super_resolution"
        else dict(name="gaussian_blur", params=dict(kernel_size=61, sigma=3.0, padding="reflect")))
    c.sigma_noise = 0.05                         # in [-1, 1] units
    c.guidance_scale = guidance_scale            # CFG w (two passes always, as the code)
    c.truncation_rate = 1.0
    c.solver = ml_collections.ConfigDict(dict(
        num_steps=100, num_inner=30, lr=lr, lr_width=lr_width, coef_kl=3e-4, kl_width=2.0,
        coef_forget=0.3, temperature=1.0, posterior="diffusion", decouple_truncation=0.95))
    c.data = ml_collections.ConfigDict(dict(csv="data/captions.csv", start=0, end=ml_collections.FieldReference(None, int)))
    c.seed = 0
    c.output_root = "runs"
    c.grid_images = 8
    c.metrics = ("psnr", "ssim")                 # the paper reports VGG LPIPS, not implemented here
    return c
