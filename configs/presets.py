"""The seeds' task configs as tables; `preset(dataset, solver, task)` applies one row to `defaults.get_config()`.

Sources (research note dps_codps_spgd.md §2.2, §3.6, §4.4):
- DPS2022/diffusion-posterior-sampling `configs/<task>_config.yaml` (dataset-independent: the
  dataset is chosen by the model config), `configs/diffusion_config.yaml` (DDPM 1000, learned range).
- CSIPlab/CoDPS `configs/{FFHQ,IMAGENET}/{DDPM,DDIM}/<task>_config.yaml` (DDPM -> CoDPS,
  DDIM `ddim100` eta 1 -> CoDPS+; all `use_A_AT: True`, noise gaussian 0.05, `--seed 225`).
- 74587887/SPGD `config/task/<task>.yaml` (J = `num_steps`, `lr`, sigma_y) with
  `config/sampler/edm_spgd.yaml` (200 annealing steps, sigma 100 -> 0.1, poly-7); beta 0.9 and
  lr_min_ratio 0.01 are `SPGD.__init__` defaults; numpy/torch seed 42 (`posterior_sample.py`).

- yuanzhi-zhu/DiffPIR `configs/{sisr,deblur,inpaint}.yaml` with the task blocks of `main_ddpir.py`
  (= `main_ddpir_{sisr,deblur,inpainting}.py`): the deblur block runs lambda 7 x 1, zeta 3 x 0.1; the
  SR block sweeps lambda over 2..12 at zeta 0.25 (the preset takes the deblur block's 7: sweep
  `solver.diffpir_lambda` for the rest); inpainting lambda 1, zeta 1, 20 iterations, no noise.
- bahjat-kawar/ddrm `README.md` commands (`--timesteps 20 --eta 0.85 --etaB 1 --sigma_0 0.05`, the
  `main.py` defaults for eta / etaB, `--seed 1234`) with the `--deg` of `runners/diffusion.py`: sigma_0 is
  doubled there into [-1, 1] units. DDRM ships CelebA-HQ, LSUN and ImageNet models; the FFHQ rows use
  its values with the FFHQ checkpoint, and box inpainting (no DDRM `--deg`) the DPS box.
- wyhuai/DDNM `README.md` commands (`--eta 0.85 --sigma_y 0`; `--sigma_y 0.1` for the noisy SR demo,
  doubled into [-1, 1] in `guided_diffusion/diffusion.py`, which runs DDNM+ whenever sigma_y > 0),
  `configs/{celeba_hq,imagenet_256}.yml` time_travel (T_sampling 100, travel 1 x 1), `--seed 1234`,
  the `--deg` of the SVD-based runner. Its inpainting reads a mask file; the presets draw the DPS masks.
- NVlabs/RED-diff `_configs/algo/{pgdm,reddiff}.yaml` with its README command (`exp.num_steps=100
  algo.sigma_y=0 algo.lr=0.5 algo.grad_term_weight=0.25` for RED-diff) and the `algo.deg` of
  `utils/degredations.py` (`deblur_gauss`: 5 taps of sigma 25); its masks are files, the box rows draw
  the DPS box.
- zhangbingliang2019/DAPS `configs/task/<task>.yaml` blocks `pixel` (Langevin) and `pixel_hmc` (tasks
  `<task>_hmc`) with `configs/sampler/edm_daps.yaml` (200 annealing steps, sigma 100 -> 0.1, poly-7;
  the PF-ODE 5 steps to 0.01) and `configs/default.yaml` seed 42; the operators are SPGD's (its fork).

Where paper and code disagree these presets follow the released code (the code's configs produced
the papers' tables): DPS `scale` is the code's (paper zeta' = scale / 2 differs, issues #6, #20),
DPS random inpainting draws p ~ U(0.3, 0.7) (paper: 92 %), SPGD runs `variant="code"` (momentum
unused). Combinations a seed does not ship are absent (`PRESETS` lists what exists).
"""
from __future__ import annotations

import ml_collections

from configs import defaults

