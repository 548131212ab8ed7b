"""CPU smoke benchmark (about 9 minutes on 2 cores): DPS against deepinv and a plain torch step loop,
CoDPS+ and SPGD against torch step loops of their updates; the ffhq_10m layout at 64x64, batch 4."""
from configs.bench.defaults import get_config as defaults


def get_config():
    c = defaults()
    c.name = "bench_cpu_quick"
    c.cases = ("ffhq_10m@64",)
    c.batch_sizes = (4,)
    c.solvers = ("dps", "codps_plus", "spgd")
    c.steps.dps = 5          # per-step cost is what is compared; 5 steps x 3 repeats is stable to a few %
    c.steps.codps_plus = 5
    c.steps.spgd = 2         # x spgd_inner network evaluations each
    c.spgd_inner = 2
    c.repeats = 3
    c.unet_repeats = 2
    c.loops = ("auto",)      # the runner's default loop only (host on the CPU); cpu_full times both
    return c
