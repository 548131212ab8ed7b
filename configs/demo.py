"""The demo: the shipped demo prior on held-out photographs, three tasks, three diffusion solvers and
the classical baselines. `python -m experiments.demo [--config configs/demo.py] [--config.x=y]`.

Prior: `jaxinv/demo/prior`, the EMA weights of `experiments.train --config configs/train/demo.py`
(a 1.4M-parameter ADM UNet trained on 32×32 patches of scikit-image's photographs). Images:
`jaxinv/demo/images`, four 64×64 crops of the two held-out photographs (chelsea, coffee; see
`experiments/demo_data.py`). Every task adds Gaussian noise sigma 0.05 (on [-1, 1]).

The operators are scaled down from the seeds' 256² settings to 64² images: SR×4 is DPS's bicubic
Resizer; the Gaussian blur has sigma 1.5 (kernel 13) with circular padding, so CoDPS+ and the
Wiener filter use its exact Fourier Gram; the box hole is 32×32 (DPS: 128 of 256). Step counts are
cut for a CPU run (`dps_steps`, `codps_plus_steps`, `spgd_steps` × `spgd_inner`).
The solver weights were tuned on crops of training photographs, not on the held-out crops.
"""
import os

import ml_collections

import jaxinv

DEMO_DIR = os.path.join(os.path.dirname(jaxinv.__file__), "demo")

TASKS = {
    "sr4": dict(operator="super_resolution", params=dict(scale=4), baselines=("bicubic", "pseudo_inverse")),
    "gaussian_deblur": dict(operator="gaussian_blur", params=dict(kernel_size=13, sigma=1.5, padding="circular"),
                            baselines=("wiener",)),
    "inpaint_box": dict(operator="inpainting", params=dict(mask_type="box", mask_len_range=(32, 33), margin=(8, 8)),
                        baselines=("mean_fill",)),
}

# Per solver: fields of the run config; per (solver, task): the guidance weight.
SOLVER_FIELDS = {
    "dps": {"diffusion.var_type": "fixed_large"},
    "codps_plus": {"diffusion.var_type": "fixed_large", "solver.eta": 1.0, "solver.t_div": 15.0,
                   "solver.div_ratio": 5.0, "solver.inv_var": 2.0, "solver.likelihood": "gram"},
    "spgd": {},
}
WEIGHTS = {   # dps / codps_plus: solver.scale; spgd: solver.lr
    ("dps", "sr4"): 1.0, ("dps", "gaussian_deblur"): 1.0, ("dps", "inpaint_box"): 1.0,
    ("codps_plus", "sr4"): 0.05, ("codps_plus", "gaussian_deblur"): 0.05, ("codps_plus", "inpaint_box"): 0.4,
    ("spgd", "sr4"): 7.0, ("spgd", "gaussian_deblur"): 1.0, ("spgd", "inpaint_box"): 2.5,
}


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "demo"
    c.seed = 0
    c.prior_dir = os.path.join(DEMO_DIR, "prior")
    c.image_dir = os.path.join(DEMO_DIR, "images")
    c.image_size = 64
    c.batch_size = 4
    c.noise_sigma = 0.05
    c.tasks = ",".join(TASKS)                     # subset, e.g. --config.tasks=sr4
    c.solvers = "dps,codps_plus,spgd"             # subset, e.g. --config.solvers=dps
    c.operator_seed = 0                           # numpy seed of the box position
    c.dps_steps = 100                             # respaced DDPM steps of DPS
    c.codps_plus_steps = 50                       # DDIM steps of CoDPS+
    c.spgd_steps = 50                             # SPGD annealing steps
    c.spgd_inner = 2                              # SPGD gradient steps J per annealing step
    c.weights = ml_collections.ConfigDict({f"{s}_{t}": w for (s, t), w in WEIGHTS.items()})
    c.output = ml_collections.ConfigDict()
    c.output.root = "runs"
    return c