DATASETS = {
    "ffhq": dict(preset="ffhq_10m", checkpoint_dir="checkpoints/ffhq_10m", torch_checkpoint="ffhq_10m.pt",
                 data_path="data/ffhq_256"),
    "imagenet": dict(preset="imagenet_256_uncond", checkpoint_dir="checkpoints/imagenet_256_uncond",
                     torch_checkpoint="256x256_diffusion_uncond.pt", data_path="data/imagenet_256"),
}

BKSE_DIR = "checkpoints/bkse_gopro"   # `python -m convert.bkse` output of GOPRO_wVAE.pth

# Operators as the seeds build them (note §5: one name is not one operator).
_DPS_OPS = {
    "sr4": ("super_resolution", dict(scale=4), False),
    "gaussian_deblur": ("gaussian_blur", dict(kernel_size=61, sigma=3.0, padding="reflect"), False),
    "motion_deblur": ("motion_blur", dict(kernel_size=61, intensity=0.5, padding="reflect", draws=2), False),
    "inpaint_random": ("inpainting", dict(mask_type="random", mask_prob_range=(0.3, 0.7), margin=(16, 16)), True),
    "inpaint_box": ("inpainting", dict(mask_type="box", mask_len_range=(128, 129), margin=(16, 16)), True),
    "phase_retrieval": ("phase_retrieval", dict(oversample=2.0, input_range="[-1,1]"), False),
    "nonlinear_deblur": ("nonlinear_blur", dict(checkpoint_dir=BKSE_DIR, latent_seed=0), False),
}
_CODPS_OPS = {
    "sr4": ("codps_super_resolution", dict(scale=4, kernel_size=9, sigma=3.0), False),
    "gaussian_deblur": ("gaussian_blur", dict(kernel_size=61, sigma=3.0, padding="circular"), False),
    "motion_deblur": ("motion_blur", dict(kernel_size=61, intensity=0.5, padding="circular", draws=2), True),
    "inpaint_random": ("inpainting", dict(mask_type="random", mask_prob_range=(0.7, 0.8), margin=(16, 16)), True),
}
_SPGD_OPS = {
    "sr4": ("super_resolution", dict(scale=4), False),
    "gaussian_deblur": ("gaussian_blur", dict(kernel_size=61, sigma=3.0, padding="reflect"), False),
    "motion_deblur": ("motion_blur", dict(kernel_size=61, intensity=0.5, padding="reflect", draws=2), False),
    "inpaint_random": ("inpainting", dict(mask_type="random", mask_prob_range=(0.8, 0.8), margin=(32, 32)), False),
    "inpaint_box": ("inpainting", dict(mask_type="box", mask_len_range=(128, 129), margin=(32, 32)), False),
    "phase_retrieval": ("phase_retrieval", dict(oversample=2.0, input_range="[0,1]"), False),
    "nonlinear_deblur": ("nonlinear_blur", dict(checkpoint_dir=BKSE_DIR, latent_seed=0), False),
    "hdr": ("hdr", dict(scale=2.0), False),
}

# DPS: (config file, scale); noise gaussian 0.05 everywhere; the same files serve FFHQ and ImageNet.
_DPS = {
    "sr4": ("configs/super_resolution_config.yaml", 0.3),
    "gaussian_deblur": ("configs/gaussian_deblur_config.yaml", 0.3),
    "motion_deblur": ("configs/motion_deblur_config.yaml", 0.3),
    "inpaint_random": ("configs/inpainting_config.yaml", 0.5),
    "inpaint_box": ("configs/inpainting_config.yaml (its commented `mask_len_range (128, 129)` line)", 0.5),
    "phase_retrieval": ("configs/phase_retrieval_config.yaml", 1.0),
    "nonlinear_deblur": ("configs/nonlinear_deblur_config.yaml", 0.3),
}

# CoDPS: (dataset, solver, task) -> (scale, t_div, div_ratio, inv_var).
_CODPS_FILES = {"sr4": "super_resolution", "gaussian_deblur": "gaussian_deblur", "motion_deblur": "motion_deblur",
                "inpaint_random": "inpainting"}
