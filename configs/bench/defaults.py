"""The benchmark's default tree (`python -m experiments.bench`); files in configs/bench/ override it.

A case is `LAYOUT@IMAGE_SIZE`: a guided-diffusion layout of `jaxinv.models.adm.PRESETS` that
deepinv's `DiffUNet` also builds (ffhq_10m, imagenet_256_uncond), applied at that image size.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "bench"                       # run directory: output.root/name/<timestamp>
    c.seed = 0                             # weights, inputs and sampler keys
    c.cases = ("ffhq_10m@64",)
    c.dtypes = ("float32",)                # compute dtype; parameters stay float32 (torch: autocast)
    c.batch_sizes = (1, 2, 4)
    c.solvers = ("dps", "codps_plus", "spgd")
    # sampling steps each (the baselines for --config.solvers, e.g. '("dps","ddrm","diffpir")')
    c.steps = ml_collections.ConfigDict({"dps": 10, "codps_plus": 10, "spgd": 4, "diffpir": 10, "ddrm": 10,
                                         "ddnm": 10, "pgdm": 10, "reddiff": 10, "daps": 4})
    c.spgd_inner = 5                       # SPGD warm-up steps J per annealing step
    c.repeats = 3                          # timed calls per sampler and framework (median)
    c.unet_repeats = 5                     # timed calls per raw UNet measurement
    c.remat = False                        # jax.checkpoint on the UNet's blocks
    # Step loops of the JAX samplers (jaxinv.execution): "scan", "host" or "auto" (host on the CPU,
    # scan elsewhere: the runner's default). The first one gives the headline jax_over_torch_dps.
    c.loops = ("auto", "scan", "host")
    c.xla_flags = ""                       # appended to XLA_FLAGS before JAX starts
    c.peak_flops = ml_collections.ConfigDict({"float32": 0.0, "bfloat16": 0.0})  # device peak FLOP/s; 0: no MFU
    c.torch = ml_collections.ConfigDict()
    c.torch.enabled = True                 # time the PyTorch peers (the weights always come from DiffUNet)
    c.torch.device = "cpu"                 # "cpu" or "cuda"
    c.torch.threads = 0                    # torch.set_num_threads (0: torch's default, one per core)
    c.output = ml_collections.ConfigDict()
    c.output.root = "runs"
    return c
