"""jaxinv: imaging inverse problems with pretrained diffusion priors in JAX/Flax."""
import importlib.metadata as _metadata
import os as _os

__version__ = "0.1.0"


def _cpu_xla_flags() -> None:
    """Turn XLA:CPU's YNNPACK fusions off unless XLA_FLAGS already says something about them.

    With them (the default of jaxlib 0.10) the samplers' convolutions run slower on the CPU (the
    DPS step 19% slower in experiments.bench, a 3x3 conv stack 1.6x) and two nested vmaps over a
    sampler crash in a YNN transpose fusion (docs/benchmarks.md). It only affects the CPU backend,
    and only when jaxinv is imported before JAX starts its backend. Older jaxlibs do not know the flag.
    """
    flags = _os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in flags:
        return
    try:
        major, minor = (int(v) for v in _metadata.version("jaxlib").split(".")[:2])
    except (_metadata.PackageNotFoundError, ValueError):
        return
    if (major, minor) >= (0, 10):
        _os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_experimental_ynn_fusion_type=").strip()


_cpu_xla_flags()
