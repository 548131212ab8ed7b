"""DiffPIR: denoising diffusion models for plug-and-play image restoration (Zhu et al., CVPRW 2023;
yuanzhi-zhu/DiffPIR `main_ddpir_*.py`, generate_mode 'DiffPIR', model output 'pred_xstart').

With abar the cumulative product of the (float32) betas, s_t = sqrt(abar_t), b_t = sqrt(1 - abar_t),
sigma_bar_t = b_t / s_t and the data weight rho_t = lambda sigma_n^2 / sigma_bar_t^2, one iteration
from t to the next kept step t' of the sequence is (paper Alg. 1):

  x0      = D(x_t, t)                                         (the network's clipped pred_xstart)
  x0      = argmin_z ||y - A z||^2 + rho_t ||z - x0||^2       (`spectral.prox`: the code's FFT closed form)
  eps     = (x_t - s_t x0) / b_t
  x_{t'}  = s_{t'} x0 + sqrt(1 - zeta) (sqrt(b_{t'}^2 - e^2) eps + e z1) + sqrt(zeta) b_{t'} z2,
            e = eta b_{t'} / b_t sqrt(beta_t)

and, with `inner` > 1 iterations per step, x_t is re-noised from x_{t'} between them:
x_t = a x_{t'} + sqrt(b_t^2 - a^2 b_{t'}^2) z3, a = s_t / s_{t'}. The sequence is the code's
`skip_type`: 'quad' (t = T-1 - int(sqrt(linspace(0, T^2, N))), the last at 0) or 'uniform'.
The start is the scripts': for a measurement with the image's shape (deblurring, inpainting)
x_T = a y + sqrt(b_{T-1}^2 - a^2 b_{t_y}^2) z with t_y the step whose sigma_bar is nearest the noise
sigma and a = s_{T-1} / s_{t_y}; for a smaller one (super-resolution) x_T = s_{T-1} u + b_{T-1} z with
u = A^+ y, singular values below `spectral.START_RCOND` of the largest dropped (the SR script upsamples y
with cv2's bicubic instead; s_{T-1} = 0.006 makes the two alike where A^+ y stays bounded).

Where the code and the paper differ (this module follows the code):
- sigma_n in rho_t is the noise std in [0, 1] pixel units (`noise_level_img`, half of the [-1, 1]
  sigma the diffusion works in): rho_t is 1/4 of the paper's with the same lambda. The script's
  experiments block then runs lambda = 7 and zeta = 3 x its settings (0.3 for zeta 0.1).
- The code's last iteration evaluates the network and discards the result (no data step, no update):
  the output is the x after N - 1 updates; here the N - 1 network calls that matter are made.
- Operators without the spectral view take the code's gradient variant (`sub_1_analytic=False`):
  x0 <- x0 - grad_x0 ||y01 - A x01||^2 / (2 rho_t) with x01 = (x0 + 1)/2, y01 = (y + 1)/2, i.e.
  x0 + A^T (y - A x0) / (4 rho_t) for a linear A, any differentiable A otherwise.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion import make_schedule, p_mean_variance
from jaxinv.operators import spectral
from jaxinv.solvers.driver import Solver, gaussian_noise_sigma, step_draws
from jaxinv.solvers.registry import Method, Sampler, register

SKIP_TYPES = ("quad", "uniform")


def diffpir_tables(num_steps: int = 1000, noise_schedule: str = "linear") -> dict:
    """The script's float32 arrays: betas, sqrt(abar), sqrt(1 - abar), sigma_bar = their ratio."""
    if noise_schedule != "linear":
        raise ValueError(f"DiffPIR builds the linear schedule of its scripts; got diffusion.noise_schedule "
                         f"{noise_schedule!r}")
    scale = 1000 / num_steps
    betas = np.linspace(scale * 1e-4, scale * 2e-2, num_steps, dtype=np.float32)
    alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
    sqrt_abar, sqrt_1m = np.sqrt(alphas_cumprod), np.sqrt(1.0 - alphas_cumprod)
    return {"betas": betas, "sqrt_abar": sqrt_abar, "sqrt_1m": sqrt_1m, "sigma_bar": sqrt_1m / sqrt_abar}


def diffpir_sequence(num_train: int, num_iters: int, skip_type: str = "quad") -> np.ndarray:
    """The timesteps visited, noisiest first: T - 1 - seq of the code's `skip_type`."""
    if skip_type not in SKIP_TYPES:
        raise ValueError(f"unknown DiffPIR skip_type {skip_type!r}; expected one of {SKIP_TYPES}")
    if num_iters < 2:
        raise ValueError(f"DiffPIR needs at least 2 iterations, got {num_iters}")
    if skip_type == "quad":
        seq = [int(s) for s in np.sqrt(np.linspace(0, num_train**2, num_iters))]
        seq[-1] -= 1
    else:
        skip = num_train // num_iters
        seq = [i * skip for i in range(num_iters)] + ([num_train - 1] if skip > 1 else [])
    return num_train - 1 - np.asarray(seq, np.int32)


