"""The GPU kit's G2D2 measurement: ONE outer step of the sampler with random weights, time and memory.

An outer step is the CFG pair of VQ-Diffusion transformer passes, K RAdam iterations on the categorical
logits through the VQ-VAE decoder (`optimize_logits_kl`), and the posterior step; the program timed is
`make_g2d2_sampler` with `num_steps=1`, so it also decodes the final tokens once. Sizes: `ithq` (the
ITHQ transformer and VQ-VAE, 4096 codes, 32x32 tokens -> 256x256, Resizer x4) or `tiny` (the shapes of
the fixtures' models, for a CPU dry run). paper_s_per_image = wall x the preset's 100 outer steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench.kit_case import device_peak_mb, random_params, xla_memory_mb
from experiments.bench.timing import interleaved, timed

TEXT_LENGTH = 77   # CLIP's positions
TINY_VQVAE = {"down_block_types": ["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
              "up_block_types": ["AttnUpDecoderBlock2D", "UpDecoderBlock2D"], "block_out_channels": [32, 64],
              "layers_per_block": 1, "latent_channels": 16, "num_vq_embeddings": 32, "norm_num_groups": 32,
              "vq_embed_dim": 16}
TINY_TRANSFORMER = {"attention_bias": True, "cross_attention_dim": 24, "attention_head_dim": 8, "num_layers": 2,
                    "num_attention_heads": 2, "num_vector_embeds": 33, "num_embeds_ada_norm": 100, "sample_size": 8}


def models(size: str):
    """(VQTransformer, VQModel) of `size`: "ithq" or "tiny"."""
    from jaxinv.models.vq_transformer import ITHQ_TRANSFORMER, VQTransformer, VQTransformerConfig
    from jaxinv.models.vqvae import ITHQ_VQVAE, VQModel

    if size == "ithq":
        return VQTransformer(ITHQ_TRANSFORMER), VQModel(ITHQ_VQVAE)
    if size == "tiny":
        return VQTransformer(VQTransformerConfig.from_diffusers(TINY_TRANSFORMER)), VQModel.from_diffusers(TINY_VQVAE)
    raise ValueError(f"g2d2.size must be 'ithq' or 'tiny', got {size!r}")


def outer_step_rows(config) -> list[dict]:
    from jaxinv.diffusion.vq_scheduler import make_vq_schedule
    from jaxinv.operators import make_operator
    from jaxinv.solvers.g2d2 import G2D2Settings, make_g2d2_sampler, vq_transformer_prior, vqvae_decoders
    from jaxinv.solvers.g2d2_inner import norm_likelihood

    g = config.g2d2
    transformer, vq = models(g.size)
    tc = transformer.config
    side, width = tc.sample_size, tc.cross_attention_dim
    image = side * vq.config.downsampling_factor
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    tr_shapes = jax.eval_shape(transformer.init, key, jax.ShapeDtypeStruct((1, side * side), jnp.int32),
                               jax.ShapeDtypeStruct((), jnp.int32),
                               jax.ShapeDtypeStruct((1, TEXT_LENGTH, width), jnp.float32))["params"]
    small = 2 * vq.config.downsampling_factor   # parameter shapes do not depend on the image size
    vq_shapes = jax.eval_shape(vq.init, key, jax.ShapeDtypeStruct((1, small, small, 3), jnp.float32))["params"]
    params = (random_params(tr_shapes, int(config.seed)), random_params(vq_shapes, int(config.seed) + 1))
    operator = make_operator("super_resolution", (image, image, 3), scale=int(g.scale))
    schedule = make_vq_schedule(tc.num_vector_embeds)
    settings = G2D2Settings(num_steps=1, num_inner=int(g.num_inner))

    def one_outer_step(params, y, key, cond):
        tr_params, vq_params = params
        decode_weights, decode_tokens = vqvae_decoders(vq, vq_params, (side, side))
        sample = make_g2d2_sampler(vq_transformer_prior(transformer, tr_params, 5.0), decode_weights, decode_tokens,
                                   lambda y: norm_likelihood(operator, y), schedule, settings, side * side)
        return sample(y, key, cond)[0]

    rng = np.random.default_rng(int(config.seed))
    y = jnp.asarray(rng.normal(size=(image // int(g.scale), image // int(g.scale), 3)), jnp.float32)
    cond = tuple(jnp.asarray(rng.normal(size=(2, TEXT_LENGTH, width)), jnp.float32))
    args = (params, y, jax.random.PRNGKey(1), cond)
    compiled, compile_s = timed(lambda: jax.jit(one_outer_step).lower(*args).compile())
    call = lambda: jax.block_until_ready(compiled(*args))  # noqa: E731
    call()
    times = interleaved({"jax": call}, int(g.repeats), memory=False)["jax"]
    wall, paper_steps = times["median_s"], G2D2Settings().num_steps    # the presets' N
    return [{"what": "g2d2_outer_step", "impl": "jax", "dtype": "float32", "batch": 1, "size": g.size,
             "num_inner": int(g.num_inner), "compile_s": compile_s, "wall_s": wall, "all_s": times["all_s"],
             "params_m": sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params)) / 1e6,
             "paper_steps": paper_steps, "paper_s_per_image": wall * paper_steps, "device_peak_mb": device_peak_mb(),
             **xla_memory_mb(compiled)}]


def g2d2_section(rec, config) -> None:
    rec.measure("g2d2 outer step", lambda: outer_step_rows(config), case=f"g2d2_{config.g2d2.size}")
