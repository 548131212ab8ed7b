"""From a config (`configs/defaults.py`) to the pieces of an experiment: model, operator, noise, sampler.

config -> `load_model` (converted ADM) + `OperatorSource` (host-side masks/kernels, one per image
where the seed draws one per image) + `build_noise` -> `make_sample_fn`: one jittable function
`sample(params, operator, y, key) -> {"sample", "diagnostics"}` for ONE measurement, which the
runner vmaps over a batch and over posterior samples. `sample(..., hparams)` takes the solver
hyper-parameters of `TRACED_PARAMS` as (possibly traced) arrays, so a grid of settings is one more
`jax.vmap` (experiments.sweep) instead of one compilation per setting.
"""
from __future__ import annotations

import os
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.checkpoint import CONFIG_FILE, PARAMS_SUBDIR
from jaxinv.diffusion import VPPrecond, annealing_schedule, flax_eps_model, make_schedule
from jaxinv.operators import make_noise, make_operator, stack_operators
from jaxinv.operators.blur import MotionBlur
from jaxinv.operators.inpainting import Inpainting, generate_mask
from jaxinv.operators.motion_kernel import dps_motion_kernel, motion_kernel
from jaxinv.solvers import codps_plus_solver, codps_solver, dps_solver, run, sampling_xs
from jaxinv.solvers.classical import BASELINES
from jaxinv.solvers.spgd import spgd_solver, spgd_xs

SOLVERS = ("dps", "codps", "codps_plus", "spgd")
CLASSICAL = tuple(BASELINES)   # no network: bicubic, pseudo_inverse, wiener, mean_fill
# Solver fields that enter the sampler only as arithmetic, so they may be traced arrays.
TRACED_PARAMS = {"dps": ("scale",), "codps": ("scale",), "codps_plus": ("scale",), "spgd": ("lr",),
                 **{name: () for name in CLASSICAL}}
CONVERT_COMMAND = "python -m convert.adm --checkpoint {torch} --model-config {preset} --output {dir}"


class MissingCheckpointError(FileNotFoundError):
    """The converted model directory does not exist; the message holds the command that makes it."""


