"""VQ-Diffusion's mask-and-replace discrete diffusion in log space (diffusers `VQDiffusionScheduler`).

Forward process (Gu et al., "Vector Quantized Diffusion Model", Eq. 4-6): a token keeps its class
with prob. a_t, moves to any of the K codes with prob. b_t each, or becomes the mask with prob. c_t;
the mask is absorbing. Cumulative products ā_t, b̄_t, c̄_t follow the linear `alpha_schedule` of
microsoft/VQ-Diffusion. Classes are on axis 1 of every (B, classes, tokens) array, and "zero"
probability is log(1e-30), as in the original.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

LOG_ZERO_CLAMP = 1e-30


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class VQSchedule:
    """Log schedule arrays (float32); per-step arrays have T entries, cumulative ones T + 1.

    The extra cumulative entry (index T, reached as index -1 from t - 1 at t = 0) is
    ā = 1, b̄ = 0 (log -inf), c̄ = 0: the identity transition.
    """

    log_at: jax.Array
    log_bt: jax.Array
    log_ct: jax.Array
    log_cumprod_at: jax.Array
    log_cumprod_bt: jax.Array
    log_cumprod_ct: jax.Array
    num_vec_classes: int = dataclasses.field(metadata=dict(static=True))

    @property
    def mask_class(self) -> int:
        return self.num_vec_classes - 1

    @property
    def num_train_timesteps(self) -> int:
        return self.log_at.shape[0]


def make_vq_schedule(
    num_vec_classes: int,
    num_train_timesteps: int = 100,
    alpha_cum_start: float = 0.99999,
    alpha_cum_end: float = 0.000009,
    gamma_cum_start: float = 0.000009,
    gamma_cum_end: float = 0.99999,
) -> VQSchedule:
    """Builds the schedule in float64 on the host and stores float32 logs, as diffusers does.

    ā_t linear from alpha_cum_start to alpha_cum_end, c̄_t linear from gamma_cum_start to
    gamma_cum_end (t = 0..T-1); a_t = ā_t / ā_{t-1}, 1 - c_t = (1 - c̄_t) / (1 - c̄_{t-1}),
    b_t = (1 - a_t - c_t) / K with K = num_vec_classes - 1 codes (ā_{-1} = 1, c̄_{-1} = 0).
    """
    if num_vec_classes < 2 or num_train_timesteps < 2:
        raise ValueError("need at least one code plus the mask class and two timesteps")
    n = num_train_timesteps
    frac = np.arange(n, dtype=np.float64) / (n - 1)
    att = np.concatenate(([1.0], frac * (alpha_cum_end - alpha_cum_start) + alpha_cum_start))
    at = att[1:] / att[:-1]
    att = np.concatenate((att[1:], [1.0]))
    ctt = np.concatenate(([0.0], frac * (gamma_cum_end - gamma_cum_start) + gamma_cum_start))
    ct = 1.0 - (1.0 - ctt[1:]) / (1.0 - ctt[:-1])
    ctt = np.concatenate((ctt[1:], [0.0]))
    k = num_vec_classes - 1
    bt = (1.0 - at - ct) / k
    btt = (1.0 - att - ctt) / k
    with np.errstate(divide="ignore"):
        logs = [np.log(a).astype(np.float32) for a in (at, bt, ct, att, btt, ctt)]
    return VQSchedule(*(jnp.asarray(a) for a in logs), num_vec_classes=num_vec_classes)


def schedule_from_config(config: dict) -> VQSchedule:
    """From diffusers' `scheduler/scheduler_config.json`."""
    keys = ("num_train_timesteps", "alpha_cum_start", "alpha_cum_end", "gamma_cum_start", "gamma_cum_end")
    return make_vq_schedule(int(config["num_vec_classes"]), **{k: config[k] for k in keys if k in config})


def index_to_log_onehot(x: jax.Array, num_classes: int) -> jax.Array:
    """log(max(one_hot(x), 1e-30)) with classes on axis 1: (B, N) -> (B, num_classes, N)."""
    onehot = jax.nn.one_hot(x, num_classes, axis=1, dtype=jnp.float32)
    return jnp.log(jnp.maximum(onehot, LOG_ZERO_CLAMP))


def log_Q_t_transitioning_to_known_x_t(  # noqa: N802 (diffusers' name)
    schedule: VQSchedule, t: jax.Array, x_t: jax.Array, log_onehot_x_t: jax.Array, cumulative: bool
) -> jax.Array:
    """log q(x_t | x_{t-1} = k) (or q(x_t | x_0 = k) if cumulative) for every class k, at the known x_t.

    Code rows: logaddexp(log onehot(x_t)[k] + log a, log b); columns where x_t is the mask: log c.
    The one-step version appends the mask row (mask -> mask with probability 1).
    """
    if cumulative:
        a, b, c = schedule.log_cumprod_at[t], schedule.log_cumprod_bt[t], schedule.log_cumprod_ct[t]
    else:
        a, b, c = schedule.log_at[t], schedule.log_bt[t], schedule.log_ct[t]
    log_q = jnp.logaddexp(log_onehot_x_t[:, :-1, :] + a, b)
    is_mask = (x_t == schedule.mask_class)[:, None, :]
    log_q = jnp.where(is_mask, c, log_q)
    if not cumulative:
        log_q = jnp.concatenate([log_q, log_onehot_x_t[:, -1:, :]], axis=1)
    return log_q


