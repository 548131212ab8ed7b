"""BKSE `KernelWizard` (Tran et al., CVPR 2021, "Explore Image Deblurring via Encoded Blur Kernel Space"), adaptKernel path.

The DPS/SPGD "nonlinear blur" is the BKSE blur generator G (`KernelWizard.adaptKernel`):

    y = x + R(U(F(x), k))

with F the feature extractor (conv 3x3, two stride-2 convs, LeakyReLU(0.1), `front_RBs` residual
blocks without normalisation), U the kernel-adapter U-Net (5 levels, the latent k concatenated at its
innermost 1/128-resolution level) and R the reconstruction trunk (`back_RBs` residual blocks, two
conv + pixel-shuffle x2 upsamplings). x is an image in [0, 1]; the latent k has `kernel_dim` channels
at 1/128 of the image size. NHWC inside; parameter names mirror the torch state_dict
(`feature_extractor.6.conv1.weight` -> `feature_extractor_6/conv1/kernel`). The kernel extractor
(the encoder of the blur kernel from a sharp/blurred pair) is not ported: the operator never uses it.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

MODEL_NAME = "bkse_kernel_wizard"
NORMS = ("none", "instance")  # BKSE also knows "batch"; no released option file uses it
# Options keys that only matter for training or for the kernel extractor's checkpoint layout.
PASSIVE_OPTION_KEYS = ("pretrained", "img_size", "N_frames")


@dataclasses.dataclass(frozen=True)
class KernelWizardConfig:
    """The `KernelWizard` section of a BKSE options file (e.g. `options/generate_blur/default.yml`)."""

    input_nc: int = 3
    nf: int = 64
    front_RBs: int = 10
    back_RBs: int = 20
    kernel_dim: int = 512
    use_vae: bool = True
    adapter_norm: str = "none"
    adapter_use_dropout: bool = False
    extractor_norm: str = "none"
    extractor_use_sharp: bool = True
    extractor_n_blocks: int = 4
    extractor_padding_type: str = "reflect"
    extractor_use_dropout: bool = False

    def __post_init__(self):
        if self.kernel_dim != 8 * self.nf:
            raise ValueError(
                f"KernelWizard options: kernel_dim ({self.kernel_dim}) must equal 8 * nf ({8 * self.nf}): the "
                "adapter's innermost up-convolution takes the 8*nf features concatenated with the latent"
            )
        for what, norm in (("Adapter", self.adapter_norm), ("KernelExtractor", self.extractor_norm)):
            if norm not in NORMS:
                raise ValueError(f"KernelWizard options: {what}.norm {norm!r} is not supported (use one of {NORMS})")
        if self.extractor_padding_type not in ("reflect", "replicate", "zero"):
            raise ValueError(f"KernelWizard options: unknown KernelExtractor.padding_type {self.extractor_padding_type!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "KernelWizardConfig":
        """From the options dict: either the `KernelWizard` section itself or a whole file holding one."""
        if "KernelWizard" in options:
            options = options["KernelWizard"]
        required = ("input_nc", "nf", "front_RBs", "back_RBs", "kernel_dim", "use_vae", "KernelExtractor", "Adapter")
        missing = [k for k in required if k not in options]
        if missing:
            raise ValueError(f"KernelWizard options lack {missing}; got keys {sorted(options)}")
        unknown = sorted(set(options) - set(required) - set(PASSIVE_OPTION_KEYS))
        if unknown:
            raise ValueError(f"KernelWizard options: unknown keys {unknown}")
        ex, ad = options["KernelExtractor"], options["Adapter"]
        return cls(
            input_nc=int(options["input_nc"]),
            nf=int(options["nf"]),
            front_RBs=int(options["front_RBs"]),
            back_RBs=int(options["back_RBs"]),
            kernel_dim=int(options["kernel_dim"]),
            use_vae=bool(options["use_vae"]),
            adapter_norm=str(ad.get("norm", "none")),
            adapter_use_dropout=bool(ad.get("use_dropout", False)),
            extractor_norm=str(ex.get("norm", "none")),
            extractor_use_sharp=bool(ex.get("use_sharp", True)),
            extractor_n_blocks=int(ex.get("n_blocks", 4)),
            extractor_padding_type=str(ex.get("padding_type", "reflect")),
            extractor_use_dropout=bool(ex.get("use_dropout", False)),
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_options(path: str | os.PathLike) -> KernelWizardConfig:
    """Reads a BKSE options file: JSON (any extension) or, with PyYAML installed, the original YAML."""
    path = os.fspath(path)
    with open(path) as f:
        text = f.read()
    try:
        options = json.loads(text)
    except json.JSONDecodeError:
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path} is not JSON and PyYAML is not installed to read it as YAML") from None
        options = yaml.safe_load(text)
    if not isinstance(options, Mapping):
        raise ValueError(f"{path}: expected a mapping of KernelWizard options, got {type(options).__name__}")
    return KernelWizardConfig.from_options(options)


def _conv(features: int, kernel: int, stride: int, pad: int, name: str, dtype, use_bias: bool = True) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                   use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32, name=name)


def pixel_shuffle(x, r: int):
    """torch `PixelShuffle(r)` in NHWC: out[h*r + i, w*r + j, c] = in[h, w, c*r*r + i*r + j]."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, c // (r * r), r, r)
    return x.transpose(0, 1, 4, 2, 5, 3).reshape(b, h * r, w * r, c // (r * r))


def instance_norm(x, eps: float = 1e-5):
    """torch `InstanceNorm2d(affine=False)`: per-sample, per-channel normalisation over H, W."""
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps)


