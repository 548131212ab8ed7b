"""Forward operators y = A(x) and measurement noise models of the seeds' inverse problems.

`make_operator(name, image_shape, **params)` builds a registered operator (see `OPERATORS`);
`make_noise(name, **params)` a noise model; `measure(op, noise, key, x)` = noise(A(x)).
"""
from jaxinv.operators.base import OPERATORS, OperatorBase, make_operator, register_operator
from jaxinv.operators.resizer import SuperResolution, resize_matrix, resizer_contributions

__all__ = [
    "OPERATORS",
    "OperatorBase",
    "make_operator",
    "register_operator",
    "SuperResolution",
    "resize_matrix",
    "resizer_contributions",
]