_CODPS = {
    ("ffhq", "codps_plus", "gaussian_deblur"): (0.05, 15, 10, 1),
    ("ffhq", "codps_plus", "motion_deblur"): (0.05, 15, 20, 1),
    ("ffhq", "codps_plus", "sr4"): (0.05, 15, 5, 2),
    ("ffhq", "codps_plus", "inpaint_random"): (0.4, 10, 100, 0),
    ("ffhq", "codps", "gaussian_deblur"): (0.01, 200, 10, 0.1),
    ("ffhq", "codps", "motion_deblur"): (0.01, 200, 10, 0.1),
    ("ffhq", "codps", "sr4"): (0.01, 100, 10, 0.1),
    ("ffhq", "codps", "inpaint_random"): (0.4, 80, 1e3, 5e2),
    ("imagenet", "codps_plus", "gaussian_deblur"): (0.04, 15, 5, 2),
    ("imagenet", "codps_plus", "motion_deblur"): (0.04, 25, 4, 2),
    ("imagenet", "codps_plus", "sr4"): (0.05, 20, 5, 2),
    # IMAGENET/DDIM/inpainting_config.yaml names method `ps` (not registered in CoDPS): no preset.
    ("imagenet", "codps", "gaussian_deblur"): (0.01, 200, 10, 0.1),
    ("imagenet", "codps", "motion_deblur"): (0.01, 200, 10, 0.1),
    ("imagenet", "codps", "sr4"): (0.02, 200, 10, 1e-2),
    ("imagenet", "codps", "inpaint_random"): (0.02, 80, 100, 10),
}
_CODPS_NOTES = {
    ("imagenet", "codps", "inpaint_random"): "the file has no `noise:` block (the original crashes); "
                                             "sigma 0.05 of every other CoDPS config is used",
}

# SPGD: task -> (config file, J, lr, sigma_y); the same files serve FFHQ and ImageNet.
_SPGD = {
    "sr4": ("config/task/down_sampling.yaml", 5, 7.0, 0.01),
    "gaussian_deblur": ("config/task/gaussian_blur.yaml", 5, 1.0, 0.01),
    "motion_deblur": ("config/task/motion_blur.yaml", 5, 1.0, 0.01),
    "inpaint_random": ("config/task/inpainting_rand.yaml", 5, 2.5, 0.01),
    "inpaint_box": ("config/task/inpainting.yaml", 5, 5e-5, 0.05),
    "phase_retrieval": ("config/task/phase_retrieval.yaml", 5, 2.0, 0.05),
    "nonlinear_deblur": ("config/task/nonlinear_blur.yaml", 5, 1.0, 0.05),
    "hdr": ("config/task/hdr.yaml", 5, 1.0, 0.05),
}
_SPGD_NOTES = {
    "inpaint_box": "the file's `tau: 0.01` (a DAPS leftover that makes `SPGD(...)` raise TypeError) is dropped; "
                   "its lr 5e-5, also a DAPS leftover, is kept as written, so guidance is nearly off",
}

