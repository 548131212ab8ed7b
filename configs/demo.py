"""The demo: the shipped demo prior on held-out photographs, three tasks, the diffusion solvers with K
posterior samples per image, and the classical baselines.
`python -m experiments.demo [--config configs/demo.py[:full]] [--config.x=y]`.

`configs/demo.py` (the README's main job) is sized for a few minutes on 2 CPU cores: 2 images (one
crop of each held-out photograph), K = 4 samples each, and the solvers that fit that budget: DPS 50
steps, CoDPS+ 25, DDRM, DiffPIR and DDNM+ 20. `configs/demo.py:full` runs every solver (SPGD, PiGDM and
DAPS too) on all 4 crops with twice the steps.

Prior: `jaxinv/demo/prior`, the EMA weights of `experiments.train --config configs/train/demo.py`
(a 1.32M-parameter ADM UNet trained on 32×32 patches of scikit-image's photographs). Images:
`jaxinv/demo/images`, four 64×64 crops of the two held-out photographs (chelsea, coffee; see
`experiments/demo_data.py`). Every task adds Gaussian noise sigma 0.05 (on [-1, 1]).

The operators are scaled down from the seeds' 256² settings to 64² images: SR×4 is DPS's bicubic
Resizer; the Gaussian blur has sigma 1.5 (kernel 13) with circular padding, so CoDPS+ and the
Wiener filter use its exact Fourier Gram and DDRM / DDNM+ its Hartley SVD; the box hole is 32×32
(DPS: 128 of 256). Step counts are cut for a CPU run (`steps.<solver>`; SPGD runs J = 2 gradient
steps per annealing step, DAPS 2 PF-ODE and 20 Langevin steps per annealing step). docs/demo.md says
how each weight was chosen; the quick setting doubles DPS's weight for its halved step count.
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
    "ddrm": {},                           # eta 0.85, eta_b 1: the paper's
    "diffpir": {},                        # zeta 0.3 (the code's 3 x 0.1), lambda below
    "ddnm": {},                           # DDNM+ (sigma_y > 0), eta 0.85, no time travel
    "pgdm": {},                           # the paper's noisy form, eta 0, adaptive weight on
    "daps": {"solver.daps_mcmc_steps": 20, "solver.daps_ode_steps": 2, "solver.daps_tau": 0.05},
}
# The field each solver's demo weight sets (docs/demo.md says how each value was chosen); DDRM and DDNM
# have no guidance weight.
WEIGHT_FIELDS = {"dps": "scale", "codps_plus": "scale", "spgd": "lr", "diffpir": "diffpir_lambda",
                 "pgdm": "pgdm_weight", "daps": "daps_lr"}
WEIGHTS = {
    ("dps", "sr4"): 8.0, ("dps", "gaussian_deblur"): 8.0, ("dps", "inpaint_box"): 8.0,
    ("codps_plus", "sr4"): 0.3, ("codps_plus", "gaussian_deblur"): 0.2, ("codps_plus", "inpaint_box"): 0.4,
    ("spgd", "sr4"): 10.0, ("spgd", "gaussian_deblur"): 1.0, ("spgd", "inpaint_box"): 0.5,
    ("diffpir", "sr4"): 7.0, ("diffpir", "gaussian_deblur"): 7.0, ("diffpir", "inpaint_box"): 7.0,
    ("pgdm", "sr4"): 1.0, ("pgdm", "gaussian_deblur"): 1.0, ("pgdm", "inpaint_box"): 1.0,
    ("daps", "sr4"): 1e-4, ("daps", "gaussian_deblur"): 1e-4, ("daps", "inpaint_box"): 1e-4,
}
QUICK_SOLVERS = ("dps", "codps_plus", "ddrm", "diffpir", "ddnm")
QUICK_STEPS = {"dps": 50, "codps_plus": 25, "spgd": 25, "ddrm": 20, "diffpir": 20, "ddnm": 20, "pgdm": 25,
               "daps": 10}


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
    c.solvers = ",".join(SOLVER_FIELDS if full else QUICK_SOLVERS)   # e.g. --config.solvers=dps,spgd
    c.num_samples = 4                             # posterior samples per image and diffusion solver (one vmap)
    c.operator_seed = 0                           # numpy seed of the box position
    # sampling steps per solver (each method's own count: respaced DDPM for DPS, DDIM for CoDPS+,
    # annealing steps for SPGD and DAPS, the DDIM-like steps of DDRM / DDNM / PiGDM, DiffPIR's updates)
    c.steps = ml_collections.ConfigDict({k: v * (2 if full else 1) for k, v in QUICK_STEPS.items()})
    weights = {f"{s}_{t}": w * (1 if full or s != "dps" else 2) for (s, t), w in WEIGHTS.items()}
    c.weights = ml_collections.ConfigDict(weights)
    c.output = ml_collections.ConfigDict()
    c.output.root = "runs"
    return c
