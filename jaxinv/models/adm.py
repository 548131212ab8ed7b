"""The guided-diffusion ("ADM", Dhariwal & Nichol 2021) UNet in Flax, NHWC.

Mirrors `guided_diffusion.unet.UNetModel` as built by `script_util.create_model`: the model
predicts `eps` (and, with `learn_sigma`, the variance interpolation `v`) from `x_t` in [-1, 1] and
the timestep `t`. Parameter paths mirror the torch state dict (`input_blocks.1.0.in_layers.2.weight`
is `input_blocks_1_0/in_layers_2/kernel`), so `convert.adm` only renames and transposes.

Compute dtype (`dtype`: "float32" or "bfloat16") is a module field; parameters stay float32. As
in the original fp16 mode (which converts only convolutions), the timestep MLP, label embedding,
the res blocks' embedding projections and the output head run in float32, and the convolutions and
attention of the blocks in the compute dtype. `remat=True` wraps every res/attention block in `nn.remat`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxinv.models.adm_layers import (AttentionBlock, Conv3x3, Downsample, GroupNorm32, ResBlock, Upsample, conv3x3,
                                      timestep_embedding)

NUM_CLASSES = 1000
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
# `create_model`'s default channel multipliers per image size.
_DEFAULT_CHANNEL_MULT = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}
# Keys of guided-diffusion's argument dicts that do not change the network's parameters or output.
_IGNORED_KEYS = frozenset({
    "use_fp16", "use_checkpoint", "model_path", "diffusion_steps", "noise_schedule", "timestep_respacing",
    "use_kl", "predict_xstart", "rescale_timesteps", "rescale_learned_sigmas", "sigma_small",
})


def _parse_ints(value: Any, what: str) -> tuple:
    if isinstance(value, str):
        parts = [p for p in value.replace(" ", "").split(",") if p]
    elif isinstance(value, (int, float)):
        parts = [value]
    else:
        parts = list(value)
    try:
        return tuple(float(p) if float(p) != int(float(p)) else int(float(p)) for p in parts)
    except ValueError as e:
        raise ValueError(f"{what} must be comma-separated numbers, got {value!r}") from e


@dataclasses.dataclass(frozen=True)
class ADMConfig:
    """`create_model` arguments, with its defaults.

    `channel_mult` "" picks `create_model`'s per-size default; "1,2,2" or a tuple is taken as is.
    `attention_resolutions` are feature-map resolutions ("16,8"); attention runs where the
    downsampling factor `ds` equals `image_size // res`. `use_fp16` and `use_checkpoint` do not
    change the network: choose the compute dtype and remat on `ADMUNet` instead.
    """

    image_size: int
    num_channels: int
    num_res_blocks: int
    channel_mult: tuple = ()
    learn_sigma: bool = False
    class_cond: bool = False
    attention_resolutions: tuple = (16,)
    num_heads: int = 1
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = False
    dropout: float = 0.0
    resblock_updown: bool = False
    use_new_attention_order: bool = False

    def __post_init__(self):
        mult = _parse_ints(self.channel_mult, "channel_mult")
        if not mult:
            if self.image_size not in _DEFAULT_CHANNEL_MULT:
                raise ValueError(f"unsupported image size {self.image_size} without channel_mult "
                                 f"(create_model knows {sorted(_DEFAULT_CHANNEL_MULT)})")
            mult = _DEFAULT_CHANNEL_MULT[self.image_size]
        object.__setattr__(self, "channel_mult", mult)
        object.__setattr__(self, "attention_resolutions", _parse_ints(self.attention_resolutions, "attention_resolutions"))
        for res in self.attention_resolutions:
            if not isinstance(res, int) or res <= 0:
                raise ValueError(f"attention_resolutions must be positive integers, got {self.attention_resolutions}")
        if self.num_head_channels == -1 and self.num_heads < 1:
            raise ValueError("num_heads must be >= 1 when num_head_channels is -1")
        if self.image_size % self.downsampling_factor:
            raise ValueError(f"image_size {self.image_size} is not divisible by the downsampling factor "
                             f"{self.downsampling_factor} of channel_mult {self.channel_mult}")

    @property
    def attention_ds(self) -> tuple[int, ...]:
        """`create_model`: `ds = image_size // res` for each attention resolution."""
        return tuple(self.image_size // res for res in self.attention_resolutions)

    def at_image_size(self, image_size: int) -> "ADMConfig":
        """The same network (same parameters, attention at the same `ds`) applied to `image_size`
        inputs: how a UNet trained on patches is used on whole images."""
        for ds in self.attention_ds:
            if image_size % ds:
                raise ValueError(f"image_size {image_size} is not divisible by the attention downsampling {ds}")
        res = tuple(image_size // ds for ds in self.attention_ds)
        return dataclasses.replace(self, image_size=image_size, attention_resolutions=res)

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def out_channels(self) -> int:
        return 6 if self.learn_sigma else 3

    @property
    def num_classes(self) -> int | None:
        return NUM_CLASSES if self.class_cond else None

    def to_dict(self) -> dict:
        """`create_model` keyword arguments (strings for the list-valued fields, as its flags use)."""
        d = dataclasses.asdict(self)
        d["channel_mult"] = ",".join(str(m) for m in self.channel_mult)
        d["attention_resolutions"] = ",".join(str(r) for r in self.attention_resolutions)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ADMConfig":
        """From `create_model` kwargs (guided-diffusion flag dicts' non-model keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names - _IGNORED_KEYS)
        if unknown:
            raise ValueError(f"unknown ADM model config keys {unknown}; expected create_model arguments {sorted(names)}")
        missing = [k for k in ("image_size", "num_channels", "num_res_blocks") if k not in d]
        if missing:
            raise ValueError(f"ADM model config lacks {missing}")
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "ADMConfig":
        with open(path) as f:
            return cls.from_dict(json.load(f))

    @classmethod
    def preset(cls, name: str) -> "ADMConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown ADM preset {name!r}; known presets: {sorted(PRESETS)}")
        return PRESETS[name]


