"""G2D2: gradient-guided discrete diffusion with a VQ-Diffusion prior (Murata et al., TMLR 2025).

Per diffusion step t (sony/g2d2 `InvProbAncVQDiffusionPipeline.__call__`, preset path):

    lp     = clamp(truncate(normalise(lp_u + w (lp_c - lp_u)), r), -70)     prior log p(z_0 | z_t)
    init   = lp at the first step, else normalise(c_f lp + (1 - c_f) phi_prev)
    phi    = K RAdam iterations on ||y - A(D(softmax((phi + g)/tau) C))|| + c_kl,i KL(q_phi || lp)
             (`g2d2_inner.optimize_logits_kl`, fresh optimiser, lr_i)
    z_{t-1} = "diffusion":       Gumbel-max of the VQ-Diffusion posterior q(z_{t-1} | z_t, phi)
              "decouple_random": z_0 ~ Cat(truncate(phi, 0.95)), then re-mask
                                 floor(N (c̄_{t-1} - b̄_{t-1})) random tokens (star-shaped)

with lr_i = lr 10^{linspace(w_lr/2, -w_lr/2, N)_i}, c_kl,i = c_kl 10^{linspace(w_kl/2, -w_kl/2, N)_i},
timesteps round(linspace(T, 0, N + 1)[1:]), and phi_prev the optimised phi before its clamp(-70).
The released presets use "diffusion" (the Markov posterior; unmasked tokens are revised slowly and
never re-masked); the paper's figure describes the star-shaped "decouple_random" step. Finally
x = D(C[z_0]). The prior is evaluated outside any gradient; only phi -> decoder -> A is
differentiated. One image at a time (the original's norm over the batch couples images); batch
by `jax.vmap` over (y, key, cond).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.diffusion import vq_scheduler
from jaxinv.progress import traced_report
from jaxinv.solvers import registry
from jaxinv.solvers.g2d2_inner import InnerTrace, norm_likelihood, optimize_logits_kl, soft_decoder

LOG_FLOOR = -70.0
POSTERIORS = ("diffusion", "decouple_random")


@dataclasses.dataclass(frozen=True)
class G2D2Settings:
    """The knobs of the sampler; defaults are the `sr_imagenet` preset of sony/g2d2 `util/experiments.py`."""

    num_steps: int = 100
    num_inner: int = 30
    lr: float = 10.0
    lr_width: float = 2.0  # init_vec_lr_weight
    coef_kl: float = 3e-4
    kl_width: float = 2.0  # init_vec_kl_coef_weight
    coef_forget: float = 0.3
    temperature: float = 1.0
    posterior: str = "diffusion"
    decouple_truncation: float = 0.95  # hard-coded in posterior_using_conf_score

    def __post_init__(self):
        if self.posterior not in POSTERIORS:
            raise ValueError(f"posterior must be one of {POSTERIORS}, got {self.posterior!r}")
        if self.num_steps < 1 or self.num_inner < 1:
            raise ValueError("num_steps and num_inner must be positive")


def g2d2_timesteps(num_train_timesteps: int, num_steps: int) -> np.ndarray:
    """round(linspace(T, 0, N + 1)[1:]) ("corrected time steps"): 99, 98, ..., 0 for N = T = 100."""
    return np.round(np.linspace(num_train_timesteps, 0, num_steps + 1)[1:]).astype(np.int32)


def step_schedules(s: G2D2Settings) -> tuple[np.ndarray, np.ndarray]:
    """Per-step lr_i and c_kl,i (float64 on the host, as the code's numpy)."""
    lr = s.lr * 10 ** np.linspace(s.lr_width / 2, -s.lr_width / 2, s.num_steps)
    kl = s.coef_kl * 10 ** np.linspace(s.kl_width / 2, -s.kl_width / 2, s.num_steps)
    return lr, kl


def remask_counts(schedule: vq_scheduler.VQSchedule, timesteps: np.ndarray, num_tokens: int) -> np.ndarray:
    """int(N (exp(log c̄_{t-1}) - exp(log b̄_{t-1}))) in float32 as torch computes it; 0 at t = 0."""
    ct = np.exp(np.asarray(schedule.log_cumprod_ct, np.float32))
    bt = np.exp(np.asarray(schedule.log_cumprod_bt, np.float32))
    out = [int(np.float32(num_tokens) * (ct[t - 1] - bt[t - 1])) if t > 0 else 0 for t in timesteps]
    return np.asarray(out, np.int32)


def cfg_prior(log_p_uncond: jax.Array, log_p_text: jax.Array, guidance_scale: float, truncation_rate: float) -> jax.Array:
    """clamp(truncate(lp_u + w (lp_c - lp_u) - logsumexp, rate), -70) over classes (axis 0), (K, N) -> (K, N)."""
    lp = log_p_uncond + guidance_scale * (log_p_text - log_p_uncond)
    lp = lp - jax.nn.logsumexp(lp, axis=0, keepdims=True)
    lp = vq_scheduler.truncate(lp[None], truncation_rate)[0]
    return jnp.maximum(lp, LOG_FLOOR)


def vq_transformer_prior(transformer, params, guidance_scale: float, truncation_rate: float = 1.0) -> Callable:
    """prior_log_probs(tokens (N,), t, cond=(uncond (L, D), text (L, D))) -> (K, N) from a `VQTransformer`.

    Always two passes, as the original (its CFG switch reads the YAML guidance 5.0, so FFHQ's w = 1
    also runs the uncond pass and the renormalisation). Evaluated under `stop_gradient`.
    """

    def prior(tokens, t, cond):
        uncond, text = cond
        lp = transformer.apply({"params": params}, jnp.stack([tokens, tokens]), t, jnp.stack([uncond, text]))
        return jax.lax.stop_gradient(cfg_prior(lp[0], lp[1], guidance_scale, truncation_rate))

    return prior


def _normalise(x):
    return x - jax.nn.logsumexp(x, axis=0, keepdims=True)


def _decouple_random_step(phi, num_mask, key, mask_class, truncation_rate):
    """z_0 ~ Cat(normalise(truncate(phi, 0.95))), then mask the num_mask tokens with the lowest random score."""
    k_z0, k_conf = jax.random.split(key)
    lp = _normalise(vq_scheduler.truncate(phi[None], truncation_rate)[0])
    u = jax.random.uniform(k_z0, lp.shape, lp.dtype)
    z0 = jnp.argmax(lp + vq_scheduler.gumbel_noise(u), axis=0)
    score = jax.random.uniform(k_conf, z0.shape)
    rank = jnp.argsort(jnp.argsort(score))
    return jnp.where(rank < num_mask, mask_class, z0)


def make_g2d2_sampler(
    prior_log_probs: Callable[[jax.Array, jax.Array, Any], jax.Array],
    decode_weights: Callable[[jax.Array], jax.Array],
    decode_tokens: Callable[[jax.Array], jax.Array],
    likelihood_factory: Callable[[jax.Array], Callable[[jax.Array], jax.Array]],
    schedule: vq_scheduler.VQSchedule,
    settings: G2D2Settings,
    num_tokens: int,
    progress: bool = False,
) -> Callable:
    """Returns sample(y, key, cond) -> (image, tokens, trace) for ONE image; vmap for batches.
    `progress`: the steps report to an open `jaxinv.progress.steps_bar`.

    `trace` holds, per diffusion step, the losses of the last inner iteration (at phi before its step).
    `lr_scale` multiplies every lr_i; it is traced, so an lr sweep is a vmap, not a recompilation.

    prior_log_probs(tokens (N,), t, cond) -> (K, N) prior log p(z_0 | z_t) (CFG-mixed, truncated,
        clamped; e.g. `vq_transformer_prior`); decode_weights: (K, N) weights -> image;
    decode_tokens: (N,) int codes -> image; likelihood_factory(y) -> (image -> ||y - A(image)||).
    """
    timesteps = g2d2_timesteps(schedule.num_train_timesteps, settings.num_steps)
    lr, coef_kl = step_schedules(settings)
    xs_static = dict(
        t=jnp.asarray(timesteps),
        lr=jnp.asarray(lr, jnp.float32),
        coef_kl=jnp.asarray(coef_kl, jnp.float32),
        num_mask=jnp.asarray(remask_counts(schedule, timesteps, num_tokens)),
        first=jnp.arange(settings.num_steps) == 0,
    )
    if progress:
        xs_static["index"] = jnp.arange(settings.num_steps)
    mask_class = schedule.mask_class

    def sample(y, key, cond=None, lr_scale=1.0):
        likelihood = likelihood_factory(y)

        def step(carry, xs):
            tokens, phi_prev = carry
            k_inner, k_post = jax.random.split(xs["key"])
            lp = jax.lax.stop_gradient(prior_log_probs(tokens, xs["t"], cond))
            init = jnp.where(xs["first"], lp, _normalise(settings.coef_forget * lp + (1 - settings.coef_forget) * phi_prev))
            phi, trace = optimize_logits_kl(
                decode_weights, likelihood, lp, init, None, lr_scale * xs["lr"], xs["coef_kl"], settings.temperature,
                keys=jax.random.split(k_inner, settings.num_inner),
            )
            clamped = jnp.maximum(phi, LOG_FLOOR)
            if settings.posterior == "diffusion":
                new = vq_scheduler.step(schedule, clamped[None], xs["t"], tokens[None], key=k_post)[0]
            else:
                new = _decouple_random_step(clamped, xs["num_mask"], k_post, mask_class, settings.decouple_truncation)
            trace = InnerTrace(*(v[-1] for v in trace))
            if progress:
                traced_report(xs["index"], settings.num_steps, {"residual_norm": trace.likelihood_loss})
            return (new.astype(tokens.dtype), phi), trace

        num_classes = mask_class
        carry0 = (jnp.full((num_tokens,), mask_class, jnp.int32), jnp.zeros((num_classes, num_tokens), jnp.float32))
        xs = dict(xs_static, key=jax.random.split(key, settings.num_steps))
        (tokens, _), trace = jax.lax.scan(step, carry0, xs)
        return decode_tokens(tokens), tokens, trace

    return sample


def vqvae_decoders(vqvae, params, latent_hw: tuple[int, int]) -> tuple[Callable, Callable]:
    """(decode_weights, decode_tokens) for one image from a `jaxinv.models.vqvae.VQModel` (token n at (n // w, n % w))."""
    h, w = latent_hw
    decode_weights = soft_decoder(vqvae, params, latent_hw)

    def decode_tokens(tokens):
        z = vqvae.apply({"params": params}, tokens.reshape(1, h, w), method="embed_codes")
        return vqvae.apply({"params": params}, z, force_not_quantize=True, method="decode")[0]

    return decode_weights, decode_tokens


# -- the registered method: `python -m experiments.run --config configs/g2d2/<preset>.py` --------------

PIPELINE_FIELDS = {
    "guidance_scale": (5.0, "classifier-free guidance w (two transformer passes always, as the code)"),
    "truncation_rate": (1.0, "VQ-Diffusion truncation r of the prior"),
    "prompt": ("", "prompt for images whose CSV caption is empty ('{label}' in it: such rows are refused)"),
}


def solver_fields() -> dict:
    """`config.solver.g2d2`: the `G2D2Settings` fields and the pipeline's knobs, with their defaults."""
    settings = {f.name: f.default for f in dataclasses.fields(G2D2Settings)}
    return {**settings, **{k: v for k, (v, _) in PIPELINE_FIELDS.items()}}


def settings_of(config) -> G2D2Settings:
    fields = config.solver.g2d2
    return G2D2Settings(**{f.name: fields[f.name] for f in dataclasses.fields(G2D2Settings)})


def prompt_for(caption: str | None, template: str, name: str) -> str:
    """The CSV caption (sony/g2d2 uses it verbatim); an empty one falls back to a placeholder-free template."""
    if caption and caption.strip():
        return caption
    if "{" in template:
        raise ValueError(f"image {name}: empty caption and the prompt template {template!r} needs a label; "
                         "write the full prompt (e.g. 'a photo of tench, Tinca tinca') in the CSV")
    return template


def load_network(config) -> registry.Network:
    """The converted VQ-Diffusion pipeline of `model.checkpoint_dir` as the G2D2 prior.

    The measurement y and the sampler key come from the runner (as every method); the image size
    is the pipeline's (checked against `data.image_size`), the latent grid its transformer's.
    """
    from jaxinv.models.vq_diffusion import encode_prompts, load_vq_diffusion

    c = load_vq_diffusion(os.fspath(config.model.checkpoint_dir), dtype=config.model.dtype)
    side = int(c.transformer.config.sample_size)
    latent_hw, num_tokens = (side, side), side * side
    _, decode_tokens = vqvae_decoders(c.vqvae, c.vqvae_params, latent_hw)
    shape = tuple(jax.eval_shape(decode_tokens, jnp.zeros(num_tokens, jnp.int32)).shape)
    if int(config.data.image_size) != shape[0]:
        raise ValueError(f"data.image_size is {config.data.image_size} but the pipeline in "
                         f"{config.model.checkpoint_dir!r} decodes {shape[0]}x{shape[1]} images; "
                         f"set --config.data.image_size={shape[0]}")
    fields, settings = config.solver.g2d2, settings_of(config)

    def sample(params, operator, y, key, cond):
        transformer_params, vqvae_params = params
        prior = vq_transformer_prior(c.transformer, transformer_params, float(fields.guidance_scale),
                                     float(fields.truncation_rate))
        decode_weights, decode = vqvae_decoders(c.vqvae, vqvae_params, latent_hw)
        sampler = make_g2d2_sampler(prior, decode_weights, decode, lambda y: norm_likelihood(operator, y), c.schedule,
                                    settings, num_tokens, progress=bool(config.output.progress))
        image, tokens, trace = sampler(y, key, cond)
        return {"sample": image, "diagnostics": trace._asdict()}

    def condition(examples):
        prompts = [prompt_for(ex.caption, fields.prompt, ex.name) for ex in examples]
        uncond, text = encode_prompts(c, prompts)
        return (jnp.broadcast_to(uncond, text.shape), text), [{"prompt": p} for p in prompts]

    return registry.Network(params=(c.transformer_params, c.vqvae_params), module=(c.transformer, c.vqvae),
                            sample=sample, condition=condition,
                            info={"image_shape": list(shape), "latent_grid": list(latent_hw)})


def _set_steps(config, n: int) -> None:
    config.solver.g2d2.num_steps = int(n)


registry.register(registry.Method(
    "g2d2", "G2D2",
    fields={"g2d2": (solver_fields(), "G2D2Settings fields (sony/g2d2 util/experiments.py) and the pipeline's knobs")},
    network=load_network, validate=settings_of,
    steps=lambda config: int(config.solver.g2d2.num_steps), set_steps=_set_steps,
    network_evals_per_step=lambda config: 2))   # the CFG pair of transformer passes (never differentiated)
