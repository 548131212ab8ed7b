"""The whole experiment tree for `python -m experiments.run`; preset files override a handful of fields.

Every field a solver, operator or data source reads is here with its default, so `--config.x.y=v`
works for any of them. Images are in [-1, 1]; noise levels are in those units (DPS's 0.05 is 0.025
on [0, 1]).
"""
import ml_collections
from ml_collections import config_dict

from jaxinv.solvers import registry


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "default"            # preset name; the run directory is output.root/name/<timestamp>
    c.source = ""                 # where the preset's values come from (file + values)
    c.seed = 0                    # PRNG seed of x_T, the sampler noise and the measurement noise

    # guided-diffusion ADM UNet, converted once by `python -m convert.adm`.
    c.model = ml_collections.ConfigDict()
    c.model.preset = "ffhq_10m"                       # jaxinv.models.adm.PRESETS key
    c.model.checkpoint_dir = "checkpoints/ffhq_10m"   # directory written by convert.adm
    c.model.torch_checkpoint = "ffhq_10m.pt"          # the original weights (named in the convert command)
    c.model.dtype = "float32"                         # compute dtype (parameters stay float32)
    c.model.remat = False                             # jax.checkpoint on blocks (backprop solvers, memory)

    # DDPM process of DPS / CoDPS (guided-diffusion `create_gaussian_diffusion`).
    c.diffusion = ml_collections.ConfigDict()
    c.diffusion.steps = 1000                  # training diffusion steps
    c.diffusion.noise_schedule = "linear"
    c.diffusion.respacing = "1000"            # "1000" (DDPM), "ddim100" (CoDPS+), "50", ...
    c.diffusion.var_type = "learned_range"    # model_var_type of the DDPM step
    c.diffusion.clip_denoised = True          # clamp x0_hat to [-1, 1]

    # EDM sigma annealing of SPGD (`config/sampler/edm_spgd.yaml`); sigma_final is forced to 0 as the code.
    c.annealing = ml_collections.ConfigDict()
    c.annealing.num_steps = 200
    c.annealing.sigma_max = 100.0
    c.annealing.sigma_min = 0.1
    c.annealing.schedule = "linear"
    c.annealing.timestep = "poly-7"

    # Forward operator: a `jaxinv.operators.OPERATORS` name and its `create` parameters.
    c.operator = ml_collections.ConfigDict()
    c.operator.name = "super_resolution"
    c.operator.params = ml_collections.ConfigDict({"scale": 4})
    c.operator.per_image = False   # a new mask / kernel per image (DPS masks, CoDPS motion kernels)
    c.operator.seed = 0            # numpy RandomState seed of masks and kernels (host side)

    c.noise = ml_collections.ConfigDict()
    c.noise.name = "gaussian"      # gaussian | poisson | clean
    c.noise.params = ml_collections.ConfigDict({"sigma": 0.05})

    # The method (`jaxinv.solvers.registry`: dps | codps | codps_plus | spgd | ddpm, or a classical
    # baseline: bicubic | pseudo_inverse | wiener | mean_fill) and every registered method's fields
    # with their defaults; each method reads only its own (their docs: `Method.fields` in its module).
    c.solver = registry.solver_config()

    c.data = ml_collections.ConfigDict()
    c.data.source = "image_folder"   # image_folder | npz | caption_csv | tfds
    c.data.path = "data/ffhq_256"    # folder, npz or CSV file, or a TFDS name
    c.data.split = "validation"      # tfds only
    c.data.start = 0
    c.data.end = config_dict.placeholder(int)   # None: to the end
    c.data.batch_size = 1
    c.data.image_size = 256

    c.eval = ml_collections.ConfigDict()
    c.eval.metrics = ("psnr", "ssim", "lpips", "fid")  # on [0, 1] images, as saved (8-bit) PNGs; fid: summary only
    c.eval.lpips_dir = "checkpoints/lpips_vgg"        # written by convert.lpips (LPIPS skipped when absent)
    c.eval.inception_dir = "checkpoints/pt_inception"  # written by convert.inception (FID skipped when absent)
    c.eval.fid_reference = config_dict.placeholder(str)  # pytorch-fid .npz; None: label images
    c.eval.fid_batch_size = 50
    c.eval.num_samples = 1              # posterior samples per measurement (> 1: mean and std images)
    c.eval.oracle_best_of_n = False     # pick the sample closest to the GROUND TRUTH (oracle; labelled as such)

    # How the sampling steps run (jaxinv.execution): "scan" one lax.scan program, "host" one jitted
    # step per call from Python (faster on XLA:CPU), "auto" host on the CPU and scan elsewhere.
    c.execution = ml_collections.ConfigDict()
    c.execution.loop = "auto"

    c.output = ml_collections.ConfigDict()
    c.output.root = "runs"
    c.output.grid_images = 8            # images (rows) in grid.png
    c.output.progress = True            # a bar over the sampling steps of each batch (with the residual)
    return c
