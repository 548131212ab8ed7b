"""Base config of G2D2 on VQ-Diffusion ITHQ (sony/g2d2 YAMLs + `util/experiments.py`; research note §1).

`solver.g2d2` holds the fields of `jaxinv.solvers.g2d2.G2D2Settings` and the pipeline's knobs; the
rest is `configs/defaults.py` like every method. Values the presets override in the YAMLs
(coef_forget 0.4, coef_kl 1e-4 for SR, type_posterior "decouple_random") are not used; the preset
values are. Run with
`python -m experiments.run --config configs/g2d2/sr_ffhq.py --config.data.path=captions.csv`.
The image size must be the converted pipeline's (256, latent grid 32x32, for ITHQ).
"""
from configs.defaults import get_config

PRESETS_FILE = "sony/g2d2 util/experiments.py"


def base_config(task: str, dataset: str, lr: float, lr_width: float, guidance_scale: float):
    c = get_config()
    preset = f"{'sr' if task == 'super_resolution' else 'gblur'}_{dataset.lower()}"
    c.name = f"g2d2_{preset}"
    c.source = (f"{PRESETS_FILE} preset '{preset}': lr {lr}, lr_width {lr_width}, guidance_scale {guidance_scale}; "
                "the rest from the YAMLs")
    # written by `python -m convert.vq_diffusion --pipeline <microsoft/vq-diffusion-ithq> --output ...`
    c.model.preset = "vq-diffusion-ithq"
    c.model.checkpoint_dir = "checkpoints/vq-diffusion-ithq"
    c.model.torch_checkpoint = "the diffusers microsoft/vq-diffusion-ithq folder"
    c.solver.name = "g2d2"
    c.solver.g2d2.update(lr=lr, lr_width=lr_width, guidance_scale=guidance_scale, truncation_rate=1.0,
                         num_steps=100, num_inner=30, coef_kl=3e-4, kl_width=2.0, coef_forget=0.3, temperature=1.0,
                         posterior="diffusion", decouple_truncation=0.95)
    # sony/g2d2 uses the CSV caption as the prompt; this is used only for rows with an empty caption
    # (ImageNet's "{label}" cannot be filled without the caption, so such rows are refused).
    c.solver.g2d2.prompt = "a high-quality headshot of a person" if dataset == "FFHQ" else "a photo of {label}"
    # sony/g2d2: SuperResolutionOperator = Resizer(in_shape, 1/4) (antialiased bicubic, mirror
    # boundary, as DPS); GaussianBlurOperator = ReflectionPad2d(30) + 61x61 depthwise conv, sigma 3.
    c.operator.name = task
    c.operator.params = dict(scale=4) if task == "super_resolution" else dict(kernel_size=61, sigma=3.0,
                                                                              padding="reflect")
    c.noise.params.sigma = 0.05                  # in [-1, 1] units
    c.data.source = "caption_csv"                # columns image_path,caption (sony/g2d2's)
    c.data.path = "data/captions.csv"
    c.data.image_size = 256
    c.execution.loop = "scan"                    # G2D2's steps are one lax.scan
    return c
