"""From a config (`configs/defaults.py`) to the pieces of an experiment: model, operator, noise, sampler.

config -> `load_model` (converted ADM) + `OperatorSource` (host-side masks/kernels, one per image
where the seed draws one per image) + `build_noise` -> `make_sample_fn`: one jittable function
`sample(params, operator, y, key) -> {"sample", "diagnostics"}` for ONE measurement, which the
runner vmaps over a batch and over posterior samples. The solver is the registered method of
`solver.name` (`jaxinv.solvers.registry`). `sample(..., hparams)` takes the method's traced
hyper-parameters as (possibly traced) arrays, so a grid of settings is one more `jax.vmap`
(experiments.sweep) instead of one compilation per setting.
"""
from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from jaxinv.checkpoint import CONFIG_FILE, PARAMS_SUBDIR
from jaxinv.diffusion import network_prior
from jaxinv.operators import make_noise, make_operator, stack_operators
from jaxinv.operators.blur import MotionBlur
from jaxinv.operators.inpainting import Inpainting, generate_mask
from jaxinv.operators.motion_kernel import dps_motion_kernel, motion_kernel
from jaxinv.solvers import registry, run
from jaxinv.solvers.registry import Sampler

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


def method_of(config) -> registry.Method:
    """The registered method of `config.solver.name` (the error lists the registered ones)."""
    return registry.get(config.solver.name)


def check_config(config) -> None:
    """Raises a ValueError naming the first problem of the config's solver, operator or noise (a name
    that is not registered, a parameter the class refuses), before any data or weights are read."""
    method = method_of(config)
    if method.classical:
        method.estimate(config)
    else:
        method.make_sampler(config, image_shape(config))
    OperatorSource(config)
    build_noise(config)


def _classical_sample_fn(config, method):
    estimate = method.estimate(config)

    def sample(params, operator, y, key, hparams=None):
        del params, key
        registry.check_hparams(method.name, dict(hparams or {}))
        return {"sample": estimate(operator, y), "diagnostics": {}}

    return sample


def make_sampler(config, module) -> Sampler:
    """The `Sampler` of the diffusion method of `config` on the network `module`: its `solver` takes
    the network's params (`solver(params, operator, y, hparams)`); `start` is the method's.

    `hparams` holds values of the method's traced fields that override the config's (possibly traced).
    """
    method = method_of(config)
    if method.classical:
        raise ValueError(f"{method.name!r} is a classical baseline: it has no sampling steps")
    method.check(config, module.config)
    sampler = method.make_sampler(config, image_shape(config))

    def solver(params, operator, y, hparams):
        return sampler.solver(network_prior(module, params), operator, y, hparams)

    return Sampler(sampler.start, solver)


def make_sample_fn(config, module):
    """`sample(params, operator, y, key, hparams=None) -> {"sample", "diagnostics"}`: one posterior sample
    of one measurement, the `make_sampler` steps as one `lax.scan` (`driver.run`).

    `hparams` (optional) overrides the method's traced fields with arrays that may be traced (e.g.
    `{"scale": s}` under `jax.vmap` over a grid of s); absent fields come from `config`.
    """
    method = method_of(config)
    if method.classical:
        return _classical_sample_fn(config, method)
    sampler = make_sampler(config, module)

    def sample(params, operator, y, key, hparams=None):
        hparams = dict(hparams or {})
        registry.check_hparams(method.name, hparams)
        return run(sampler.solver(params, operator, y, hparams), *sampler.start(key, hparams))

    return sample
