"""CPU benchmark, all solvers and batch sizes: the ffhq_10m layout at 64x64 and at 32x32 (fewer pixels,
the same network: deepinv's DiffUNet builds only the two guided-diffusion layouts), float32."""
from configs.bench.defaults import get_config as defaults


def get_config():
    c = defaults()
    c.name = "bench_cpu_full"
    c.cases = ("ffhq_10m@64", "ffhq_10m@32")
    c.dtypes = ("float32",)
    c.batch_sizes = (1, 2, 4)
    c.solvers = ("dps", "codps_plus", "spgd")
    c.steps.dps, c.steps.codps_plus, c.steps.spgd = 10, 10, 4
    c.repeats = 3
    c.unet_repeats = 5
    return c
