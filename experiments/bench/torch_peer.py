"""The PyTorch reference of the benchmark: deepinv 0.5's `DiffUNet` and `DPS`, and a plain DPS2022 step.

Only the benchmark imports this module (it needs the `ref` extra). The UNet is built with random
weights (`pretrained=None`, no download); guided-diffusion zero-initialises the last conv of every
block and the output conv, which would make the network output constant, so those tensors are
re-drawn before the state dict is handed to `convert.adm` and both frameworks run the same numbers.
"""
from __future__ import annotations

import numpy as np
import torch

# DiffUNet hard-wires these two guided-diffusion layouts (`large_model`).
DIFFUNET_LAYOUTS = {"ffhq_10m": False, "imagenet_256_uncond": True}


def has_peer(layout: str) -> bool:
    return layout in DIFFUNET_LAYOUTS


def build_diffunet(layout: str, seed: int = 0, dtype: str = "float32"):
    """`DiffUNet` of `layout` with seeded random weights, in eval mode (dropout off)."""
    from deepinv.models import DiffUNet

    if layout not in DIFFUNET_LAYOUTS:
        raise ValueError(f"deepinv's DiffUNet has no {layout!r} layout; it builds {sorted(DIFFUNET_LAYOUTS)}")
    torch.manual_seed(seed)
    net = DiffUNet(large_model=DIFFUNET_LAYOUTS[layout], pretrained=None).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim > 1 and not torch.any(p):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    if dtype == "bfloat16":
        net = net.to(torch.bfloat16)
    return net.requires_grad_(False)


def numpy_state_dict(net) -> dict:
    """The guided-diffusion keys only (DiffUNet adds two alpha buffers that are not parameters), on the host."""
    skip = {"sqrt_1m_alphas_cumprod", "sqrt_alphas_cumprod"}
    return {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items() if k not in skip}


def unet_output(net, x_nhwc: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Raw eps/variance output (NHWC) of `forward_diffusion` on guided-diffusion timesteps."""
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
        out = net.forward_diffusion(x.to(next(net.parameters()).dtype), torch.from_numpy(t))
    return out.float().numpy().transpose(0, 2, 3, 1)


class CountingDenoiser(torch.nn.Module):
    """Counts network evaluations of deepinv's sampler (one call = one batched NFE)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x, sigma, *args, **kwargs):
        self.calls += 1
        return self.net(x, sigma, *args, **kwargs)


def sr_physics(image_size: int, factor: int = 4, sigma: float = 0.05):
    import deepinv as dinv

    return dinv.physics.Downsampling(img_size=(3, image_size, image_size), factor=factor, filter="bicubic",
                                     noise_model=dinv.physics.GaussianNoise(sigma))


def make_deepinv_dps(net, num_steps: int, weight: float = 1.0, device: str = "cpu"):
    """`deepinv.sampling.DPS` (DDPM solver, VP schedule: the original algorithm's defaults) on `net`."""
    from deepinv.sampling import DPS

    denoiser = CountingDenoiser(net)
    return DPS(denoiser=denoiser, num_steps=num_steps, weight=weight, solver="ddpm", device=device), denoiser


def deepinv_measurement(physics, batch: int, image_size: int, seed: int = 0, device: str = "cpu"):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((batch, 3, image_size, image_size), generator=gen).to(device)
    return physics(x)


def _abar():
    """alphas_cumprod of the linear beta schedule (1e-4 to 0.02, 1000 steps)."""
    return np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))


def dps_step_fn(net, physics, y, scale: float = 1.0):
    """One DPS2022 step (`p_sample` + `conditioning_method.PosteriorSampling`): UNet forward, x0_hat,
    DDPM mean, then `x -= scale * grad_x ||y - A(x0_hat)||` by backprop through x0_hat."""
    abar = _abar()

    def step(x, t: int, noise):
        x = x.detach().requires_grad_(True)
        tt = torch.full((x.shape[0],), t, dtype=torch.float32, device=x.device)
        out = net.forward_diffusion(x, tt)
        eps, v = out[:, :3], out[:, 3:]
        a, a_prev = abar[t], abar[t - 1] if t > 0 else 1.0
        x0 = (np.sqrt(1 / a) * x - np.sqrt(1 / a - 1) * eps).clamp(-1, 1)
        beta_t = 1 - a / a_prev
        post_var = beta_t * (1 - a_prev) / (1 - a)
        min_log, max_log = np.log(max(post_var, 1e-20)), np.log(beta_t)
        log_var = (v + 1) / 2 * max_log + (1 - (v + 1) / 2) * min_log
        mean = (np.sqrt(a_prev) * beta_t / (1 - a)) * x0 + (np.sqrt(1 - beta_t) * (1 - a_prev) / (1 - a)) * x
        x_prev = mean + torch.exp(0.5 * log_var) * noise
        norm = torch.linalg.norm(y - physics.A((x0 + 1) / 2))
        grad = torch.autograd.grad(norm, x)[0]
        return (x_prev - scale * grad).detach()

    return step


