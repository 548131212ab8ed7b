"""Forward operators y = A(x) and measurement noise models of the seeds' inverse problems.

`make_operator(name, image_shape, **params)` builds a registered operator (see `OPERATORS`), which
acts on one (H, W, C) image in [-1, 1]; `make_noise(name, **params)` a noise model;
`measure(op, noise, key, x)` = noise(A(x)). Importing this package imports every module in it, so
an operator module added later (e.g. `nonlinear_blur.py`, registering itself with
`@register_operator`) is in `OPERATORS` without further wiring.
"""
import importlib as _importlib
import pkgutil as _pkgutil

from jaxinv.operators.base import OPERATORS, OperatorBase, make_operator, register_operator, stack_operators
from jaxinv.operators.blur import (
    Blur,
    CoDPSSuperResolution,
    GaussianBlur,
    MotionBlur,
    gaussian_blur_kernel,
)
from jaxinv.operators.inpainting import Inpainting, batched_inpainting, generate_mask, inpainting_masks
from jaxinv.operators.motion_kernel import dps_motion_kernel, motion_kernel
from jaxinv.operators.noise import NOISES, GaussianNoise, PoissonNoise, make_noise, measure
from jaxinv.operators.phase_retrieval import HighDynamicRange, PhaseRetrieval
from jaxinv.operators.resizer import SuperResolution, resize_matrix, resizer_contributions

for _module in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "OPERATORS",
    "NOISES",
    "OperatorBase",
    "make_operator",
    "register_operator",
    "stack_operators",
    "make_noise",
    "measure",
    "Blur",
    "CoDPSSuperResolution",
    "GaussianBlur",
    "GaussianNoise",
    "HighDynamicRange",
    "Inpainting",
    "MotionBlur",
    "PhaseRetrieval",
    "PoissonNoise",
    "SuperResolution",
    "batched_inpainting",
    "dps_motion_kernel",
    "gaussian_blur_kernel",
    "generate_mask",
    "inpainting_masks",
    "motion_kernel",
    "resize_matrix",
    "resizer_contributions",
]
