"""Operator registry and the behaviour every forward operator shares.

An operator is a `flax.struct.dataclass` acting on ONE image `x` of shape (H, W, C) in [-1, 1];
batches are `jax.vmap` over images (and, for per-image masks, over the operator pytree itself).
Static configuration (shapes, padding mode) lives in non-pytree fields; kernels and masks are
array leaves built once on the host. An operator with a random instance (a mask, a kernel) draws
it in `draw(rng, image_shape, **params)` from a numpy `RandomState`, which `create(..., seed=s)`
calls with `RandomState(s)`; a run that needs one instance per image calls `draw` once per image
on one stream (`jaxinv.build.OperatorSource`). `show(y)` is how a measurement is pictured. A
linear operator whose A A^T is diagonal in a known basis returns it from `spectral()`.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

OPERATORS: dict[str, Any] = {}


def register_operator(name: str) -> Callable:
    """Class decorator adding an operator to `OPERATORS` under `name`.

    The class must provide `create(image_shape, **params)` (host-side construction). It may
    provide `example_params`: a dict of small parameters used by the test sweep over every
    registered operator, or `None` together with `example_skip_reason` (e.g. needs a checkpoint).
    """

    def decorator(cls):
        if name in OPERATORS and OPERATORS[name] is not cls:
            raise ValueError(f"operator {name!r} is already registered ({OPERATORS[name].__name__})")
        if not hasattr(cls, "create"):
            raise TypeError(f"operator {name!r}: {cls.__name__} must define a `create` classmethod")
        cls.registered_name = name
        OPERATORS[name] = cls
        return cls

    return decorator


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Validate and normalise an (H, W, C) image shape."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or any(s <= 0 for s in shape):
        raise ValueError(f"image_shape must be (H, W, C) with positive sizes, got {tuple(image_shape)}")
    return shape


def make_operator(name: str, image_shape, **params):
    """Build the registered operator `name` for images of shape (H, W, C)."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; registered operators: {sorted(OPERATORS)}")
    cls = OPERATORS[name]
    signature = inspect.signature(cls.create)
    accepted = [p for p in list(signature.parameters)[1:]]
    try:
        signature.bind(image_shape, **params)
    except TypeError as err:
        raise ValueError(f"bad parameters for operator {name!r}: {err}; accepted parameters: {accepted}") from None
    return cls.create(check_image_shape(image_shape), **params)


def operators_with_draws() -> list[str]:
    """The registered operators that draw a random instance (a new one per image is possible)."""
    return sorted(name for name, cls in OPERATORS.items() if getattr(cls, "draw", None) is not None)


def stack_operators(operators):
    """Stack operators of one kind (same static fields) into one whose leaves have a leading batch axis.

    E.g. CoDPS draws a new motion kernel per image: stack the per-image operators and use
    `jax.vmap(lambda op, x: op.forward(x))(stacked, xs)`.
    """
    operators = list(operators)
    if not operators:
        raise ValueError("stack_operators needs at least one operator")
    structures = {jax.tree.structure(op) for op in operators}
    if len(structures) != 1:
        raise ValueError("stack_operators: operators differ in kind or static fields (image shape, padding, ...)")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *operators)


class OperatorBase:
    """Shared methods of forward operators `y = A(x)` on one (H, W, C) image.

    Subclasses define a static `image_shape` field, `is_linear` (ClassVar) and `_apply(x)`.
    """

    is_linear: ClassVar[bool] = False
    example_params: ClassVar[dict | None] = {}
    example_skip_reason: ClassVar[str] = ""

    def _apply(self, x):
        raise NotImplementedError

    def check_input(self, x) -> None:
        """Raise ValueError if `x` is not one image of `self.image_shape` (static, at trace time)."""
        if tuple(x.shape) != tuple(self.image_shape):
            what = "channel count" if (x.ndim == 3 and tuple(x.shape[:2]) == tuple(self.image_shape[:2])) else "image shape"
            raise ValueError(
                f"{type(self).__name__}: wrong {what}: expected one image of shape {tuple(self.image_shape)} "
                f"(H, W, C), got {tuple(x.shape)}; batch with jax.vmap"
            )

    def forward(self, x):
        """y = A(x)."""
        self.check_input(x)
        return self._apply(x)

    def __call__(self, x):
        return self.forward(x)

    @property
    def measurement_shape(self) -> tuple[int, ...]:
        return tuple(jax.eval_shape(self._apply, jax.ShapeDtypeStruct(tuple(self.image_shape), jnp.float32)).shape)

    def adjoint(self, y):
        """A^T y, obtained by `jax.linear_transpose` of the forward map."""
        if not self.is_linear:
            raise ValueError(f"{type(self).__name__} is not linear: it has no adjoint")
        primal = jax.ShapeDtypeStruct(tuple(self.image_shape), y.dtype)
        (x,) = jax.linear_transpose(self.forward, primal)(y)
        return x

    # When `spectral()` returns the operator's spectral view (jaxinv.operators.spectral): None =
    # never, "" = always, else the condition (e.g. "padding='circular'"), for error messages.
    spectral_condition: ClassVar[str | None] = None

    def spectral(self):
        """`Spectral(ut, u, eigenvalues, gain)` with A A^T = U diag(eigenvalues) U^T, or None."""
        return None

    # The same for `svd()`, the full SVD on a coefficient grid of the image's shape (DDRM).
    svd_condition: ClassVar[str | None] = None

    def svd(self):
        """`SVD(vt, v, ut, u, singulars, measured)` with A = U S V^T (jaxinv.operators.spectral), or None."""
        return None

    # Operators with a random instance define `draw(cls, rng, image_shape, **params)` (a classmethod).
    draw = None

    def show(self, y) -> np.ndarray:
        """A [-1, 1] (H, W, 3) picture of one measurement y: y itself when it is an image of this shape,
        else its log-magnitude, rescaled to [0, 1] and resized (e.g. Fourier magnitudes)."""
        y = np.asarray(y, np.float32)
        if y.shape == tuple(self.image_shape):
            return np.clip(y, -1, 1)
        return log_magnitude_picture(y, self.image_shape)


def upsampled_picture(y, image_shape) -> np.ndarray:
    """A low-resolution image y shown at `image_shape` by pixel repetition (nearest neighbour)."""
    y = np.asarray(y, np.float32)
    rows = np.arange(image_shape[0]) * y.shape[0] // image_shape[0]
    cols = np.arange(image_shape[1]) * y.shape[1] // image_shape[1]
    return np.clip(y[rows][:, cols], -1, 1)


def log_magnitude_picture(y, image_shape) -> np.ndarray:
    """log(1 + |y|) rescaled to [0, 1], its first two axes resized bilinearly to `image_shape`, as RGB in [-1, 1]."""
    from PIL import Image

    mag = np.log1p(np.abs(np.asarray(y, np.float32)))
    mag = (mag - mag.min()) / max(float(mag.max() - mag.min()), 1e-12)
    image = Image.fromarray((mag * 255).round().astype(np.uint8).squeeze()).resize(tuple(image_shape[1::-1]),
                                                                                     Image.BILINEAR)
    return np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1.0