def gram_symbol(physics, image_size: int):
    """Fourier symbol of A A^T on the low-resolution grid: a circular-padded filter-and-decimate
    operator makes A A^T circulant there, so its response to a delta is the whole operator."""
    x = torch.zeros((1, 3, image_size, image_size))
    delta = torch.zeros_like(physics.A(x))
    delta[..., 0, 0] = 1.0
    return torch.fft.fft2(physics.A(physics.A_adjoint(delta))).real


def codps_plus_step_fn(net, physics, y, image_size: int, noise_sigma: float, scale: float, inv_var: float):
    """One CoDPS+ step (CSIPlab/CoDPS `ddim_sample` + `CoDPSPlus`): UNet forward without backprop,
    clipped x0_hat, DDIM eta = 1, then `x -= scale d grad_x0 1/2 r^T (s^2 I + v A A^T)^{-1} r`,
    r = y - A(x0_hat), the Gram solve by FFT (`gram_symbol`)."""
    abar_table, symbol = _abar(), gram_symbol(physics, image_size)
    s2 = max(noise_sigma, 1e-5) ** 2

    def step(x, t: int, noise):
        tt = torch.full((x.shape[0],), t, dtype=torch.float32, device=x.device)
        a, a_prev = abar_table[t], abar_table[t - 1] if t > 0 else 1.0
        with torch.no_grad():
            eps = net.forward_diffusion(x, tt)[:, :3]
            x0 = (np.sqrt(1 / a) * x - np.sqrt(1 / a - 1) * eps).clamp(-1, 1)
            eps = (x - np.sqrt(a) * x0) / np.sqrt(1 - a)
            sigma = np.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
            x_prev = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev - sigma ** 2) * eps + sigma * noise
        v = 1.0 / (a / (1 - a) + inv_var)
        x0 = x0.requires_grad_(True)
        r = y - physics.A((x0 + 1) / 2)
        solved = torch.fft.ifft2(torch.fft.fft2(r) / (s2 + v * symbol)).real
        grad = torch.autograd.grad(0.5 * torch.sum(r * solved), x0)[0]
        d = np.sqrt(a) / (inv_var * (1 - a) + a) if inv_var else 1 / np.sqrt(a)
        return x_prev - scale * d * grad

    return step


def spgd_step_fn(net, physics, y, num_inner: int, lr: float):
    """One SPGD annealing step (74587887/SPGD, the released code's plain gradient steps): `num_inner`
    warm-up steps `x -= lr grad_x ||A(D(x; sigma)) - y||^2` through the EDM view of the VP network
    (D(x; sigma) = x - sigma eps(x / sqrt(1 + sigma^2), t(sigma)), fractional t), then the Euler
    PF-ODE step with the last pre-update iterate's score."""
    beta_d, beta_min = 19.9, 0.1

    def denoise(x, sigma):
        t = (np.sqrt(beta_min ** 2 + 2 * beta_d * np.log1p(sigma ** 2)) - beta_min) / beta_d
        tt = torch.full((x.shape[0],), 999 * t, dtype=torch.float32, device=x.device)
        return x - sigma * net.forward_diffusion(x / np.sqrt(1 + sigma ** 2), tt)[:, :3]

    def step(x, sigma: float, factor: float):
        for _ in range(num_inner):
            x_pre = x.detach().requires_grad_(True)
            x0 = denoise(x_pre, sigma)
            grad = torch.autograd.grad(torch.sum((physics.A((x0 + 1) / 2) - y) ** 2), x_pre)[0]
            x = x_pre.detach() - lr * grad
        return (x + 0.5 * factor * (x0.detach() - x_pre.detach()) / sigma ** 2).detach()

    return step


def unet_forward_fn(net):
    def forward(x, t):
        with torch.no_grad():
            return net.forward_diffusion(x, t)
    return forward


def unet_vjp_fn(net):
    """Forward + vector-Jacobian product w.r.t. the input (what DPS's guidance costs per step)."""
    def vjp(x, t, cotangent):
        x = x.detach().requires_grad_(True)
        out = net.forward_diffusion(x, t)
        return torch.autograd.grad(out, x, cotangent)[0]
    return vjp


def set_threads(n: int) -> None:
    if n > 0:
        torch.set_num_threads(n)
