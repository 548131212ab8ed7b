"""DiffPIR replay: the original `main_ddpir_deblur.py` loop from a fixture's start draw and recorded noise."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.crosscheck.dps import add_arguments, load_fixture, load_model, nhwc

HELP = "replay a DiffPIR fixture (z_init, z_loop_*) with jaxinv.solvers.diffpir and compare `out`"
# Relative to max|out|. The script's float32 data step at its first, smallest rho (~7e-7) computes
# (F R - F B^* F B R / (|F B|^2 + a)) / a with a ~ rho: cancellation of order eps / a, so the script's
# own answer moves by 2% of max|out| when only that step is done in float64 (tests/data/diffpir/README.md).
# A recording made with the data step in float64 is checked at 1e-3; the script's float32 one at 5e-2,
# which a 10% change of lambda, zeta or eta exceeds 8 to 40 times.
THRESHOLD_REL = {"float64": 1e-3, "float32": 5e-2}

__all__ = ["HELP", "add_arguments", "run"]


def fixture_operator(spec: dict, arrays, image_shape):
    """The script's blur: its kernel from the npz, circular (`mode='wrap'`) as the FFT closed form assumes."""
    from jaxinv.operators import Blur

    if "kernel" not in arrays:
        raise ValueError("a DiffPIR deblurring fixture stores its kernel as `kernel`; SR and inpainting fixtures "
                         "are not supported by this replay")
    if int(spec.get("sf", 1)) != 1:
        raise ValueError(f"DiffPIR replay supports sf = 1 (deblurring), got sf = {spec['sf']}")
    kernel = np.asarray(arrays["kernel"], np.float32).reshape(arrays["kernel"].shape[-2:])
    # ndimage.convolve is a convolution: flip to the cross-correlation jaxinv's Blur applies
    return Blur.from_kernel(image_shape, kernel[::-1, ::-1].copy(), "circular")


def recorded_noise(arrays, num_updates: int, inner: int, image_shape) -> np.ndarray:
    """The loop's draws in call order, per update and inner iteration: the DDIM noise, the fresh noise and
    (all but the last inner iteration) the re-noising to x_t, as (num_updates, inner, 3, *image)."""
    needed = num_updates * (3 * inner - 1)
    if any(f"z_loop_{i:03d}" not in arrays for i in range(needed)):
        raise ValueError(f"{num_updates} updates with iter_num_U = {inner} draw {needed} loop noises "
                         f"(z_loop_000 ... z_loop_{needed - 1:03d}); the fixture has fewer")
    draws = iter(nhwc(arrays[f"z_loop_{i:03d}"]) for i in range(needed))
    zero = np.zeros(image_shape, np.float32)
    return np.stack([np.stack([np.stack([next(draws), next(draws), next(draws) if u < inner - 1 else zero])
                               for u in range(inner)]) for _ in range(num_updates)])


def run(args):
    from jaxinv.diffusion import make_schedule
    from jaxinv.solvers.diffpir import diffpir_sequence, diffpir_solver, diffpir_start, diffpir_tables
    from jaxinv.solvers.driver import run as drive

    spec, arrays = load_fixture(args)
    if spec.get("method") != "DiffPIR":
        raise ValueError(f"{args.fixture} is not a DiffPIR fixture (method {spec.get('method')!r})")
    precision = spec.get("data_step_precision", "float32")
    if precision not in THRESHOLD_REL:
        raise ValueError(f"unknown data_step_precision {precision!r}; expected one of {sorted(THRESHOLD_REL)}")
    module, params, eps_model_of = load_model(args.checkpoint, args.model_config)
    y = 2.0 * nhwc(arrays["y"]) - 1.0
    shape = y.shape
    operator = fixture_operator(spec, arrays, shape)
    tables = diffpir_tables(1000, "linear")
    timesteps = diffpir_sequence(1000, int(spec["iter_num"]), spec["skip_type"])
    n, inner = len(timesteps) - 1, int(spec.get("iter_num_U", 1))
    z = recorded_noise(arrays, n, inner, shape)
    sigma = 2.0 * float(spec["noise_level_img"])
    schedule = make_schedule(1000, "linear", "")

    @jax.jit
    def replay(params, y, z_init, z):
        solver = diffpir_solver(eps_model_of(module, params), schedule, tables, operator, y, sigma,
                                lambda_=float(spec["lambda_effective"]), zeta=float(spec["zeta_effective"]),
                                eta=float(spec["eta"]), inner=inner)
        xs = {"t": jnp.asarray(timesteps[:-1]), "t_next": jnp.asarray(timesteps[1:]), "z": z}
        return drive(solver, diffpir_start(tables, y, sigma, z_init), xs)["sample"]

    out = np.asarray(replay(params, jnp.asarray(y), jnp.asarray(nhwc(arrays["z_init"])), jnp.asarray(z)))
    expected = nhwc(arrays["out"])
    print(f"max|out|={np.abs(expected).max():.6g}")
    return float(np.abs(out - expected).max()), THRESHOLD_REL[precision] * float(np.abs(expected).max())
