"""DPS / SPGD "nonlinear blur": the BKSE blur generator with a fixed kernel latent.

    y = clip(2 G((x + 1) / 2, k) - 1, -1, 1),   G = KernelWizard.adaptKernel   (x in [-1, 1])

with the pretrained `GOPRO_wVAE.pth` (BKSE `options/generate_blur/default.yml`). The latent k is
drawn ONCE, as SPGD/DAPS `NonlinearBlur.__init__` does: `np.random.seed(0);
np.random.randn(1, kernel_dim, H/128, W/128) * 1.2` (the seeds hard-code (1, 512, 2, 2), their
256x256 case), so the operator that guides equals the one that measured. DPS draws a fresh
`torch.randn(1, 512, 2, 2) * 1.2` inside every forward call (DPS issue #7: guidance and measurement
then use different blurs); that behaviour is only offered as `forward_with_fresh_latent(x, key)`.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinv.models.bkse import KernelWizard, KernelWizardConfig, latent_shape, load_kernel_wizard
from jaxinv.operators.base import OperatorBase, register_operator

CONVERT_COMMAND = "python -m convert.bkse --checkpoint GOPRO_wVAE.pth --options bkse_default_options.json --output {dir}"


def seeded_latent(config: KernelWizardConfig, height: int, width: int, seed: int = 0, scale: float = 1.2) -> np.ndarray:
    """SPGD/DAPS latent: numpy `RandomState(seed).randn(1, kernel_dim, H/128, W/128) * scale`, as (H/128, W/128, kernel_dim)."""
    h, w, dim = latent_shape(config, height, width)
    draw = np.random.RandomState(seed).randn(1, dim, h, w) * scale
    return draw[0].transpose(1, 2, 0).astype(np.float32)


@register_operator("nonlinear_blur")
@struct.dataclass
class NonlinearBlur(OperatorBase):
    """y = clip(2 KernelWizard.adaptKernel((x+1)/2, k) - 1, -1, 1) with a fixed latent k (SPGD/DAPS)."""

    params: Any
    latent: jnp.ndarray  # (H/128, W/128, kernel_dim)
    image_shape: tuple = struct.field(pytree_node=False)
    config: KernelWizardConfig = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.float32)
    remat: bool = struct.field(pytree_node=False, default=False)
    latent_scale: float = struct.field(pytree_node=False, default=1.2)

    is_linear = False
    example_params = None
    example_skip_reason = (
        "needs a KernelWizard checkpoint and images whose sides are multiples of 128 (feature stride 4 and five "
        "U-Net halvings); tests/test_bkse.py runs the same checks with a tiny random KernelWizard at 128x128"
    )

    @classmethod
    def create(cls, image_shape, checkpoint_dir: str | os.PathLike | None = None, latent_seed: int = 0,
               latent_scale: float = 1.2, params=None, model_config: KernelWizardConfig | dict | None = None,
               dtype=jnp.float32, remat: bool = False):
        """From a directory written by `python -m convert.bkse`, or from explicit `params` + `model_config`.

        The latent is numpy `RandomState(latent_seed)`, as SPGD (seed 0); its scale 1.2 is the seeds'.
        `dtype` is the compute dtype; `remat` recomputes residual blocks when differentiating.
        """
        height, width, channels = image_shape
        if checkpoint_dir is not None:
            if params is not None or model_config is not None:
                raise ValueError("nonlinear_blur: give either checkpoint_dir or params + model_config, not both")
            config_file = os.path.join(os.fspath(checkpoint_dir), "model_config.json")
            if not os.path.isfile(config_file):
                raise FileNotFoundError(
                    f"nonlinear_blur: no converted BKSE checkpoint at {os.fspath(checkpoint_dir)!r} ({config_file} is "
                    f"missing). Convert the BKSE weights first:\n    {CONVERT_COMMAND.format(dir=os.fspath(checkpoint_dir))}\n"
                    "(options: the KernelWizard section of BKSE options/generate_blur/default.yml as JSON)"
                )
            model, params = load_kernel_wizard(checkpoint_dir, dtype=dtype, remat=remat)
        else:
            if params is None or model_config is None:
                raise ValueError("nonlinear_blur: checkpoint_dir (a converted GOPRO_wVAE.pth) is required; "
                                 f"create it with: {CONVERT_COMMAND.format(dir='DIR')}")
            if not isinstance(model_config, KernelWizardConfig):
                model_config = KernelWizardConfig.from_options(model_config)
            model = KernelWizard(model_config, dtype=dtype, remat=remat)
        if channels != model.config.input_nc:
            raise ValueError(f"nonlinear_blur: the model takes {model.config.input_nc} channels, image_shape has {channels}")
        latent = jnp.asarray(seeded_latent(model.config, height, width, latent_seed, latent_scale))
        return cls(params=params, latent=latent, image_shape=tuple(image_shape), config=model.config,
                   dtype=dtype, remat=bool(remat), latent_scale=float(latent_scale))

    def blur(self, x, latent):
        """clip(2 G((x+1)/2, latent) - 1, -1, 1) for one (H, W, C) image."""
        model = KernelWizard(self.config, dtype=self.dtype, remat=self.remat)
        out = model.apply({"params": self.params}, ((x + 1.0) / 2.0)[None], latent[None])[0]
        return jnp.clip(out * 2.0 - 1.0, -1.0, 1.0)

    def _apply(self, x):
        return self.blur(x, self.latent)

    def with_latent(self, latent) -> "NonlinearBlur":
        """The same blur network with another fixed latent of shape (H/128, W/128, kernel_dim)."""
        latent = jnp.asarray(latent, jnp.float32)
        if latent.shape != self.latent.shape:
            raise ValueError(f"nonlinear_blur: latent must have shape {self.latent.shape}, got {latent.shape}")
        return self.replace(latent=latent)

    def forward_with_fresh_latent(self, x, key):
        """DPS-compatibility only: a new latent N(0, 1.2^2) per call, as DPS `NonlinearBlurOperator.forward`.

        Guidance and measurement then see different operators (DPS issue #7); use `forward` otherwise.
        """
        self.check_input(x)
        return self.blur(x, jax.random.normal(key, self.latent.shape, jnp.float32) * self.latent_scale)
