"""The bench's host-loop diagnostic computes the same samples as the lax.scan sampler."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.presets import preset
from experiments.bench import jax_side
from jaxinv.models.adm import ADMConfig, ADMUNet

TINY = ADMConfig(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=True,
                 attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True, resblock_updown=True)


@pytest.mark.parametrize("solver,respacing", [("dps", "3"), ("codps_plus", "ddim3")])
def test_host_loop_equals_scan(solver, respacing):
    module = ADMUNet(TINY)
    params = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,)))["params"]
    config = preset("ffhq", solver, "sr4")
    config.data.image_size, config.diffusion.respacing = 32, respacing
    operator, y, keys, op_axis = jax_side.make_batch(config, 2)
    scan = jax_side.sampler(config, module, op_axis)(params, operator, y, keys)
    host = jax_side.host_loop_sampler(config, module, op_axis)(params, operator, y, keys)
    np.testing.assert_allclose(np.asarray(host), np.asarray(scan), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="DDPM-family"):
        jax_side.host_loop_sampler(preset("ffhq", "spgd", "sr4"), module, op_axis)
