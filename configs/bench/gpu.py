"""GPU benchmark (not runnable on a CPU-only machine): full-size ffhq_10m and imagenet_256_uncond at
256x256, float32 and bfloat16, DPS-1000 / CoDPS+-100 / SPGD-100x5 as the papers run them.

MFU = XLA's FLOP count of the UNet (forward, or forward + input VJP for the backprop solvers) x NFE
x batch / wall time / `peak_flops`. The peaks are an H100/H200 SXM's dense figures; set them for the
device at hand (`--config.peak_flops.float32=...`).
"""
from configs.bench.defaults import get_config as defaults


def get_config():
    c = defaults()
    c.name = "bench_gpu"
    c.cases = ("ffhq_10m@256", "imagenet_256_uncond@256")
    c.dtypes = ("float32", "bfloat16")
    c.batch_sizes = (1, 4, 16)
    c.solvers = ("dps", "codps_plus", "spgd")
    c.steps.dps, c.steps.codps_plus, c.steps.spgd = 1000, 100, 100
    c.spgd_inner = 5
    c.repeats = 2
    c.unet_repeats = 10
    c.peak_flops.float32 = 67e12     # H100/H200 SXM, FP32 (non-tensor-core)
    c.peak_flops.bfloat16 = 989e12   # H100/H200 SXM, BF16 dense tensor core
    c.torch.device = "cuda"
    return c
