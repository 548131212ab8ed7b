"""VGG16 convolutional trunk (torchvision `vgg16().features`) in Flax, tapped after selected ReLUs.

torchvision's `features` is a `Sequential` of 3x3 convs (padding 1) with ReLUs and 2x2/2 max pools;
the convs sit at indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28 and are named `features_N`
here, so `features.N.weight` maps to `features_N/kernel`. Pools floor odd sides, as torch does.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# (torch index, output channels) of each conv, and the torch indices after which a 2x2 max pool runs.
VGG16_CONVS = ((0, 64), (2, 64), (5, 128), (7, 128), (10, 256), (12, 256), (14, 256),
               (17, 512), (19, 512), (21, 512), (24, 512), (26, 512), (28, 512))
_POOL_BEFORE = (5, 10, 17, 24)
# The ReLUs that end LPIPS's five slices: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
LPIPS_TAPS = (2, 7, 14, 21, 28)


class VGG16Features(nn.Module):
    """x (B, H, W, 3), already normalised -> [ReLU output after conv `t` for t in `taps`] (NHWC).

    Runs only as far as the last tap, as LPIPS does (torch index 30, the final pool, never runs).
    `precision` is that of the convolutions ("highest" keeps float32 on TF32-capable GPUs).
    """

    taps: tuple[int, ...] = LPIPS_TAPS
    precision: Any = "highest"

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        unknown = set(self.taps) - {i for i, _ in VGG16_CONVS}
        if unknown:
            raise ValueError(f"taps {sorted(unknown)} are not conv indices of VGG16 features")
        outputs = []
        for index, channels in VGG16_CONVS:
            if index > max(self.taps):
                break
            if index in _POOL_BEFORE:
                x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
            x = nn.Conv(channels, (3, 3), padding=((1, 1), (1, 1)), precision=self.precision,
                        name=f"features_{index}")(x)
            x = jax.nn.relu(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


def vgg16_feature_shapes(taps: tuple[int, ...] = LPIPS_TAPS) -> dict:
    """The parameter tree of `VGG16Features(taps)` as shape structs (no weights are made)."""
    x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    return jax.eval_shape(lambda a: VGG16Features(taps).init(jax.random.PRNGKey(0), a), x)["params"]
