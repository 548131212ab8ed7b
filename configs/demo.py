"""The demo: the shipped demo prior on held-out photographs, three tasks, three diffusion solvers and
the classical baselines. `python -m experiments.demo [--config configs/demo.py[:full]] [--config.x=y]`.

`configs/demo.py` (the README's main job) is sized for a few minutes on 2 CPU cores: 2 images (one
crop of each held-out photograph), DPS 50 steps, CoDPS+ 25, SPGD 25 × J 2. `configs/demo.py:full`
is the setting the weights were tuned at: all 4 crops, DPS 100, CoDPS+ 50, SPGD 50 × 2.

Prior: `jaxinv/demo/prior`, the EMA weights of `experiments.train --config configs/train/demo.py`
(a 1.32M-parameter ADM UNet trained on 32×32 patches of scikit-image's photographs). Images:
`jaxinv/demo/images`, four 64×64 crops of the two held-out photographs (chelsea, coffee; see
`experiments/demo_data.py`). Every task adds Gaussian noise sigma 0.05 (on [-1, 1]).

The operators are scaled down from the seeds' 256² settings to 64² images: SR×4 is DPS's bicubic
Resizer; the Gaussian blur has sigma 1.5 (kernel 13) with circular padding, so CoDPS+ and the
Wiener filter use its exact Fourier Gram; the box hole is 32×32 (DPS: 128 of 256). Step counts are
cut for a CPU run (`steps.<solver>`; SPGD runs J = 2 gradient steps per annealing step).
The solver weights were tuned (full setting) on crops of training photographs, not on the held-out
crops; the quick setting doubles DPS's weight for its halved step count.
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
    "spgd": {"solver.num_inner": 2},      # gradient steps J per annealing step
}
WEIGHTS = {   # the solver's first traced field: dps / codps_plus solver.scale, spgd solver.lr (docs/demo.md)
    ("dps", "sr4"): 8.0, ("dps", "gaussian_deblur"): 8.0, ("dps", "inpaint_box"): 8.0,
    ("codps_plus", "sr4"): 0.3, ("codps_plus", "gaussian_deblur"): 0.2, ("codps_plus", "inpaint_box"): 0.4,
    ("spgd", "sr4"): 10.0, ("spgd", "gaussian_deblur"): 1.0, ("spgd", "inpaint_box"): 0.5,
}


def get_config(setting: str = "quick") -> ml_collections.ConfigDict:
    if setting not in ("quick", "full"):
        raise ValueError(f"unknown demo setting {setting!r}; expected configs/demo.py or configs/demo.py:full")
    full = setting == "full"
    c = ml_collections.ConfigDict()
    c.name = "demo"
    c.seed = 0
    c.prior_dir = os.path.join(DEMO_DIR, "prior")
    c.image_dir = os.path.join(DEMO_DIR, "images")
    c.image_size = 64
    c.num_images = 4 if full else 2               # the first crops of jaxinv/demo/images (sorted names)
    c.batch_size = c.num_images
    c.noise_sigma = 0.05
    c.tasks = ",".join(TASKS)                     # subset, e.g. --config.tasks=sr4
    c.solvers = "dps,codps_plus,spgd"             # subset, e.g. --config.solvers=dps
    c.operator_seed = 0                           # numpy seed of the box position
    # sampling steps per solver: respaced DDPM (DPS), DDIM (CoDPS+), annealing steps (SPGD)
    c.steps = ml_collections.ConfigDict({"dps": 100, "codps_plus": 50, "spgd": 50} if full else
                                        {"dps": 50, "codps_plus": 25, "spgd": 25})
    weights = {f"{s}_{t}": w * (1 if full or s != "dps" else 2) for (s, t), w in WEIGHTS.items()}
    c.weights = ml_collections.ConfigDict(weights)
    c.output = ml_collections.ConfigDict()
    c.output.root = "runs"
    return c