# DiffPIR: its operators. Noise 12.75/255 in [0, 1] is sigma 0.1 in [-1, 1]; `mode='wrap'` blur.
_DIFFPIR_OPS = {
    "sr4": ("super_resolution", dict(scale=4), False),
    "gaussian_deblur": ("gaussian_blur", dict(kernel_size=61, sigma=3.0, padding="circular"), False),
    "motion_deblur": ("motion_blur", dict(kernel_size=61, intensity=0.5, padding="circular", draws=2), True),
    "inpaint_random": ("inpainting", dict(mask_type="random", mask_prob_range=(0.5, 0.5), margin=(16, 16)), True),
    "inpaint_box": ("inpainting", dict(mask_type="box", mask_len_range=(128, 129), margin=(16, 16)), True),
}
# task -> (config file, lambda, zeta, iterations, noise sigma in [-1, 1])
_DIFFPIR = {
    "sr4": ("configs/sisr.yaml", 7.0, 0.25, 100, 2 * 12.75 / 255),
    "gaussian_deblur": ("configs/deblur.yaml", 7.0, 0.3, 100, 2 * 12.75 / 255),
    "motion_deblur": ("configs/deblur.yaml (blur_mode motion)", 7.0, 0.3, 100, 2 * 12.75 / 255),
    "inpaint_random": ("configs/inpaint.yaml", 1.0, 1.0, 20, 0.0),
    "inpaint_box": ("configs/inpaint.yaml (mask_type box)", 1.0, 1.0, 20, 0.0),
}
_DIFFPIR_NOTES = {
    "sr4": "the script's y is MATLAB bicubic (`imresize_np`, = this Resizer) but its data step assumes a "
           "blur-and-stride model with kernels_bicubicx234.mat; here the data step is the exact prox of the "
           "operator that made y. lambda 7 is the deblur block's: the SR block sweeps 2..12",
    "gaussian_deblur": "the script draws each image's std as 3 |2 U + 1| (np.random.seed(10 idx)); "
                       "here the paper's fixed std 3",
}

_DDRM_OPS = {
    "sr4": ("bicubic_sr", dict(scale=4), False),
    "sr4_average": ("block_average", dict(scale=4), False),
    "gaussian_deblur": ("separable_blur", dict(kernel="gaussian", taps=5, sigma=10.0), False),
    "inpaint_random": ("inpainting", dict(mask_type="random", mask_prob_range=(0.5, 0.5), margin=(16, 16)), True),
    "inpaint_box": ("inpainting", dict(mask_type="box", mask_len_range=(128, 129), margin=(16, 16)), True),
    "denoising": ("denoising", dict(), False),
    "colorization": ("colorization", dict(), False),
}
# task -> the `--deg` of runners/diffusion.py
_DDRM = {"sr4": "sr_bicubic4", "sr4_average": "sr4", "gaussian_deblur": "deblur_gauss", "inpaint_random": "inp",
         "inpaint_box": "none: the DPS box", "denoising": "deno", "colorization": "color"}
_DDRM_NOTES = {
    "gaussian_deblur": "its Deblurring pairs the channels' singular values wrongly (docs/baselines.md); "
                       "here the blur it builds",
    "inpaint_random": "the code drops exactly half of the pixels (randperm); here each pixel with p = 0.5",
    "colorization": "the code's weights 0.3333 / 0.3334 / 0.3333; here the mean",
}


def _ddrm_row(c, dataset: str, task: str) -> None:
    c.solver.ddrm_eta, c.solver.ddrm_eta_b, c.solver.ddrm_steps = 0.85, 1.0, 20
    c.noise.params.sigma = 2 * 0.05
    _set_operator(c, _DDRM_OPS, task)
    c.operator.seed = c.seed = 1234   # main.py --seed
    note = _DDRM_NOTES.get(task)
    c.source = (f"bahjat-kawar/ddrm README.md / runners/diffusion.py: --deg {_DDRM[task]} --timesteps 20 --eta 0.85 "
                f"--etaB 1 --sigma_0 0.05 (0.1 in [-1, 1])" + (f" ({note})" if note else ""))

_DDNM_OPS = {**{t: _DDRM_OPS[t] for t in ("sr4", "sr4_average", "gaussian_deblur", "inpaint_random", "inpaint_box",
                                         "colorization")},
             "sr4_average_noisy": _DDRM_OPS["sr4_average"]}
# task -> (--deg --deg_scale, --sigma_y)
_DDNM = {"sr4": ("sr_bicubic 4", 0.0), "sr4_average": ("sr_averagepooling 4", 0.0),
         "sr4_average_noisy": ("sr_averagepooling 4", 0.1), "gaussian_deblur": ("deblur_gauss", 0.0),
         "inpaint_random": ("inpainting (its mask file)", 0.0), "inpaint_box": ("inpainting (its mask file)", 0.0),
         "colorization": ("colorization", 0.0)}