_PRETRAINED_256 = dict(
    image_size=256, channel_mult="", learn_sigma=True, class_cond=False, num_heads=4, num_head_channels=64,
    num_heads_upsample=-1, use_scale_shift_norm=True, dropout=0.0, resblock_updown=True,
    use_new_attention_order=False,
)
PRESETS = {
    # DPS `configs/model_config.yaml` (ffhq_10m.pt, 93.6M parameters).
    "ffhq_10m": ADMConfig(num_channels=128, num_res_blocks=1, attention_resolutions="16", **_PRETRAINED_256),
    # guided-diffusion 256x256_diffusion_uncond.pt flags (552.8M parameters).
    "imagenet_256_uncond": ADMConfig(num_channels=256, num_res_blocks=2, attention_resolutions="32,16,8", **_PRETRAINED_256),
}


def resolve_config(spec: "str | os.PathLike | Mapping | ADMConfig") -> ADMConfig:
    """A preset name, a JSON path of `create_model` kwargs, a dict, or an `ADMConfig`."""
    if isinstance(spec, ADMConfig):
        return spec
    if isinstance(spec, Mapping):
        return ADMConfig.from_dict(spec)
    spec = os.fspath(spec)
    if spec in PRESETS:
        return PRESETS[spec]
    if spec.endswith(".json") or os.path.isfile(spec):
        return ADMConfig.from_json(spec)
    raise ValueError(f"unknown ADM preset {spec!r}; known presets: {sorted(PRESETS)} (or a path to a config JSON)")