def diffpir_solver(eps_model, schedule, tables: dict, operator, y, noise_sigma: float, lambda_: float = 7.0,
                   zeta: float = 0.3, eta: float = 0.0, inner: int = 1, clip_denoised: bool = True) -> Solver:
    """DiffPIR on one image; `schedule` is the full guided-diffusion one (the network's pred_xstart),
    `xs` = {"t", "t_next" (timesteps), "z" (inner, 3, *image) noise or a "key" to draw it}."""
    sqrt_abar, sqrt_1m, betas = (jnp.asarray(tables[k]) for k in ("sqrt_abar", "sqrt_1m", "betas"))
    sigma_n = max(0.001, noise_sigma / 2.0)             # [0, 1] units, as the code
    rho = lambda t: lambda_ * sigma_n**2 / (sqrt_1m[t] / sqrt_abar[t]) ** 2  # noqa: E731
    view = operator.spectral() if callable(getattr(operator, "spectral", None)) else None

    def data_step(x0, t):
        if view is not None:
            return spectral.prox(operator, y, x0, rho(t))
        loss = lambda z: jnp.sum(((y + 1) / 2 - (operator.forward(z) + 1) / 2) ** 2)  # noqa: E731
        return x0 - jax.grad(loss)(x0) / (2 * rho(t))

    def iteration(x, t, t_next, z):
        x0 = p_mean_variance(schedule, eps_model, x, t, "fixed_small", clip_denoised)["pred_xstart"]
        x0 = data_step(x0, t)
        eps = (x - sqrt_abar[t] * x0) / sqrt_1m[t]
        e = eta * sqrt_1m[t_next] / sqrt_1m[t] * jnp.sqrt(betas[t])
        return (sqrt_abar[t_next] * x0 + jnp.sqrt(1 - zeta) * (jnp.sqrt(sqrt_1m[t_next] ** 2 - e**2) * eps + e * z[0])
                + jnp.sqrt(zeta) * sqrt_1m[t_next] * z[1])

    def step(x, xs):
        t, t_next, z = xs["t"], xs["t_next"], step_draws(xs, (inner, 3, *x.shape))
        for u in range(inner):   # static and small: the code's iter_num_U
            x_next = iteration(x, t, t_next, z[u])
            if u < inner - 1:
                a = sqrt_abar[t] / sqrt_abar[t_next]
                x = a * x_next + jnp.sqrt(sqrt_1m[t] ** 2 - a**2 * sqrt_1m[t_next] ** 2) * z[u, 2]
        return x_next, {}

    return Solver(step)


def diffpir_start(tables: dict, y, noise_sigma: float, z):
    """x_T from a measurement of the image's shape: a y + sqrt(b_{T-1}^2 - a^2 b_{t_y}^2) z."""
    sigma_bar = tables["sigma_bar"]
    t_y = int(np.abs(sigma_bar - noise_sigma).argmin())
    last = len(sigma_bar) - 1
    s, b = tables["sqrt_abar"], tables["sqrt_1m"]
    a = s[last] / s[t_y]
    return a * y + np.sqrt(b[last] ** 2 - a**2 * b[t_y] ** 2) * z


def diffpir_start_upsampled(tables: dict, u, z):
    """x_T from an upsampled measurement u (the SR script): s_{T-1} u + b_{T-1} z."""
    return tables["sqrt_abar"][-1] * u + tables["sqrt_1m"][-1] * z


def make_sampler(config, shape) -> Sampler:
    s, d = config.solver, config.diffusion
    tables = diffpir_tables(int(d.steps), d.noise_schedule)
    schedule = make_schedule(int(d.steps), d.noise_schedule, "")
    timesteps = diffpir_sequence(int(d.steps), int(s.diffpir_steps), s.skip_type)
    inner = int(s.diffpir_inner)
    if inner < 1:
        raise ValueError(f"solver.diffpir_inner must be >= 1, got {inner}")
    sigma = gaussian_noise_sigma(config, "DiffPIR's data weight")
    n = len(timesteps) - 1      # updates; the code's last network call is unused

    def start(key, hparams):
        k_start, k_steps = jax.random.split(key)
        xs = {"t": jnp.asarray(timesteps[:-1]), "t_next": jnp.asarray(timesteps[1:]),
              "key": jax.random.split(k_steps, n)}
        return jax.random.normal(k_start, shape), xs

    def solver(prior, operator, y, hparams):
        base = diffpir_solver(prior.eps, schedule, tables, operator, y, sigma,
                              lambda_=hparams.get("diffpir_lambda", float(s.diffpir_lambda)),
                              zeta=hparams.get("zeta", float(s.zeta)), eta=float(s.diffpir_eta), inner=inner,
                              clip_denoised=bool(d.clip_denoised))
        if tuple(y.shape) == tuple(shape):
            init = lambda z: diffpir_start(tables, y, sigma, z)  # noqa: E731
        else:
            u = spectral.pseudo_inverse(operator, y, "DiffPIR's start from a measurement of another shape",
                                        rcond=spectral.START_RCOND)
            init = lambda z: diffpir_start_upsampled(tables, u, z)  # noqa: E731
        return Solver(base.step, init=init)

    return Sampler(start, solver)


def _steps(config) -> int:
    return int(config.solver.diffpir_steps) - 1


def _set_steps(config, num_steps: int) -> None:
    config.solver.diffpir_steps = int(num_steps) + 1


METHOD = register(Method(
    "diffpir", "DiffPIR",
    fields={"diffpir_lambda": (7.0, "diffpir: data weight lambda (rho_t = lambda sigma_n^2 / sigma_bar_t^2; the code's 7 x 1)"),
            "zeta": (0.3, "diffpir: share of fresh noise in the re-noising (the code's 3 x 0.1)"),
            "diffpir_eta": (0.0, "diffpir: DDIM eta of the re-noising"),
            "diffpir_steps": (100, "diffpir: iterations N of the code (N - 1 network calls are used)"),
            "skip_type": ("quad", "diffpir: 'quad' | 'uniform' timestep sequence"),
            "diffpir_inner": (1, "diffpir: iterations per step (the code's iter_num_U), re-noised between")},
    traced=("diffpir_lambda", "zeta"), make_sampler=make_sampler, steps=_steps, set_steps=_set_steps,
    network_evals_per_step=lambda config: int(config.solver.diffpir_inner)))