def _ddnm_row(c, dataset: str, task: str) -> None:
    deg, sigma_y = _DDNM[task]
    c.solver.ddnm_eta, c.solver.ddnm_steps, c.solver.ddnm_travel_length, c.solver.ddnm_travel_repeat = 0.85, 100, 1, 1
    c.noise.params.sigma = 2 * sigma_y
    _set_operator(c, _DDNM_OPS, task)
    c.operator.seed = c.seed = 1234   # main.py --seed
    c.source = (f"wyhuai/DDNM README.md / guided_diffusion/diffusion.py: --deg {deg} --eta 0.85 --sigma_y {sigma_y} "
                f"({'DDNM+' if sigma_y else 'DDNM'}); configs/*.yml time_travel: T_sampling 100, travel_length 1, "
                f"travel_repeat 1")

_REDDIFF_OPS = {**{t: _DDRM_OPS[t] for t in ("sr4", "sr4_average", "inpaint_box", "denoising", "colorization")},
                "gaussian_deblur": ("separable_blur", dict(kernel="gaussian", taps=5, sigma=25.0), False)}
_REDDIFF_DEG = {"sr4": "bicubic4", "sr4_average": "sr4", "gaussian_deblur": "deblur_gauss",
                "inpaint_box": "in2 (its mask files)", "denoising": "deno", "colorization": "color"}


def _pgdm_row(c, dataset: str, task: str) -> None:
    c.solver.pgdm_eta, c.solver.pgdm_weight, c.solver.pgdm_awd, c.solver.pgdm_steps = 0.0, 1.0, True, 100
    c.noise.params.sigma = 0.0
    _set_operator(c, _REDDIFF_OPS, task)
    c.operator.seed = c.seed = 1   # _configs/exp/default.yaml seed
    c.source = (f"NVlabs/RED-diff _configs/algo/pgdm.yaml: eta 0, grad_term_weight 1, awd True, sigma_y 0; "
                f"algo.deg {_REDDIFF_DEG[task]}, exp.num_steps 100 (README)")


def _reddiff_row(c, dataset: str, task: str) -> None:
    s = c.solver
    s.reddiff_lr, s.reddiff_weight, s.reddiff_obs_weight, s.reddiff_weighting = 0.5, 0.25, 1.0, "linear"
    s.reddiff_sigma_x0, s.reddiff_steps = 0.0, 100
    c.noise.params.sigma = 0.0
    _set_operator(c, _REDDIFF_OPS, task)
    c.operator.seed = c.seed = 1
    c.source = (f"NVlabs/RED-diff _configs/algo/reddiff.yaml with README.md's algo.lr 0.5, grad_term_weight 0.25: "
                f"obs_weight 1, denoise_term_weight linear, sigma_x0 0, sigma_y 0; algo.deg {_REDDIFF_DEG[task]}, "
                f"exp.num_steps 100")

_DAPS_OPS = {**_SPGD_OPS, "inpaint_random": ("inpainting", dict(mask_type="random", mask_prob_range=(0.70, 0.71),
                                                                margin=(32, 32)), False)}
# task -> (config file, pixel (J, lr, lr_min_ratio), pixel_hmc (J, lr, lr_min_ratio, momentum))
_DAPS = {
    "sr4": ("down_sampling", (100, 1e-4, 0.01), (12, 1.04e-4, 0.012, 0.90)),
    "gaussian_deblur": ("gaussian_blur", (100, 1e-4, 0.01), (82, 4.04e-5, 0.011, 0.10)),
    "motion_deblur": ("motion_blur", (100, 5e-5, 0.01), (96, 3.69e-5, 0.01, 0.11)),
    "inpaint_random": ("inpainting_rand", (100, 1e-4, 0.01), (11, 3.56e-5, 0.015, 0.80)),
    "inpaint_box": ("inpainting", (100, 5e-5, 0.01), (84, 1.15e-5, 0.014, 0.003)),
    "phase_retrieval": ("phase_retrieval", (100, 5e-5, 0.01), (62, 9.75e-6, 0.019, 0.73)),
    "nonlinear_deblur": ("nonlinear_blur", (200, 1e-5, 0.01), (85, 1.20e-5, 0.012, 0.46)),
    "hdr": ("hdr", (100, 2e-5, 0.01), (100, 2.18e-5, 0.013, 0.23)),
}
_DAPS_TASKS = [t for base in _DAPS for t in (base, f"{base}_hmc")]