def apply_cumulative_transitions(schedule: VQSchedule, q: jax.Array, t: jax.Array) -> jax.Array:
    """log q(x_t = j) from log p(x_0) over codes: logaddexp(q + log ā_t, log b̄_t), plus the mask row log c̄_t."""
    a, b, c = schedule.log_cumprod_at[t], schedule.log_cumprod_bt[t], schedule.log_cumprod_ct[t]
    q = jnp.logaddexp(q + a, b)
    mask_row = jnp.broadcast_to(c, (q.shape[0], 1, q.shape[2])).astype(q.dtype)
    return jnp.concatenate([q, mask_row], axis=1)


def q_posterior(schedule: VQSchedule, log_p_x_0: jax.Array, x_t: jax.Array, t: jax.Array) -> jax.Array:
    """log p(x_{t-1} | x_t) = log sum_{x_0} q(x_{t-1} | x_t, x_0) p(x_0 | x_t) (VQ-Diffusion Eq. 11).

    q = log p(x_0) - log Q̄_t(x_t | x_0); normalise; carry to t-1 with the cumulative transition;
    add log Q_t(x_t | x_{t-1}) and the normaliser back. `log_p_x_0` is (B, K, N) over codes only;
    the result is (B, K + 1, N), the last row being the mask. `t` is a scalar (t - 1 = -1 at t = 0
    selects the identity entry, as torch's negative indexing does).
    """
    log_onehot = index_to_log_onehot(x_t, schedule.num_vec_classes)
    log_q_cum = log_Q_t_transitioning_to_known_x_t(schedule, t, x_t, log_onehot, cumulative=True)
    log_q_step = log_Q_t_transitioning_to_known_x_t(schedule, t, x_t, log_onehot, cumulative=False)
    q = log_p_x_0 - log_q_cum
    q_lse = jax.nn.logsumexp(q, axis=1, keepdims=True)
    q = apply_cumulative_transitions(schedule, q - q_lse, t - 1)
    return q + log_q_step + q_lse


def gumbel_noise(uniform: jax.Array) -> jax.Array:
    """-log(-log(U + 1e-30) + 1e-30), the original's Gumbel transform of U ~ Uniform[0, 1)."""
    return -jnp.log(-jnp.log(uniform + LOG_ZERO_CLAMP) + LOG_ZERO_CLAMP)


def step(
    schedule: VQSchedule, model_output: jax.Array, t: jax.Array, sample: jax.Array,
    key: jax.Array | None = None, uniform: jax.Array | None = None,
) -> jax.Array:
    """z_{t-1} = argmax_k(log p(z_{t-1} = k | z_t) + Gumbel): p = q_posterior for t > 0, model_output at t = 0.

    Give either a PRNG `key` or the (B, K + 1, N) `uniform` draws to replay (the t = 0 branch uses
    the first K rows). `t` may be traced; both branches are evaluated and selected.
    """
    if (key is None) == (uniform is None):
        raise ValueError("pass exactly one of key or uniform")
    b, k, n = model_output.shape
    if uniform is None:
        uniform = jax.random.uniform(key, (b, k + 1, n), dtype=jnp.float32)
    posterior = q_posterior(schedule, model_output, sample, jnp.maximum(t, 1))
    from_posterior = jnp.argmax(posterior + gumbel_noise(uniform), axis=1)
    from_x0 = jnp.argmax(model_output + gumbel_noise(uniform[:, :k]), axis=1)
    return jnp.where(jnp.asarray(t) == 0, from_x0, from_posterior)


def truncate(log_p_x_0: jax.Array, truncation_rate: float) -> jax.Array:
    """Keeps the most likely classes per token until their mass reaches `truncation_rate` (axis 1).

    As diffusers' pipeline: sort descending, cumsum in float32, keep sorted entry k iff the
    cumulative mass before it is < rate (so the top class always survives); the rest become -inf.
    Rate 1.0 is not a no-op: float32 round-off drops tails.
    """
    order = jnp.argsort(-log_p_x_0, axis=1, stable=True)
    sorted_p = jnp.exp(jnp.take_along_axis(log_p_x_0, order, axis=1))
    keep_sorted = jnp.cumsum(sorted_p, axis=1) < truncation_rate
    keep_sorted = jnp.concatenate([jnp.ones_like(keep_sorted[:, :1]), keep_sorted[:, :-1]], axis=1)
    keep = jnp.take_along_axis(keep_sorted, jnp.argsort(order, axis=1), axis=1)
    return jnp.where(keep, log_p_x_0, -jnp.inf)
