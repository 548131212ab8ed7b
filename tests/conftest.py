import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = pathlib.Path(os.environ.get("JAXINV_FIXTURES", ROOT.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> pathlib.Path:
    """The original code's reference outputs (`../shared/fixtures`, or $JAXINV_FIXTURES)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"reference fixtures not found at {FIXTURES} (set JAXINV_FIXTURES)")
    return FIXTURES


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A converted-checkpoint directory of a tiny random 32x32 ADM UNet (learned variance, no attention)."""
    import jax
    import jax.numpy as jnp

    from jaxinv.checkpoint import save_params
    from jaxinv.models.adm import ADMConfig, ADMUNet

    tiny = ADMConfig(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=True,
                     attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True, resblock_updown=True)
    params = jax.jit(ADMUNet(tiny).init)(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,)))["params"]
    return save_params(tmp_path_factory.mktemp("adm") / "tiny", params, tiny.to_dict())
