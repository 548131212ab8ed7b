"""From a config (`configs/defaults.py`) to the pieces of an experiment: model, operator, noise, sampler.

config -> `load_network` (the converted ADM of `load_model`, or a method's own prior) +
`OperatorSource` (host-side masks/kernels, one per image where the seed draws one per image) +
`build_noise` -> `make_sample_fn`: one jittable function
`sample(params, operator, y, key) -> {"sample", "diagnostics"}` for ONE measurement, which the
runner vmaps over a batch and over posterior samples. The solver is the registered method of
`solver.name` (`jaxinv.solvers.registry`). `sample(..., hparams)` takes the method's traced
hyper-parameters as (possibly traced) arrays, so a grid of settings is one more `jax.vmap`
(experiments.sweep) instead of one compilation per setting.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from jaxinv.checkpoint import CONFIG_FILE, PARAMS_SUBDIR
from jaxinv.diffusion import network_prior
from jaxinv.operators import OPERATORS, make_noise, make_operator, stack_operators
from jaxinv.operators.base import operators_with_draws
from jaxinv.solvers import registry, run
from jaxinv.solvers.registry import Network, Sampler

CONVERT_COMMAND = "python -m convert.adm --checkpoint {torch} --model-config {preset} --output {dir}"


class MissingCheckpointError(FileNotFoundError):
    """The converted model directory does not exist; the message holds the command that makes it."""


def python_values(value):
    """ConfigDict / dict / list leaves as plain Python (lists become tuples: JSON round trips, mask ranges)."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: python_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(python_values(v) for v in value)
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


def load_network(config) -> Network:
    """The prior of the config's method: its own (`Method.network`, e.g. G2D2's VQ-Diffusion), or the
    converted ADM UNet of `config.model` (then `sample` is None: `jaxinv.execution.batch_sampler`
    builds the sampler, with either step loop, and `condition` is None: no per-image conditioning)."""
    method = method_of(config)
    if method.network is not None:
        return method.network(config)
    module, params = load_model(config.model)
    return Network(params=params, module=module, sample=None, condition=None, info={})


def build_noise(config):
    return make_noise(config.noise.name, **python_values(config.noise.params))


class OperatorSource:
    """The operator of each image of a run, indexed by the image's position in the data subset.

    Shared (`operator.per_image = False`): one operator; one with a random instance is drawn from
    `RandomState(operator.seed)`, as SPGD (mask drawn once, motion kernel once per run). Per image:
    the i-th instance drawn in sequence by the operator's `draw` from one `RandomState(operator.seed)`
    (DPS masks, CoDPS motion kernels), so image i gets the same operator whatever the batch size or
    a resumed run. `extra` goes to `make_operator` (e.g. the params of a nonlinear-blur network in tests).
    """

    def __init__(self, config, shape=None, **extra):
        self.shape = tuple(shape or image_shape(config))
        self.name = config.operator.name
        self.params = {**python_values(config.operator.params), **extra}
        self.per_image = bool(config.operator.per_image)
        seed = int(config.operator.seed)
        random = self.name in operators_with_draws()
        # validates the name and parameters; a random operator's instance comes from RandomState(seed)
        self.shared = make_operator(self.name, self.shape, **({"seed": seed, **self.params} if random else self.params))
        if not self.per_image:
            return
        if not random:
            raise ValueError(f"operator.per_image needs an operator that draws a random instance "
                             f"({operators_with_draws()}), not {self.name!r}")
        self.shared = None
        params = {k: v for k, v in self.params.items() if k != "seed"}
        self._draw = functools.partial(OPERATORS[self.name].draw, np.random.RandomState(seed), self.shape, **params)
        self._draws: list = []

    def batch(self, indices):
        """The operator for images `indices`: the shared one, or per-image ones stacked on a leading axis."""
        if not self.per_image:
            return self.shared
        while len(self._draws) <= max(indices):
            self._draws.append(self._draw())
        return stack_operators([self._draws[i] for i in indices])


def method_of(config) -> registry.Method:
    """The registered method of `config.solver.name` (the error lists the registered ones)."""
    return registry.get(config.solver.name)


def check_config(config) -> OperatorSource:
    """Raises a ValueError naming the first problem of the config's solver, operator or noise (a name
    that is not registered, a parameter the class refuses), before any data or weights are read;
    returns the run's `OperatorSource`, built on the way."""
    method_of(config).check_config(config, image_shape(config))
    operators = OperatorSource(config)
    build_noise(config)
    return operators


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
    if method.network is not None:
        raise ValueError(f"{method.name!r} samples with a prior of its own, not the ADM UNet: run it with "
                         "`python -m experiments.run`")
    method.check(config, module.config)
    sampler = method.make_sampler(config, image_shape(config))

    def solver(params, operator, y, hparams):
        return sampler.solver(network_prior(module, params), operator, y, hparams)

    return Sampler(sampler.start, solver)


def make_sample_fn(config, module):
    """`sample(params, operator, y, key, hparams=None) -> {"sample", "diagnostics"}`: one posterior sample
    of one measurement, the `make_sampler` steps as one `lax.scan` (`driver.run`; with
    `output.progress` the steps report to an open `jaxinv.progress.steps_bar`).

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
        return run(sampler.solver(params, operator, y, hparams), *sampler.start(key, hparams),
                   progress=bool(config.output.progress))

    return sample