def _daps_row(c, dataset: str, task: str) -> None:
    hmc = task.endswith("_hmc")
    base = task[: -len("_hmc")] if hmc else task
    path, pixel, pixel_hmc = _DAPS[base]
    s = c.solver
    if hmc:
        (s.daps_mcmc_steps, s.daps_lr, s.daps_lr_min_ratio, s.daps_momentum), s.daps_mc_algo = pixel_hmc, "hmc"
    else:
        (s.daps_mcmc_steps, s.daps_lr, s.daps_lr_min_ratio), s.daps_mc_algo = pixel, "langevin"
    s.daps_tau, s.daps_ode_steps, s.daps_ode_sigma_min = 0.01, 5, 0.01
    a = c.annealing
    a.num_steps, a.sigma_max, a.sigma_min, a.timestep = 200, 100.0, 0.1, "poly-7"
    c.noise.params.sigma = 0.05
    _set_operator(c, _DAPS_OPS, base)
    c.operator.seed = c.seed = 42
    c.source = (f"zhangbingliang2019/DAPS configs/task/{path}.yaml block {'pixel_hmc' if hmc else 'pixel'}: "
                f"{s.daps_mc_algo}, num_steps {s.daps_mcmc_steps}, lr {s.daps_lr}, lr_min_ratio {s.daps_lr_min_ratio}"
                + (f", momentum {s.daps_momentum}" if hmc else "") + ", tau 0.01, prior_solver gaussian, sigma 0.05; "
                "configs/sampler/edm_daps.yaml: 200 steps, sigma 100 -> 0.1, poly-7, PF-ODE 5 steps to 0.01")


def _diffpir_row(c, dataset: str, task: str) -> None:
    path, c.solver.diffpir_lambda, c.solver.zeta, c.solver.diffpir_steps, c.noise.params.sigma = _DIFFPIR[task]
    c.solver.diffpir_eta, c.solver.skip_type, c.solver.diffpir_inner = 0.0, "quad", 1
    _set_operator(c, _DIFFPIR_OPS, task)
    c.operator.seed = 0   # the scripts seed numpy with 0 before the noise (and 10 idx before a kernel)
    note = _DIFFPIR_NOTES.get(task)
    c.source = (f"yuanzhi-zhu/DiffPIR {path} with main_ddpir.py's task block: lambda {c.solver.diffpir_lambda}, "
                f"zeta {c.solver.zeta}, eta 0, {c.solver.diffpir_steps} iterations (quad), noise sigma "
                f"{c.noise.params.sigma:.4g} in [-1, 1]" + (f" ({note})" if note else ""))


def _dps_row(c, dataset: str, task: str) -> None:
    path, c.solver.scale = _DPS[task]
    _set_operator(c, _DPS_OPS, task)
    c.operator.seed = 0   # DPS draws masks/kernels unseeded
    c.source = (f"DPS2022/diffusion-posterior-sampling {path}: method ps, scale {c.solver.scale}, "
                f"noise gaussian 0.05; configs/diffusion_config.yaml: ddpm, 1000 steps, learned_range")


