"""Every method is one module that registers a `Method` here; the rest of jaxinv finds it by name.

A diffusion method's module holds its whole algorithm: the step (`Solver(step, init, output)`,
run by `driver.run`), and the `Method` that says how a config becomes a sampler:

    def make_sampler(config, shape) -> Sampler:
        schedule = ...                                   # from config.diffusion / config.annealing
        def start(key, hparams):                         # x_init and the per-step inputs xs (steps leading)
            ...
        def solver(prior, operator, y, hparams):         # prior.eps(x, t) / prior.denoiser(x, sigma)
            return my_solver(prior.eps, schedule, operator, y, scale=hparams.get("scale", config.solver.scale))
        return Sampler(start, solver)

    register(Method("my_method", "My method", fields={"scale": (1.0, "guidance step size")},
                    traced=("scale",), make_sampler=make_sampler, steps=..., set_steps=...))

`fields` are the `config.solver` fields the method reads, with defaults and docs:
`configs/defaults.py` takes them from `solver_config()` (methods that share a field must agree on its
default). `traced` are those that enter the sampler only as arithmetic, so a sweep may pass them as
traced arrays in `hparams` (one compilation for a grid). A classical baseline registers
`estimate(config) -> fn(operator, y)` instead of a sampler. A method whose prior is not the ADM
UNet of `config.model` (G2D2's VQ-Diffusion) registers `network(config) -> Network` instead: it
loads its own weights and samples one measurement with them (`experiments.run` runs it). Importing `jaxinv.solvers` imports every
module of the package, so a new module is registered without further wiring; a method defined
elsewhere (a test, a user's script) registers itself the same way before the config is built.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import ml_collections


class Network(NamedTuple):
    """The prior a method samples with, when it is not the ADM UNet of `config.model`.

    params: the weights (a pytree, replicated over devices).
    module: a hashable description of the networks (which compiled program fits them).
    sample: (params, operator, y, key, cond) -> {"sample", "diagnostics"} for ONE measurement.
    condition: examples -> (cond, columns): per-image conditioning stacked on a leading axis (e.g.
        text embeddings of the captions) and per-image columns for metrics.csv (e.g. the prompt).
    info: what summary.json records about the networks (e.g. the latent grid).
    """
    params: Any
    module: Any
    sample: Callable
    condition: Callable
    info: dict


class Sampler(NamedTuple):
    """One measurement's sampler split at its step loop (scanned by `driver.run`, or looped from the host).

    `start(key, hparams) -> (x_init, xs)`: the first iterate and the per-step inputs (steps leading).
    `solver(prior, operator, y, hparams) -> Solver`: init / step / output for this measurement.
    """
    start: Callable
    solver: Callable


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered method: what the runner, sweeps, benchmarks, presets and the demo need of it.

    name, label: the config name (`solver.name`) and the display name.
    fields: {config.solver field: (default, doc)} the method reads.
    traced: fields that may be traced arrays (`hparams`), e.g. a guidance scale.
    make_sampler: (config, image shape) -> Sampler, for a diffusion method on the ADM UNet.
    estimate: config -> fn(operator, y), for a classical baseline (no network, no steps).
    network: config -> Network, for a method with a prior of its own (loads its weights).
    steps / set_steps: the number of sampling steps of a config, and setting it (demo, bench).
    network_evals_per_step: config -> UNet evaluations per sampling step.
    network_gradient: whether a step backpropagates through the network (VJP per evaluation).
    check: (config, model config) -> None, raises ValueError for a config the model cannot run.
    validate: config -> None, raises ValueError for a config the method refuses, before any data or
        weights are read (default: build the sampler or the estimate).
    """
    name: str
    label: str
    fields: dict[str, tuple[Any, str]] = dataclasses.field(default_factory=dict)
    traced: tuple[str, ...] = ()
    make_sampler: Callable | None = None
    estimate: Callable | None = None
    network: Callable | None = None
    steps: Callable | None = None
    set_steps: Callable | None = None
    network_evals_per_step: Callable = lambda config: 1
    network_gradient: bool = False
    check: Callable = lambda config, model_config: None
    validate: Callable | None = None

    @property
    def classical(self) -> bool:
        return self.estimate is not None

    def check_config(self, config, shape) -> None:
        """`validate(config)`, or build the sampler (images of `shape`) or the estimate."""
        if self.validate is not None:
            self.validate(config)
        elif self.classical:
            self.estimate(config)
        elif self.make_sampler is not None:
            self.make_sampler(config, shape)

    def network_evaluations(self, config) -> int:
        """UNet evaluations per posterior sample."""
        return 0 if self.classical else int(self.steps(config)) * int(self.network_evals_per_step(config))


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Adds `method` to `METHODS`; a name may be registered once (re-registering the same object is a no-op)."""
    kinds = [k for k in ("make_sampler", "estimate", "network") if getattr(method, k) is not None]
    if len(kinds) != 1:
        raise TypeError(f"method {method.name!r}: give exactly one of make_sampler (diffusion on the ADM UNet), "
                        f"estimate (classical) or network (a prior of its own), not {kinds}")
    if not method.classical and (method.steps is None or method.set_steps is None):
        raise TypeError(f"method {method.name!r}: a diffusion method needs steps and set_steps")
    unknown = sorted(set(method.traced) - set(method.fields))
    if unknown:
        raise TypeError(f"method {method.name!r}: traced fields {unknown} are not among its fields")
    old = METHODS.get(method.name)
    if old is not None and old is not method:
        raise ValueError(f"method {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    """The registered method `name`; the error lists every registered one."""
    if name not in METHODS:
        raise ValueError(f"unknown solver {name!r}; registered: diffusion {diffusion_methods()}, "
                         f"classical {classical_methods()}")
    return METHODS[name]


def diffusion_methods() -> list[str]:
    return sorted(n for n, m in METHODS.items() if not m.classical)


def classical_methods() -> list[str]:
    return sorted(n for n, m in METHODS.items() if m.classical)


def solver_config() -> ml_collections.ConfigDict:
    """`config.solver`: `name` and every registered method's fields with their defaults."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name, method in sorted(METHODS.items()):
        for field, (default, _) in method.fields.items():
            if field in merged and merged[field] != default:
                raise ValueError(f"solver field {field!r}: {owner[field]!r} defaults it to {merged[field]!r}, "
                                 f"{name!r} to {default!r}; shared fields must agree")
            merged.setdefault(field, default)
            owner.setdefault(field, name)
    return ml_collections.ConfigDict({"name": "dps", **merged})


def check_hparams(name: str, names) -> None:
    """Raises unless every name is a traced hyper-parameter of method `name`."""
    method = get(name)
    bad = sorted(set(names) - set(method.traced))
    if bad:
        raise ValueError(f"solver {name!r} cannot take {bad} as traced values; its traced hyper-parameters "
                         f"are {list(method.traced)} (others change the traced program: one run each)")