class ADMUNet(nn.Module):
    """`UNetModel(x, timesteps, y)` of guided-diffusion; `x` (B,H,W,3) NHWC, returns (B,H,W,3|6).

    Output channels `[:3]` are the noise prediction eps, `[3:]` (with `learn_sigma`) the variance
    interpolation v in [-1, 1]. `timesteps` (B,) may be fractional. `y` (B,) int labels iff
    `class_cond`. Dropout needs `deterministic=False` and a `dropout` rng.
    """

    config: ADMConfig
    dtype: str = "float32"
    remat: bool = False

    def _check_inputs(self, x, timesteps, y):
        cfg = self.config
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"ADMUNet expects NHWC images with 3 channels, got shape {x.shape}")
        h, w = x.shape[1:3]
        f = cfg.downsampling_factor
        if h % f or w % f:
            raise ValueError(f"image size {h}x{w} is not divisible by the UNet's downsampling factor {f}")
        if (h, w) != (cfg.image_size, cfg.image_size):
            raise ValueError(f"image size {h}x{w} does not match the model's image_size {cfg.image_size}")
        if jnp.shape(timesteps) != (x.shape[0],):
            raise ValueError(f"timesteps must have shape (batch,) = ({x.shape[0]},), got {jnp.shape(timesteps)}")
        if (y is not None) != cfg.class_cond:
            raise ValueError("class labels y must be given iff the model is class-conditional "
                             f"(class_cond={cfg.class_cond})")
        if y is not None and jnp.shape(y) != (x.shape[0],):
            raise ValueError(f"class labels must have shape (batch,) = ({x.shape[0]},), got {jnp.shape(y)}")

    @nn.compact
    def __call__(self, x: jax.Array, timesteps: jax.Array, y: jax.Array | None = None,
                 deterministic: bool = True) -> jax.Array:
        cfg = self.config
        self._check_inputs(x, timesteps, y)
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown compute dtype {self.dtype!r}; expected one of {sorted(_DTYPES)}")
        dtype = _DTYPES[self.dtype]
        res_block = nn.remat(ResBlock, static_argnums=(3,)) if self.remat else ResBlock
        attn_block = nn.remat(AttentionBlock, static_argnums=(3,)) if self.remat else AttentionBlock
        mc = cfg.num_channels
        heads_up = cfg.num_heads if cfg.num_heads_upsample == -1 else cfg.num_heads_upsample

        def resblock(out_ch, name, **kw):
            return res_block(out_ch, cfg.dropout, cfg.use_scale_shift_norm, dtype=dtype, name=name, **kw)

        def attention(heads, name):
            return attn_block(heads, cfg.num_head_channels, cfg.use_new_attention_order, dtype=dtype, name=name)

        emb_dim = 4 * mc
        emb = nn.Dense(emb_dim, name="time_embed_0")(timestep_embedding(timesteps, mc))
        emb = nn.Dense(emb_dim, name="time_embed_2")(nn.silu(emb))
        if cfg.class_cond:
            emb = emb + nn.Embed(NUM_CLASSES, emb_dim, name="label_emb")(jnp.asarray(y, jnp.int32))

        # input_blocks: each entry is a list of (module, name) applied in order (TimestepEmbedSequential).
        ch = int(cfg.channel_mult[0] * mc)
        input_blocks = [[conv3x3(ch, dtype, "input_blocks_0_0")]]
        chans, ds = [ch], 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                i = len(input_blocks)
                ch = int(mult * mc)
                layers = [resblock(ch, f"input_blocks_{i}_0")]
                if ds in cfg.attention_ds:
                    layers.append(attention(cfg.num_heads, f"input_blocks_{i}_1"))
                input_blocks.append(layers)
                chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                name = f"input_blocks_{len(input_blocks)}_0"
                input_blocks.append([resblock(ch, name, down=True) if cfg.resblock_updown else Downsample(ch, dtype, name=name)])
                chans.append(ch)
                ds *= 2

        h, skips = x.astype(dtype), []
        for layers in input_blocks:
            h = _apply(layers, h, emb, deterministic)
            skips.append(h)
        middle = [resblock(ch, "middle_block_0"), attention(cfg.num_heads, "middle_block_1"), resblock(ch, "middle_block_2")]
        h = _apply(middle, h, emb, deterministic)

        i = 0
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for j in range(cfg.num_res_blocks + 1):
                chans.pop()
                ch = int(mult * mc)
                layers = [resblock(ch, f"output_blocks_{i}_0")]
                if ds in cfg.attention_ds:
                    layers.append(attention(heads_up, f"output_blocks_{i}_1"))
                if level and j == cfg.num_res_blocks:
                    name = f"output_blocks_{i}_{len(layers)}"
                    layers.append(resblock(ch, name, up=True) if cfg.resblock_updown else Upsample(ch, dtype, name=name))
                    ds //= 2
                h = _apply(layers, jnp.concatenate([h, skips.pop()], axis=-1), emb, deterministic)
                i += 1

        h = nn.silu(GroupNorm32(name="out_0")(h.astype(jnp.float32)))
        return nn.Conv(cfg.out_channels, (3, 3), padding=((1, 1), (1, 1)), name="out_2")(h)


def _apply(layers, h, emb, deterministic):
    for layer in layers:
        h = layer(h) if isinstance(layer, Conv3x3) else layer(h, emb, deterministic)
    return h


def init_shapes(config: ADMConfig, batch: int = 1) -> dict:
    """The parameter tree's shapes and dtypes (`jax.eval_shape`, no random initialisation)."""
    module = ADMUNet(config)
    x = jax.ShapeDtypeStruct((batch, config.image_size, config.image_size, 3), jnp.float32)
    t = jax.ShapeDtypeStruct((batch,), jnp.float32)
    y = jax.ShapeDtypeStruct((batch,), jnp.int32) if config.class_cond else None
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    return jax.eval_shape(module.init, key, x, t, y)["params"]


def load_adm(directory: str | os.PathLike, dtype: str = "float32", remat: bool = False) -> tuple[ADMUNet, Any]:
    """`(module, params)` from a directory written by `convert.adm` (orbax params + config JSON; no torch)."""
    from jaxinv.checkpoint import load_params

    params, model_config = load_params(directory)
    module = ADMUNet(ADMConfig.from_dict(model_config), dtype=dtype, remat=remat)
    return module, jax.tree_util.tree_map(jnp.asarray, params)