class ResidualBlockNoBN(nn.Module):
    """BKSE `ResidualBlock_noBN`: x + conv2(relu(conv1(x)))."""

    nf: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        out = nn.relu(_conv(self.nf, 3, 1, 1, "conv1", self.dtype)(x))
        return x + _conv(self.nf, 3, 1, 1, "conv2", self.dtype)(out)


# (outer, inner) channels of each U-Net level in units of nf, keyed by the number of levels inside it.
UNET_CHANNELS = {4: (1, 1), 3: (1, 2), 2: (2, 4), 1: (4, 8), 0: (8, 8)}


class UnetSkipConnectionBlock(nn.Module):
    """One level of the pix2pix U-Net of `KernelAdapter` (`models/backbones/unet_parts.py`).

    outermost: up(sub(down(x))) with down = conv4x4/2, up = relu, convT4x4/2, tanh.
    middle:    [up(sub(down(x))), lrelu(x)] with down = lrelu(0.2), conv, norm; up = relu, convT, norm.
    innermost: [up([down(x), k]), lrelu(x)].
    The skip carries lrelu(x), not x: the torch down path's LeakyReLU is in place and rewrites x
    before the concatenation reads it.
    """

    nf: int
    levels_below: int  # levels inside this one: 4 = outermost, 0 = innermost
    norm: str = "none"
    dtype: Any = jnp.float32

    def _norm(self, x):
        return instance_norm(x) if self.norm == "instance" else x

    def _up(self, x, use_bias: bool):
        outer = UNET_CHANNELS[self.levels_below][0] * self.nf
        return nn.ConvTranspose(outer, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=use_bias,
                                transpose_kernel=True, dtype=self.dtype, param_dtype=jnp.float32,
                                name="up_1")(nn.relu(x))

    def _submodule(self):
        return UnetSkipConnectionBlock(self.nf, self.levels_below - 1, self.norm, self.dtype, name="submodule")

    @nn.compact
    def __call__(self, x, latent):
        inner = UNET_CHANNELS[self.levels_below][1] * self.nf
        bias = self.norm == "instance"  # torch: use_bias only with InstanceNorm
        if self.levels_below == 4:
            h = _conv(inner, 4, 2, 1, "down_0", self.dtype, use_bias=bias)(x)
            return jnp.tanh(self._up(self._submodule()(h, latent), use_bias=True))
        x = nn.leaky_relu(x, 0.2)
        h = _conv(inner, 4, 2, 1, "down_1", self.dtype, use_bias=bias)(x)
        if self.levels_below == 0:
            if latent.shape[:3] != h.shape[:3] or latent.shape[3] != inner:
                raise ValueError(
                    f"KernelWizard: the kernel latent must have shape {h.shape[:3] + (inner,)} (B, H/128, W/128, "
                    f"kernel_dim) for this image, got {latent.shape}"
                )
            h = jnp.concatenate([h, latent.astype(h.dtype)], axis=-1)
        else:
            h = self._submodule()(self._norm(h), latent)
        return jnp.concatenate([self._norm(self._up(h, use_bias=bias)), x], axis=-1)