def _codps_row(c, dataset: str, task: str) -> None:
    solver = c.solver.name
    scale, t_div, div_ratio, inv_var = _CODPS[(dataset, solver, task)]
    c.solver.scale, c.solver.t_div, c.solver.div_ratio, c.solver.inv_var = scale, t_div, div_ratio, inv_var
    c.solver.likelihood, c.solver.eta = "gram", 1.0
    _set_operator(c, _CODPS_OPS, task)
    c.operator.seed = 225   # `--seed 225` of the repo's run scripts
    c.seed = 225
    sampler = "DDIM" if solver == "codps_plus" else "DDPM"
    c.diffusion.respacing = "ddim100" if solver == "codps_plus" else "1000"
    note = _CODPS_NOTES.get((dataset, solver, task))
    c.source = (f"CSIPlab/CoDPS configs/{dataset.upper()}/{sampler}/{_CODPS_FILES[task]}_config.yaml: "
                f"method {'CoDPS+' if solver == 'codps_plus' else 'CoDPS'}, scale {scale}, t_div {t_div}, "
                f"div_ratio {div_ratio}, inv_var {inv_var}, use_A_AT True, noise gaussian 0.05; "
                f"respacing {c.diffusion.respacing}" + (", eta 1" if solver == "codps_plus" else "")
                + (f" ({note})" if note else ""))


def _spgd_row(c, dataset: str, task: str) -> None:
    path, c.solver.num_inner, c.solver.lr, sigma_y = _SPGD[task]
    c.noise.params.sigma = sigma_y
    _set_operator(c, _SPGD_OPS, task)
    c.operator.seed = 42   # posterior_sample.py seeds numpy/torch with 42
    c.seed = 42
    note = _SPGD_NOTES.get(task)
    c.source = (f"74587887/SPGD {path}: num_steps (J) {c.solver.num_inner}, lr {c.solver.lr}, sigma "
                f"{sigma_y}; config/sampler/edm_spgd.yaml: 200 steps, sigma_max 100, sigma_min 0.1, poly-7; "
                f"variant code (released momentum unused)" + (f" ({note})" if note else ""))


# solver -> (the (dataset, task) pairs its seed ships, the function applying one row)
_ROWS = {
    "dps": ([(d, t) for d in DATASETS for t in _DPS], _dps_row),
    "codps": ([(d, t) for (d, s, t) in _CODPS if s == "codps"], _codps_row),
    "codps_plus": ([(d, t) for (d, s, t) in _CODPS if s == "codps_plus"], _codps_row),
    "spgd": ([(d, t) for d in DATASETS for t in _SPGD], _spgd_row),
    "diffpir": ([(d, t) for d in DATASETS for t in _DIFFPIR], _diffpir_row),
    "ddrm": ([(d, t) for d in DATASETS for t in _DDRM], _ddrm_row),
    "ddnm": ([(d, t) for d in DATASETS for t in _DDNM], _ddnm_row),
    "pgdm": ([(d, t) for d in DATASETS for t in _REDDIFF_DEG], _pgdm_row),
    "reddiff": ([(d, t) for d in DATASETS for t in _REDDIFF_DEG], _reddiff_row),
    "daps": ([(d, t) for d in DATASETS for t in _DAPS_TASKS], _daps_row),
}
SOLVERS = tuple(_ROWS)


def available() -> list[tuple[str, str, str]]:
    """Every (dataset, solver, task) the seeds define."""
    return sorted((d, s, t) for s, (pairs, _) in _ROWS.items() for d, t in pairs)


PRESETS = available()


def _set_operator(c, table, task):
    name, params, per_image = table[task]
    c.operator.name = name
    c.operator.params = ml_collections.ConfigDict(params)
    c.operator.per_image = per_image


def preset(dataset: str, solver: str, task: str) -> ml_collections.ConfigDict:
    """`defaults.get_config()` with the values of the seed's config for (dataset, solver, task)."""
    if (dataset, solver, task) not in PRESETS:
        raise ValueError(f"no seed config for dataset={dataset!r} solver={solver!r} task={task!r}; "
                         f"defined: {[f'{d}/{s}_{t}' for d, s, t in PRESETS]}")
    c = defaults.get_config()
    c.name = f"{dataset}_{solver}_{task}"
    d = DATASETS[dataset]
    c.model.preset, c.model.checkpoint_dir, c.model.torch_checkpoint = d["preset"], d["checkpoint_dir"], d["torch_checkpoint"]
    c.data.path = d["data_path"]
    c.solver.name = solver
    _ROWS[solver][1](c, dataset, task)
    return c
