"""jaxinv's DDRM and DiffPIR beside deepinv 0.5's `deepinv.sampling.DDRM` / `DiffPIR` on the same weights,
measurement and noise (needs the `ref` extra: deepinv with torch and torchvision).

`python -m experiments.deepinv_compare --method ddrm|diffpir [--problem inpainting|sr4] [--size 32]
[--steps 20] [--seed 0]`

deepinv's sampler runs once on the benchmark's `DiffUNet` with random weights (`experiments.bench.torch_peer`),
every `torch.randn_like` draw and every denoiser input recorded. jaxinv's solver then runs on the same
weights (`convert.adm`) and draws, first with deepinv's conventions (the replay, which must match), then
with each of them replaced by the original code's, one at a time: how far each moves the output is what
that difference is worth. Images are compared in [-1, 1] units (deepinv works in [0, 1]: x' = 2x - 1,
y' = 2y - A1, sigma' = 2 sigma). One line per variant; the last line is the replay's `max_abs_err=`.

Where deepinv differs from the original code (docs/baselines.md):
- DDRM draws its noise as `std * randn / sqrt(2)` (also at the start) where the paper and code draw `std * randn`;
  its denoiser clamps x0 to [-1, 1] and the "noise" direction is (x_bar_prev - V^T x0) / sigma_prev of the
  clamped x0, where the code takes V^T of the network's eps with an unclipped x0.
- DiffPIR's data step is `L2().prox(x, y, physics, gamma=1 / (2 rho))`, i.e. argmin ||Az - y||^2 + 2 rho ||z - x||^2:
  twice the code's rho at the same lambda; its start is A^T y + noise, not the code's A^+ y (SR) or y.
"""
from __future__ import annotations

import argparse
import contextlib
import sys

import jax.numpy as jnp
import numpy as np

METHODS = ("ddrm", "diffpir")
PROBLEMS = ("inpainting", "sr4")
LAYOUT = "ffhq_10m"
NOISE_SIGMA = 0.05            # measurement noise std in deepinv's [0, 1] units
DDRM_ETA, DDRM_ETA_B = 0.85, 1.0
DIFFPIR_LAMBDA, DIFFPIR_ZETA = 7.0, 0.1   # deepinv's defaults


def nhwc(t) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy()).transpose(0, 2, 3, 1)


@contextlib.contextmanager
def recorded_randn_like():
    """Every `torch.randn_like` draw made inside the block, in call order (deepinv's samplers use nothing else)."""
    import torch

    draws, original = [], torch.randn_like

    def randn_like(t, *args, **kwargs):
        z = original(t, *args, **kwargs)
        draws.append(z.detach().clone())
        return z

    torch.randn_like = randn_like
    try:
        yield draws
    finally:
        torch.randn_like = original