class KernelAdapter(nn.Module):
    """BKSE `KernelAdapter` (G): 5-level U-Net with nf, 2nf, 4nf, 8nf, 8nf inner channels; latent innermost."""

    nf: int
    norm: str = "none"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, latent):
        return UnetSkipConnectionBlock(self.nf, 4, self.norm, self.dtype, name="model")(x, latent)


class KernelWizard(nn.Module):
    """`KernelWizard.adaptKernel(x, k)` = x + recon_trunk(adapter(feature_extractor(x), k)); x NHWC in [0, 1].

    `dtype` is the compute dtype (parameters stay float32); `remat` recomputes each residual block in
    the backward pass (`jax.checkpoint`), for solvers that differentiate through the operator.
    """

    config: KernelWizardConfig
    dtype: Any = jnp.float32
    remat: bool = False

    @nn.compact
    def __call__(self, x, latent):
        c, lrelu = self.config, (lambda t: nn.leaky_relu(t, 0.1))
        if x.ndim != 4 or x.shape[-1] != c.input_nc:
            raise ValueError(f"KernelWizard: expected NHWC images with {c.input_nc} channels, got {x.shape}")
        if x.shape[1] % 128 or x.shape[2] % 128:
            raise ValueError(f"KernelWizard: height and width must be multiples of 128 (x4 features, 5 U-Net levels), "
                             f"got {x.shape[1:3]}")
        block = nn.remat(ResidualBlockNoBN) if self.remat else ResidualBlockNoBN
        base = x
        h = x.astype(self.dtype)
        h = lrelu(_conv(c.nf, 3, 1, 1, "feature_extractor_0", self.dtype)(h))
        h = lrelu(_conv(c.nf, 3, 2, 1, "feature_extractor_2", self.dtype)(h))
        h = lrelu(_conv(c.nf, 3, 2, 1, "feature_extractor_4", self.dtype)(h))
        for i in range(c.front_RBs):
            h = block(c.nf, self.dtype, name=f"feature_extractor_{6 + i}")(h)
        h = KernelAdapter(c.nf, c.adapter_norm, self.dtype, name="adapter")(h, latent)
        for i in range(c.back_RBs):
            h = block(c.nf, self.dtype, name=f"recon_trunk_{i}")(h)
        b = c.back_RBs
        h = lrelu(pixel_shuffle(_conv(c.nf * 4, 3, 1, 1, f"recon_trunk_{b}", self.dtype)(h), 2))
        h = lrelu(pixel_shuffle(_conv(64 * 4, 3, 1, 1, f"recon_trunk_{b + 3}", self.dtype)(h), 2))
        h = lrelu(_conv(64, 3, 1, 1, f"recon_trunk_{b + 6}", self.dtype)(h))
        h = _conv(c.input_nc, 3, 1, 1, f"recon_trunk_{b + 8}", self.dtype)(h)
        return h.astype(base.dtype) + base


def latent_shape(config: KernelWizardConfig, height: int, width: int) -> tuple[int, int, int]:
    """(H/128, W/128, kernel_dim): the torch latent (1, 512, 2, 2) of the seeds at 256x256, in HWC."""
    if height % 128 or width % 128:
        raise ValueError(f"KernelWizard needs image sizes that are multiples of 128, got {height}x{width}")
    return height // 128, width // 128, config.kernel_dim


def init_shapes(config: KernelWizardConfig, height: int = 128, width: int = 128) -> dict:
    """The parameter tree as `jax.ShapeDtypeStruct`s (no weights are materialised)."""
    model = KernelWizard(config)
    x = jax.ShapeDtypeStruct((1, height, width, config.input_nc), jnp.float32)
    k = jax.ShapeDtypeStruct((1,) + latent_shape(config, height, width), jnp.float32)
    return jax.eval_shape(lambda a, b: model.init(jax.random.key(0), a, b), x, k)["params"]


def load_kernel_wizard(directory: str | os.PathLike, dtype=jnp.float32, remat: bool = False) -> tuple[KernelWizard, dict]:
    """(module, params) from a directory written by `python -m convert.bkse` (no torch needed)."""
    from jaxinv.checkpoint import load_params

    params, model_config = load_params(directory)
    if model_config.get("model") != MODEL_NAME:
        raise ValueError(f"{directory} holds a {model_config.get('model')!r} checkpoint, not {MODEL_NAME!r}")
    config = KernelWizardConfig(**model_config["config"])
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return KernelWizard(config, dtype=dtype, remat=remat), params
