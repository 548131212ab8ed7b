"""G2D2's inner problem: fit the variational categorical q_phi(z_0) of one diffusion step.

Murata et al., "G2D2: Gradient-guided Discrete Diffusion for image inverse problem solving"
(TMLR 2025); code: sony/g2d2 `optimize_model_output_kl`. For one image, with logits phi of shape
(classes, tokens) (tokens row-major over the latent grid), prior log-probabilities log p(z_0|z_t),
codebook C and decoder D, it runs K iterations of RAdam (fresh state) on

    L(phi) = ||y - A(D(softmax((phi + g_k) / tau)^T C))||_2 + c_kl * KL(q_phi || p)
    KL     = sum softmax(phi) * phi - sum softmax(phi) * log p            (on raw phi, as the code)
    g_k    = -log(-log(u_k + 1e-30) + 1e-30),  u_k ~ U(0, 1)             (fresh every iteration)

and after every optimiser step renormalises phi <- phi - logsumexp_classes(phi) outside the
optimiser (its moments are untouched). The norm is not squared and not divided by sigma^2. The
KL is written on raw phi rather than log_softmax(phi): same value while phi is normalised, but
its gradient differs by a factor softmax(phi), which RAdam does not cancel. The loss of
iteration k is evaluated at phi before step k (it is what the code records).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

GUMBEL_EPS = 1e-30


class TorchRAdamState(NamedTuple):
    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def _radam_scalars(steps: np.ndarray, b1: float, b2: float) -> np.ndarray:
    """Per-step (1/bc1, sqrt(bc2), rect, rectified) in float64, as torch computes them in Python."""
    bc1 = 1.0 - b1**steps
    bc2 = 1.0 - b2**steps
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho_inf - 2.0 * steps * b2**steps / bc2
    rectified = rho_t > 5.0
    safe = np.where(rectified, rho_t, 6.0)
    rect = np.sqrt((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe))
    return np.stack([1.0 / bc1, np.sqrt(bc2), rect, rectified.astype(np.float64)], axis=-1)


def torch_radam(
    learning_rate: float | jax.Array, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, table_steps: int = 4096
) -> optax.GradientTransformation:
    """`torch.optim.RAdam` (weight decay 0, not decoupled) as an optax transformation (Liu et al. 2020).

        m_t = m + (1 - b1)(g - m);  v_t = b2 v + (1 - b2) g^2;  m_hat = m_t / (1 - b1^t)
        rho_t = rho_inf - 2 t b2^t / (1 - b2^t),  rho_inf = 2 / (1 - b2) - 1
        rho_t > 5:  update = -lr * m_hat * sqrt(1 - b2^t) / (sqrt(v_t) + eps) * r_t,
                    r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
        else:       update = -lr * m_hat

    Differences from `optax.radam` that matter for parity: torch adds eps to sqrt(v_t) *before*
    multiplying by sqrt(1 - b2^t) (optax adds it to sqrt(v_hat)), and torch rectifies when
    rho_t > 5 (optax: rho_t >= threshold 5; no integer step lands on 5, so these agree). The
    bias corrections and r_t are computed in float64 on the host for steps 1..table_steps (torch
    computes them in Python doubles; in float32 the cancellation in rho_t costs ~1e-4 relative in
    r_t) and in float32 beyond. `learning_rate` may be a traced scalar (G2D2's per-step lr).
    """
    table = jnp.asarray(_radam_scalars(np.arange(1, table_steps + 1, dtype=np.float64), b1, b2), jnp.float32)

    def init_fn(params):
        return TorchRAdamState(
            count=jnp.zeros([], jnp.int32), mu=jax.tree.map(jnp.zeros_like, params), nu=jax.tree.map(jnp.zeros_like, params)
        )

    def scalars_f32(count):
        t = count.astype(jnp.float32)
        bc2 = -jnp.expm1(t * np.log(b2))
        bc1 = -jnp.expm1(t * np.log(b1))
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * jnp.exp(t * np.log(b2)) / bc2
        safe = jnp.where(rho_t > 5.0, rho_t, 6.0)
        rect = jnp.sqrt((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe))
        return jnp.stack([1.0 / bc1, jnp.sqrt(bc2), rect, (rho_t > 5.0).astype(jnp.float32)])

    def update_fn(updates, state, params=None):
        del params
        count = state.count + 1
        s = jnp.where(count <= table_steps, table[jnp.minimum(count, table_steps) - 1], scalars_f32(count))
        inv_bc1, sqrt_bc2, rect, rectified = s[0], s[1], s[2], s[3]
        mu = jax.tree.map(lambda m, g: m + (1.0 - b1) * (g - m), state.mu, updates)
        nu = jax.tree.map(lambda v, g: v * b2 + (1.0 - b2) * (g * g), state.nu, updates)

        def leaf(m, v):
            m_hat = m * inv_bc1
            adaptive = sqrt_bc2 / (jnp.sqrt(v) + eps)
            return -jnp.where(rectified > 0, m_hat * learning_rate * adaptive * rect, m_hat * learning_rate)

        return jax.tree.map(leaf, mu, nu), TorchRAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def gumbel_from_uniform(u: jax.Array) -> jax.Array:
    """g = -log(-log(u + 1e-30) + 1e-30) (sony/g2d2 `add_gumbel_noise`)."""
    return -jnp.log(-jnp.log(u + GUMBEL_EPS) + GUMBEL_EPS)


def kl_on_raw_logits(phi: jax.Array, prior: jax.Array) -> jax.Array:
    """sum softmax(phi)*phi - sum softmax(phi)*prior over classes (axis 0) and tokens; prior not differentiated."""
    q = jax.nn.softmax(phi, axis=0)
    return jnp.sum(q * phi) - jnp.sum(q * jax.lax.stop_gradient(prior))


class InnerTrace(NamedTuple):
    total_loss: jax.Array  # (K,)
    likelihood_loss: jax.Array  # (K,)
    kl: jax.Array  # (K,)


def optimize_logits_kl(
    decode_weights: Callable[[jax.Array], jax.Array],
    likelihood_loss: Callable[[jax.Array], jax.Array],
    prior: jax.Array,
    init: jax.Array,
    uniforms: jax.Array | None,
    lr: float | jax.Array,
    coef_kl: float | jax.Array,
    temperature: float | jax.Array = 1.0,
    keys: jax.Array | None = None,
) -> tuple[jax.Array, InnerTrace]:
    """K = len(uniforms) RAdam iterations on phi for one image (sony/g2d2 `optimize_model_output_kl`).

    decode_weights: relaxed one-hot weights (classes, tokens) -> image (soft codebook mixture,
        decoded with force_not_quantize).
    likelihood_loss: image -> ||y - A(image)||.
    prior: log p(z_0 | z_t), (classes, tokens): the KL reference (never differentiated).
    init: starting phi, (classes, tokens) (the code's `init_model_output`, else the prior).
    uniforms: (K, classes, tokens) uniforms for the Gumbel relaxation of each iteration (replay), or
        None with `keys`: K PRNG keys, one uniform draw per iteration (the sampler; no (K, ...) buffer).
    Returns the optimised (renormalised) phi and the per-iteration losses at phi before each step.
    """
    if (uniforms is None) == (keys is None):
        raise ValueError("pass exactly one of uniforms or keys")
    if prior.shape != init.shape or (uniforms is not None and uniforms.shape[1:] != prior.shape):
        raise ValueError(
            f"shapes disagree: prior {prior.shape}, init {init.shape}, uniforms "
            f"{None if uniforms is None else uniforms.shape} (want (K,) + prior)"
        )
    prior = jax.lax.stop_gradient(prior)
    opt = torch_radam(lr)

    def loss_fn(phi, u):
        w = jax.nn.softmax((phi + gumbel_from_uniform(u)) / temperature, axis=0)
        lik = likelihood_loss(decode_weights(w))
        kl = kl_on_raw_logits(phi, prior)
        return lik + coef_kl * kl, (lik, kl)

    def body(carry, noise):
        phi, state = carry
        u = noise if uniforms is not None else jax.random.uniform(noise, prior.shape, prior.dtype)
        (total, (lik, kl)), grad = jax.value_and_grad(loss_fn, has_aux=True)(phi, u)
        updates, state = opt.update(grad, state)
        phi = phi + updates
        phi = phi - jax.scipy.special.logsumexp(phi, axis=0, keepdims=True)
        return (phi, state), InnerTrace(total, lik, kl)

    (phi, _), trace = jax.lax.scan(body, (init, opt.init(init)), uniforms if uniforms is not None else keys)
    return phi, trace


def soft_decoder(vqvae, params, latent_hw: tuple[int, int]) -> Callable[[jax.Array], jax.Array]:
    """(classes, tokens) weights -> (H, W, C) image through `VQModel.decode_code_weights` (token n at (n // w, n % w))."""
    h, w = latent_hw

    def decode(weights):
        grid = weights.T.reshape(1, h, w, weights.shape[0])
        return vqvae.apply({"params": params}, grid, method="decode_code_weights")[0]

    return decode


def norm_likelihood(operator, y: jax.Array) -> Callable[[jax.Array], jax.Array]:
    """image -> ||y - A(image)||_2 over all elements (not squared; sony/g2d2 operators' `loss`)."""

    def loss(image):
        r = y - operator.forward(image)
        return jnp.sqrt(jnp.sum(r * r))

    return loss