def recording_denoiser(net):
    """`net` (a DiffUNet, called as a denoiser `net(x, sigma)`) that keeps each call's input x ([0, 1] units)."""
    import torch

    class Recording(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.inputs = net, []

        def forward(self, x, sigma, *args, **kwargs):
            self.inputs.append(x.detach().clone())
            return self.net(x, sigma, *args, **kwargs)

    return Recording()


def make_problem(problem: str, size: int, seed: int):
    """(deepinv physics, jaxinv operator, x in [0, 1] NCHW torch, y in [0, 1] from deepinv's noise)."""
    import deepinv as dinv
    import torch

    from jaxinv.operators import Inpainting
    from jaxinv.operators.blur import CoDPSSuperResolution

    noise = dinv.physics.GaussianNoise(NOISE_SIGMA)
    shape = (size, size, 3)
    if problem == "inpainting":
        mask = (np.random.default_rng(seed).random((size, size)) < 0.5).astype(np.float32)
        physics = dinv.physics.Inpainting(img_size=(3, size, size), mask=torch.from_numpy(mask)[None].repeat(3, 1, 1),
                                          noise_model=noise)
        operator = Inpainting.create(shape, mask=mask)
    elif problem == "sr4":
        physics = dinv.physics.Downsampling(img_size=(3, size, size), factor=4, filter="gaussian", padding="circular",
                                            noise_model=noise)
        operator = CoDPSSuperResolution.from_kernel(shape, physics.filter[0, 0].numpy(), 4)
    else:
        raise ValueError(f"unknown problem {problem!r}; expected one of {PROBLEMS}")
    x = torch.rand((1, 3, size, size), generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed + 1)
    return physics, operator, x, physics(x)


def jax_units(operator, y01) -> np.ndarray:
    """deepinv's [0, 1] measurement in jaxinv's [-1, 1] units: 2 y - A 1."""
    y = nhwc(y01)[0]
    return 2 * y - np.asarray(operator.forward(jnp.ones(operator.image_shape)))


def clamped(eps_model, alphas):
    """eps consistent with x0 clamped to [-1, 1] (deepinv's denoiser): (x - sqrt(a) clip(x0)) / sqrt(1 - a)."""
    def eps(x, t):
        a = alphas[t.astype(jnp.int32) + 1]
        out = eps_model(x, t)
        e = out[..., :3]
        x0 = jnp.clip((x - jnp.sqrt(1 - a) * e) / jnp.sqrt(a), -1, 1)
        return out.at[..., :3].set((x - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a))
    return eps


def ddrm_timesteps(net, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The original code's (t, t_next) pairs (`ddrm_sequence`) and deepinv `sigmas` ([0, 1] units) that land on
    their t."""
    from jaxinv.solvers.ddrm import ddrm_sequence

    pairs = ddrm_sequence(1000, steps)
    reduced = (net.sqrt_1m_alphas_cumprod / net.sqrt_alphas_cumprod).numpy().astype(np.float64)
    return pairs, reduced[pairs[:, 0]] / 2


def run_ddrm(net, module, params, physics, operator, y01, steps: int):
    """deepinv's DDRM on the code's timesteps, then the jaxinv variants on its draws: [(name, ours, deepinv's)]."""
    import deepinv as dinv

    from jaxinv.diffusion import flax_eps_model
    from jaxinv.solvers.ddrm import ddrm_alphas, ddrm_solver, ddrm_start
    from jaxinv.solvers.driver import run as drive

    pairs, sigmas = ddrm_timesteps(net, steps)
    denoiser = recording_denoiser(net)
    with recorded_randn_like() as draws:
        out = dinv.sampling.DDRM(denoiser, sigmas=sigmas, eta=DDRM_ETA, etab=DDRM_ETA_B)(y01, physics)
    if len(draws) != steps or len(denoiser.inputs) != steps:
        raise RuntimeError(f"deepinv's DDRM made {len(draws)} draws and {len(denoiser.inputs)} denoiser calls; "
                           f"expected {steps} of each")
    alphas = ddrm_alphas(1000)
    y = jnp.asarray(jax_units(operator, y01))
    d = [jnp.asarray(nhwc(z)[0]) for z in draws]
    a0 = float(alphas[pairs[0, 0] + 1])
    deepinv_start = jnp.sqrt(a0) * (2 * jnp.asarray(nhwc(denoiser.inputs[0])[0]) - 1)

    def jaxinv(noise_scale: float, clamp: bool, start: str):
        eps_model = flax_eps_model(module, params)
        eps_model = clamped(eps_model, jnp.asarray(alphas)) if clamp else eps_model
        solver = ddrm_solver(eps_model, alphas, operator, y, 2 * NOISE_SIGMA, eta=DDRM_ETA, eta_b=DDRM_ETA_B)
        # step k draws deepinv's draw k + 1 in every coordinate; the last step (to sigma = 0) draws nothing
        z = jnp.stack([jnp.stack([noise_scale * di] * 3) for di in d[1:]] + [jnp.zeros((3, *y.shape))])
        x_init = (deepinv_start if start == "deepinv"
                  else ddrm_start(alphas, operator, y, 2 * NOISE_SIGMA, int(pairs[0, 0]), d[0]))
        xs = {"t": jnp.asarray(pairs[:, 0]), "t_next": jnp.asarray(pairs[:, 1]), "z": z}
        return drive(solver, x_init, xs)["sample"]

    variants = {
        "deepinv's conventions (replay)": dict(noise_scale=1 / np.sqrt(2), clamp=True, start="deepinv"),
        "noise std sigma_t, not sigma_t / sqrt(2)": dict(noise_scale=1.0, clamp=True, start="deepinv"),
        "unclipped x0 and the network's eps": dict(noise_scale=1 / np.sqrt(2), clamp=False, start="deepinv"),
        "jaxinv as shipped (the original code's)": dict(noise_scale=1.0, clamp=False, start="jaxinv"),
    }
    theirs = 2 * nhwc(out)[0] - 1
    return [(name, np.asarray(jaxinv(**v)), theirs) for name, v in variants.items()]


def run_diffpir(net, module, params, physics, operator, y01, steps: int):
    """deepinv's DiffPIR (L2 data fidelity), then the jaxinv variants on its draws: [(name, ours, reference)]."""
    import deepinv as dinv
    import torch

    from jaxinv.diffusion import flax_eps_model, make_schedule
    from jaxinv.operators import spectral
    from jaxinv.solvers.diffpir import (diffpir_sequence, diffpir_solver, diffpir_start, diffpir_start_upsampled,
                                        diffpir_tables)
    from jaxinv.solvers.driver import run as drive

    def sampler(data_fidelity):
        return dinv.sampling.DiffPIR(recording_denoiser(net), data_fidelity, sigma=NOISE_SIGMA, max_iter=steps,
                                     zeta=DIFFPIR_ZETA, lambda_=DIFFPIR_LAMBDA)

    timesteps = diffpir_sequence(1000, steps, "quad")
    deepinv_t = 999 - sampler(None).seq.numpy()
    if not np.array_equal(timesteps, deepinv_t):
        raise RuntimeError(f"deepinv's DiffPIR visits {deepinv_t}, the code's 'quad' sequence {timesteps}")
    torch.manual_seed(0)
    with recorded_randn_like() as draws:
        sampler = sampler(dinv.optim.data_fidelity.L2())
        out = sampler(y01, physics)
    # the same run with the data step in float64: what deepinv's own float32 prox is worth
    torch.manual_seed(0)
    out64 = sampler_float64_data_step(dinv, net, physics, steps)(y01, physics)
    inputs = sampler.model.inputs
    if len(draws) != steps or len(inputs) != steps:
        raise RuntimeError(f"deepinv's DiffPIR made {len(draws)} draws and {len(inputs)} denoiser calls; "
                           f"expected {steps} of each")
    tables = diffpir_tables(1000)
    schedule = make_schedule(1000, "linear", "")
    y = jnp.asarray(jax_units(operator, y01))
    d = [jnp.asarray(nhwc(z)[0]) for z in draws]
    # the denoiser's input is x / (2 sqrt(abar_t)) + 0.5: deepinv's x_T back in VP units
    deepinv_start = (jnp.asarray(nhwc(inputs[0])[0]) - 0.5) * 2 * float(tables["sqrt_abar"][timesteps[0]])
    if tuple(y.shape) == tuple(operator.image_shape):
        code_start = diffpir_start(tables, y, 2 * NOISE_SIGMA, d[0])
    else:
        u = spectral.pseudo_inverse(operator, y, rcond=spectral.START_RCOND)
        code_start = diffpir_start_upsampled(tables, u, d[0])

    def jaxinv(rho_factor: float, start: str):
        solver = diffpir_solver(flax_eps_model(module, params), schedule, tables, operator, y, 2 * NOISE_SIGMA,
                                lambda_=rho_factor * DIFFPIR_LAMBDA, zeta=DIFFPIR_ZETA, eta=0.0)
        zero = jnp.zeros_like(d[0])
        z = jnp.stack([jnp.stack([zero, di, zero])[None] for di in d[1:]])
        xs = {"t": jnp.asarray(timesteps[:-1]), "t_next": jnp.asarray(timesteps[1:]), "z": z}
        return drive(solver, deepinv_start if start == "deepinv" else code_start, xs)["sample"]

    variants = {
        "deepinv's conventions (replay)": dict(rho_factor=2.0, start="deepinv"),
        "the code's rho (lambda, not 2 lambda)": dict(rho_factor=1.0, start="deepinv"),
        "the code's start (y, or A^+ y for SR)": dict(rho_factor=2.0, start="code"),
        "jaxinv as shipped (the original code's)": dict(rho_factor=1.0, start="code"),
    }
    theirs, theirs64 = 2 * nhwc(out)[0] - 1, 2 * nhwc(out64)[0] - 1
    rows = [(name, np.asarray(jaxinv(**v)), theirs) for name, v in variants.items()]
    return rows + [("deepinv itself, data step in float64", theirs64, theirs),
                   ("replay against deepinv with that float64 step", rows[0][1], theirs64)]


def sampler_float64_data_step(dinv, net, physics, steps: int):
    """deepinv's DiffPIR whose L2 prox runs on float64 copies of x, y and the physics' buffers."""
    import copy

    physics64 = copy.deepcopy(physics).double()

    class L2Float64(dinv.optim.data_fidelity.L2):
        def prox(self, x, y, physics, *args, gamma=1.0, **kwargs):
            return super().prox(x.double(), y.double(), physics64, *args, gamma=gamma, **kwargs).float()

    return dinv.sampling.DiffPIR(net, L2Float64(), sigma=NOISE_SIGMA, max_iter=steps, zeta=DIFFPIR_ZETA,
                                 lambda_=DIFFPIR_LAMBDA)


def compare(method: str, problem: str, size: int = 32, steps: int = 20, seed: int = 0) -> dict:
    """{"variants": {name: (max abs diff, rms diff)}, "max_abs_output"} in [-1, 1] units; each variant is
    compared with deepinv's output (the first, the replay, is `max_abs_err`) unless its name says otherwise."""
    import torch

    from experiments.bench import jax_side, torch_peer

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if method == "ddrm" and problem != "inpainting":
        raise ValueError("deepinv's DDRM needs a DecomposablePhysics; of these problems only inpainting is one")
    net = torch_peer.build_diffunet(LAYOUT, seed=seed)
    module, params = jax_side.module_and_params(LAYOUT, size, torch_peer.numpy_state_dict(net))
    physics, operator, _, y01 = make_problem(problem, size, seed)
    with torch.no_grad():
        rows = (run_ddrm if method == "ddrm" else run_diffpir)(net, module, params, physics, operator, y01, steps)
    result = {name: (float(np.abs(o - ref).max()), float(np.sqrt(np.mean((o - ref) ** 2)))) for name, o, ref in rows}
    return {"variants": result, "max_abs_output": float(np.abs(rows[0][2]).max())}


def main(argv=None) -> int:
    from jaxinv import cli

    def run(argv):
        parser = argparse.ArgumentParser(prog="python -m experiments.deepinv_compare", description=__doc__.split("\n")[0])
        parser.add_argument("--method", choices=METHODS, required=True)
        parser.add_argument("--problem", choices=PROBLEMS, default="inpainting")
        parser.add_argument("--size", type=int, default=32)
        parser.add_argument("--steps", type=int, default=20)
        parser.add_argument("--seed", type=int, default=0)
        args = parser.parse_args(argv[1:])
        try:
            import deepinv  # noqa: F401
        except ImportError as e:
            raise ValueError(f"deepinv is not installed ({e}); install the `ref` extra: pip install -e '.[ref]'")
        result = compare(args.method, args.problem, args.size, args.steps, args.seed)
        print(f"{args.method} {args.problem} {args.size}x{args.size}, {args.steps} steps; "
              f"max|deepinv out| = {result['max_abs_output']:.4g}")
        for name, (worst, rms) in result["variants"].items():
            print(f"  {name:45s} max_abs_diff={worst:.3g} rms_diff={rms:.3g}")
        print(f"max_abs_err={next(iter(result['variants'].values()))[0]:.6g}")
        return 0

    return cli.main(run, sys.argv if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