def plain(value):
    """ConfigDict / dict / list leaves as plain Python (lists become tuples: JSON round trips, mask ranges)."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def image_shape(config) -> tuple[int, int, int]:
    return (int(config.data.image_size), int(config.data.image_size), 3)


def load_model(model_config):
    """`(module, params)` of the converted ADM in `model.checkpoint_dir`; names the convert command if absent."""
    from jaxinv.models.adm import load_adm

    directory = model_config.checkpoint_dir
    if not (os.path.isfile(os.path.join(directory, CONFIG_FILE)) and os.path.isdir(os.path.join(directory, PARAMS_SUBDIR))):
        command = CONVERT_COMMAND.format(torch=model_config.torch_checkpoint, preset=model_config.preset, dir=directory)
        raise MissingCheckpointError(
            f"no converted ADM checkpoint in {directory!r} (expected {CONFIG_FILE} and {PARAMS_SUBDIR}/). "
            f"Convert the original weights first:\n    {command}")
    return load_adm(directory, dtype=model_config.dtype, remat=bool(model_config.remat))


def build_noise(config):
    return make_noise(config.noise.name, **plain(config.noise.params))


class OperatorSource:
    """The operator of each image of a run, indexed by the image's position in the data subset.

    Shared (`operator.per_image = False`): one operator from `RandomState(operator.seed)`, as SPGD
    (mask drawn once, motion kernel once per run). Per image: the i-th mask/kernel drawn in sequence
    from one `RandomState(operator.seed)` (DPS masks, CoDPS motion kernels), so image i gets the same
    operator whatever the batch size or a resumed run. `extra` goes to `make_operator` (e.g. the
    params of a nonlinear-blur network in tests).
    """

    def __init__(self, config, shape=None, **extra):
        self.shape = tuple(shape or image_shape(config))
        self.name = config.operator.name
        self.params = {**plain(config.operator.params), **extra}
        self.seed = int(config.operator.seed)
        self.per_image = bool(config.operator.per_image)
        if not self.per_image:
            params = dict(self.params)
            if self.name in ("motion_blur", "inpainting"):
                params.setdefault("seed", self.seed)
            self.shared = make_operator(self.name, self.shape, **params)
            return
        if self.name not in ("inpainting", "motion_blur"):
            raise ValueError(f"operator.per_image is defined for inpainting and motion_blur, not {self.name!r}")
        make_operator(self.name, self.shape, **{**self.params, "seed": self.seed})  # validates the parameters
        self.shared = None
        self._rng = np.random.RandomState(self.seed)
        self._draws: list[np.ndarray] = []

    def _draw(self) -> np.ndarray:
        p = self.params
        if self.name == "inpainting":
            keys = ("mask_type", "mask_prob_range", "mask_len_range", "margin")
            return generate_mask(self._rng, self.shape[0], **{k: p[k] for k in keys if k in p})
        draw = dps_motion_kernel if p.get("draws", 2) == 2 else motion_kernel
        return draw(int(p.get("kernel_size", 61)), float(p.get("intensity", 0.5)), self._rng)

    def batch(self, indices):
        """The operator for images `indices`: the shared one, or per-image ones stacked on a leading axis."""
        if not self.per_image:
            return self.shared
        while len(self._draws) <= max(indices):
            self._draws.append(self._draw())
        if self.name == "inpainting":
            masks = np.stack([self._draws[i] for i in indices]).astype(np.float32)[..., None]
            return Inpainting(mask=jnp.asarray(masks), image_shape=self.shape)
        padding = self.params.get("padding", "reflect")
        return stack_operators([MotionBlur.from_kernel(self.shape, self._draws[i], padding) for i in indices])


def check_hparams(solver: str, names) -> None:
    """Raises unless every name is a traced hyper-parameter of `solver` (`TRACED_PARAMS`)."""
    if solver not in TRACED_PARAMS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS + CLASSICAL}")
    bad = sorted(set(names) - set(TRACED_PARAMS[solver]))
    if bad:
        raise ValueError(f"solver {solver!r} cannot take {bad} as traced values; its traced hyper-parameters "
                         f"are {list(TRACED_PARAMS[solver])} (others change the traced program: one run each)")


def _diffusion_solver(config, eps_model, schedule, operator, y, hparams):
    s = config.solver
    diffusion = config.diffusion
    scale = hparams.get("scale", float(s.scale))
    if s.name == "dps":
        return dps_solver(eps_model, schedule, operator, y, scale=scale, var_type=diffusion.var_type,
                          clip_denoised=bool(diffusion.clip_denoised), step_rule=s.step_rule,
                          noise_model="poisson" if config.noise.name == "poisson" else "gaussian",
                          batch_norm=bool(s.batch_norm))
    sigma = float(plain(config.noise.params).get("sigma", 0.0)) if config.noise.name == "gaussian" else 0.0
    common = dict(noise_sigma=sigma, scale=scale, t_div=float(s.t_div), div_ratio=float(s.div_ratio),
                  inv_var=float(s.inv_var), likelihood=s.likelihood, clip_denoised=bool(diffusion.clip_denoised))
    if s.name == "codps":
        return codps_solver(eps_model, schedule, operator, y, var_type=diffusion.var_type, **common)
    return codps_plus_solver(eps_model, schedule, operator, y, eta=float(s.eta), **common)


def _classical_sample_fn(config):
    name = config.solver.name
    baseline = BASELINES[name]
    if name == "wiener":
        if config.noise.name != "gaussian":
            raise ValueError(f"the wiener baseline assumes Gaussian noise, not {config.noise.name!r}")
        sigma = float(plain(config.noise.params)["sigma"])
        baseline = lambda operator, y: BASELINES["wiener"](operator, y, sigma)  # noqa: E731

    def sample(params, operator, y, key, hparams=None):
        del params, key
        check_hparams(name, dict(hparams or {}))
        return {"sample": baseline(operator, y), "diagnostics": {}}

    return sample


class Sampler(NamedTuple):
    """One measurement's sampler split at its step loop (what `make_sample_fn` scans and
    `jaxinv.execution` may instead loop from the host).

    `start(key, hparams) -> (x_init, xs)`: the first iterate and the per-step inputs (steps leading).
    `solver(params, operator, y, hparams) -> Solver`: init / step / output for this measurement.
    """
    start: Callable
    solver: Callable


def make_sampler(config, module) -> Sampler:
    """The `Sampler` of a diffusion solver of `config` (not the classical baselines: they have no steps).

    DPS/CoDPS/CoDPS+: x_T ~ N(0, I), then the respaced reverse process (noise per step from `key`).
    SPGD: x_0 = sigma_max N(0, I), then the annealing steps (deterministic after the start).
    `hparams` holds `TRACED_PARAMS[solver]` values that override the config's (possibly traced).
    """
    name = config.solver.name
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; expected one of {SOLVERS}")
    shape = image_shape(config)
    learn_sigma = bool(getattr(module.config, "learn_sigma", True))
    if name in ("dps", "codps") and config.diffusion.var_type == "learned_range" and not learn_sigma:
        raise ValueError("diffusion.var_type 'learned_range' needs a model with learn_sigma=True; "
                         "use 'fixed_small' or 'fixed_large'")
    remat = False  # block-level remat is a module field (load_adm(remat=...))

    if name == "spgd":
        a = config.annealing
        schedule = annealing_schedule(int(a.num_steps), float(a.sigma_max), float(a.sigma_min), sigma_final=0.0,
                                      schedule=a.schedule, timestep=a.timestep)
        xs = spgd_xs(schedule, float(config.solver.lr), float(config.solver.lr_min_ratio))
        unit_lrs = spgd_xs(schedule, 1.0, float(config.solver.lr_min_ratio))["lr"]
        sigma_start = float(schedule.sigma_steps[0])

        def spgd_start(key, hparams):
            steps_xs = {**xs, "lr": hparams["lr"] * unit_lrs} if "lr" in hparams else xs
            return sigma_start * jax.random.normal(key, shape), steps_xs

        def spgd(params, operator, y, hparams):
            denoiser = VPPrecond().denoiser(flax_eps_model(module, params, remat))
            return spgd_solver(denoiser, operator, y, num_inner=int(config.solver.num_inner),
                               beta=float(config.solver.beta), variant=config.solver.variant)

        return Sampler(spgd_start, spgd)

    d = config.diffusion
    schedule = make_schedule(int(d.steps), d.noise_schedule, str(d.respacing))

    def diffusion_start(key, hparams):
        key_start, key_steps = jax.random.split(key)
        return jax.random.normal(key_start, shape), sampling_xs(schedule, key_steps, shape)

    def diffusion(params, operator, y, hparams):
        return _diffusion_solver(config, flax_eps_model(module, params, remat), schedule, operator, y, hparams)

    return Sampler(diffusion_start, diffusion)


def make_sample_fn(config, module):
    """`sample(params, operator, y, key, hparams=None) -> {"sample", "diagnostics"}`: one posterior sample
    of one measurement, the `make_sampler` steps as one `lax.scan` (`driver.run`).

    `hparams` (optional) overrides solver fields of `TRACED_PARAMS[solver]` with arrays that may be
    traced (e.g. `{"scale": s}` under `jax.vmap` over a grid of s); absent fields come from `config`.
    """
    name = config.solver.name
    if name in CLASSICAL:
        return _classical_sample_fn(config)
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; expected one of {SOLVERS + CLASSICAL}")
    sampler = make_sampler(config, module)

    def sample(params, operator, y, key, hparams=None):
        hparams = dict(hparams or {})
        check_hparams(name, hparams)
        return run(sampler.solver(params, operator, y, hparams), *sampler.start(key, hparams))

    return sample
