"""The GPU kit's CPU dry run (tests/test_gpu_kit.py): every section of `gpu_quick` on tiny sizes, in a minute or two.

`gpu_dry.py` shrinks the ADM layouts (`adm_overrides`: JAX only, random weights) and G2D2 to the
fixtures' sizes. `gpu_dry.py:peer` keeps the real ffhq_10m / imagenet_256_uncond layouts at 32x32 so
that deepinv's DiffUNet and DPS run as the peers on the CPU too (needs the `ref` extra; minutes).
"""
import ml_collections

from configs.bench.gpu_quick import get_config as gpu_quick

TINY_ADM = {"num_channels": 32, "num_res_blocks": 1, "channel_mult": "1,2", "attention_resolutions": "128",
            "num_head_channels": 16}


def get_config(arg: str = ""):
    if arg not in ("", "peer"):
        raise ValueError(f"gpu_dry.py takes no argument or ':peer', got {arg!r}")
    c = gpu_quick()
    c.name = "gpu_dry" + ("_peer" if arg else "")
    c.sections = ("smoke", "case_float32", "large", "g2d2")
    c.budgets = ml_collections.ConfigDict({k: 600.0 for k in c.budgets})
    c.total_budget_s = 1800.0
    c.case = "ffhq_10m@32"
    c.adm_overrides = ml_collections.ConfigDict({} if arg else TINY_ADM)
    c.batch_sizes = (2,)
    c.solvers = ("dps", "codps_plus")      # the other two take the same path (and have their own tests)
    c.steps = ml_collections.ConfigDict({"dps": 2, "codps_plus": 2, "spgd": 1, "daps": 1})
    c.spgd_inner = 2
    c.repeats = 1
    c.unet_repeats = 1
    c.large.case, c.large.batch = "imagenet_256_uncond@32", 1
    c.large.adm_overrides = ml_collections.ConfigDict({} if arg else TINY_ADM)
    c.g2d2.size, c.g2d2.num_inner, c.g2d2.scale, c.g2d2.repeats = "tiny", 2, 2, 1
    c.torch.device = "cpu"
    c.torch.cudnn_benchmark = False
    return c
