"""The GPU kit (`python -m experiments.bench.gpu_kit`, docs/benchmarks.md "GPU kit"), sized for one lent H200
or H100: about 6 minutes of measurement including compilation, after a correctness smoke.

Sections run in this order, each in its own process and within its own budget (seconds; time a section
leaves unused passes to the next ones): `smoke` (the crosschecks in float32), `case_bfloat16` and
`case_float32` (`case` at batch 8 then 1: UNet forward and forward + VJP against deepinv's DiffUNet,
then each solver for ~20 network evaluations as one lax.scan, deepinv's DPS beside DPS), `large`
(imagenet_256_uncond forward and forward + VJP, batch 8, bf16) and `g2d2` (one outer step at ITHQ size).
Within a section the measurements run in the order above and none starts with under `min_left_s` left,
so a short budget drops the batch-1 rows first. The peaks are an H100/H200 SXM's dense figures.
"""
import ml_collections

SMOKE_CHECKS = ("adm:adm/adm_tiny_a", "dps:dps/dps_tiny_sr4", "codps:codps/codps_plus_tiny_sr4",
                "spgd:spgd/spgd_tiny_sr4_paper", "g2d2:g2d2/g2d2_inner_sr2", "daps:daps/daps_tiny_sr4")


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "gpu_quick"
    c.seed = 0
    c.sections = ("smoke", "case_bfloat16", "case_float32", "large", "g2d2")
    c.budgets = ml_collections.ConfigDict({"smoke": 100.0, "case_bfloat16": 140.0, "case_float32": 100.0,
                                           "large": 60.0, "g2d2": 60.0})
    c.total_budget_s = 460.0               # all sections together (the device command's timeout_s is 540)
    c.min_left_s = 12.0                    # no measurement starts with less of its section's budget left
    c.grace_s = 10.0                       # a section past its budget by this much is killed
    c.fixtures = ""                        # "": .gpukit/fixtures (carried), else ../shared/fixtures
    c.smoke = ml_collections.ConfigDict()
    c.smoke.checks = SMOKE_CHECKS          # CHECK:RECORDING, experiments/bench/kit_smoke.py
    c.smoke.precisions = ("highest",)      # float32 as on the CPU; add "default" for the GPU's (TF32)
    c.case = "ffhq_10m@256"
    c.adm_overrides = ml_collections.ConfigDict()   # ADMConfig fields replaced (dry runs; no torch peer then)
    c.batch_sizes = (8, 1)
    c.unet_calls = ("unet_forward", "unet_forward_vjp")
    c.solvers = ("dps", "codps_plus", "spgd", "daps")
    # ~20 network evaluations each: DPS / CoDPS+ one per step, SPGD J = spgd_inner per step, DAPS its
    # preset's 5 PF-ODE steps per annealing step.
    c.steps = ml_collections.ConfigDict({"dps": 20, "codps_plus": 20, "spgd": 4, "daps": 4})
    c.spgd_inner = 5
    c.repeats = 3                          # timed sampler calls per framework after one warm-up (median)
    c.unet_repeats = 10
    c.large = ml_collections.ConfigDict({"case": "imagenet_256_uncond@256", "dtype": "bfloat16", "batch": 8,
                                         "unet_calls": ("unet_forward_vjp", "unet_forward"),   # DPS's cost first
                                         "adm_overrides": ml_collections.ConfigDict()})
    c.g2d2 = ml_collections.ConfigDict({"size": "ithq", "num_inner": 30, "scale": 4, "repeats": 3})
    c.peak_flops = ml_collections.ConfigDict({"float32": 67e12,      # FP32, no tensor cores
                                              "bfloat16": 989e12})   # BF16 dense tensor cores
    c.torch = ml_collections.ConfigDict({"enabled": True, "device": "cuda", "threads": 0, "cudnn_benchmark": True})
    return c
