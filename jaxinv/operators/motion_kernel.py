"""Motion-blur kernels of the MotionBlur library (`motionblur.Kernel(size, intensity).kernelMatrix`).

Host-side numpy/PIL, drawing from a `numpy.random.RandomState` in the library's exact call order,
so `motion_kernel(61, 0.5, RandomState(s))` equals the library's kernel right after
`np.random.seed(s)`. The recipe on a canvas of twice the size, with diagonal D and intensity I:

1. max path length L = 0.75 D (U(0,1) + U(0, I^2)); step lengths beta(1, 30) (1 - I + 0.1) D,
   kept while shorter than L, drawn until their sum reaches L;
2. max angle U(0, I pi), jitter beta(2, 20); first angle U(-max, max); each next angle
   triangular(0, I max, max + 0.1) with the previous sign, flipped when U(0,1) < jitter;
3. path = cumulative sum of step e^{i angle}, centred on its mean, rotated by U(0, pi),
   moved to the canvas centre;
4. PIL line of width int(D / 150), GaussianBlur(radius int(0.01 D)), LANCZOS resize to the
   kernel size, greyscale, float32 normalised to sum 1.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

_EPS = 0.1  # the library's "tiny error"
MIN_KERNEL_SIZE = 54  # smallest k with int(2 k sqrt(2) / 150) >= 1


def _path(rng: np.random.RandomState, canvas: tuple[int, int], intensity: float) -> list[tuple[float, float]]:
    width, height = canvas
    diagonal = (width**2 + height**2) ** 0.5

    max_length = 0.75 * diagonal * (rng.uniform() + rng.uniform(0, intensity**2))
    steps: list[float] = []
    while sum(steps) < max_length:  # builtin sum, as the library: the loop test must round alike
        step = rng.beta(1, 30) * (1 - intensity + _EPS) * diagonal
        if step < max_length:
            steps.append(step)

    max_angle = rng.uniform(0, intensity * math.pi)
    jitter = rng.beta(2, 20)
    angles = [rng.uniform(low=-max_angle, high=max_angle)]
    while len(angles) < len(steps):
        angle = rng.triangular(0, intensity * max_angle, max_angle + _EPS)
        sign = np.sign(angles[-1])
        angle *= -sign if rng.uniform() < jitter else sign
        angles.append(angle)

    increments = np.asarray(steps) * np.exp(1j * np.asarray(angles))
    path = np.cumsum(increments)
    centre_of_mass = sum(path) / len(steps)
    path = path - centre_of_mass
    path = path * np.exp(1j * rng.uniform(0, math.pi))
    path = path + (width + 1j * height) / 2
    return [(point.real, point.imag) for point in path]


def motion_kernel(kernel_size: int, intensity: float, rng: np.random.RandomState) -> np.ndarray:
    """One `Kernel(size=(k, k), intensity).kernelMatrix` (float32, sums to 1), consuming `rng`."""
    if not 0 <= intensity <= 1:
        raise ValueError(f"motion kernel intensity must be in [0, 1], got {intensity!r}")
    if kernel_size < MIN_KERNEL_SIZE:
        # below this the library draws its path with a line of width int(diagonal / 150) = 0: an empty kernel
        raise ValueError(f"motion kernel size must be >= {MIN_KERNEL_SIZE}, got {kernel_size!r}")
    size = (int(kernel_size), int(kernel_size))
    canvas = (2 * size[0], 2 * size[1])
    diagonal = (canvas[0] ** 2 + canvas[1] ** 2) ** 0.5
    path = _path(rng, canvas, intensity)
    image = Image.new("RGB", canvas)
    ImageDraw.Draw(image).line(xy=path, width=int(diagonal / 150))
    image = image.filter(ImageFilter.GaussianBlur(radius=int(diagonal * 0.01)))
    image = image.resize(size, resample=Image.LANCZOS).convert("L")
    kernel = np.asarray(image, dtype=np.float32).copy()
    kernel /= np.sum(kernel)
    return kernel


def dps_motion_kernel(kernel_size: int, intensity: float, rng: np.random.RandomState) -> np.ndarray:
    """The kernel of DPS's `MotionBlurOperator`: its `Blurkernel` draws one kernel, the operator a second it keeps."""
    motion_kernel(kernel_size, intensity, rng)
    return motion_kernel(kernel_size, intensity, rng)
