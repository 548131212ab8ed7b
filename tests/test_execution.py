"""jaxinv.execution: the host step loop computes the scan's samples and diagnostics, for every solver family."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.presets import preset
from jaxinv import build
from jaxinv.execution import batch_sampler, resolve_loop
from jaxinv.models.adm import ADMConfig, ADMUNet
from numerics import assert_rounding_close

TINY = ADMConfig(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=True,
                 attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True, resblock_updown=True)


@pytest.fixture(scope="module")
def model():
    module = ADMUNet(TINY)
    params = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,)))["params"]
    return module, params


def _config(solver, task):
    config = preset("ffhq", solver, task)
    config.data.image_size = 32
    if solver == "spgd":
        config.annealing.num_steps, config.solver.num_inner = 3, 2
    else:
        config.diffusion.respacing = "ddim3" if solver == "codps_plus" else "3"
    config.diffusion.clip_denoised = solver != "dps"    # smooth maps only: tests/numerics.py
    if task == "inpaint_box":
        config.operator.params.mask_len_range, config.operator.params.margin = (8, 12), (2, 2)
    return config


@pytest.mark.parametrize("solver,task", [("dps", "sr4"), ("codps_plus", "sr4"), ("spgd", "sr4"),
                                         ("dps", "inpaint_box")])
def test_host_loop_equals_scan(model, solver, task):
    module, params = model
    config = _config(solver, task)
    operators = build.OperatorSource(config)
    operator = operators.batch([0, 1])
    op_axis = 0 if operators.per_image else None
    assert operators.per_image == (task == "inpaint_box")
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 32, 3), minval=-1, maxval=1)
    y = jax.vmap(lambda op, x: op.forward(x), in_axes=(op_axis, 0))(operator, x)
    keys = jax.random.split(jax.random.PRNGKey(2), 4).reshape(2, 2, 2)   # B = 2 images, K = 2 samples
    scan = batch_sampler(config, module, op_axis, "scan")(params, operator, y, keys)
    host = batch_sampler(config, module, op_axis, "host")(params, operator, y, keys)
    assert host["sample"].shape == scan["sample"].shape == (2, 2, 32, 32, 3)
    assert_rounding_close(host["sample"], scan["sample"], "host loop vs scan")
    assert jax.tree.structure(host["diagnostics"]) == jax.tree.structure(scan["diagnostics"])
    for h, s in zip(jax.tree.leaves(host["diagnostics"]), jax.tree.leaves(scan["diagnostics"])):
        assert h.shape == s.shape and h.shape[:3] == (2, 2, 3)
        assert_rounding_close(h, s, "host loop vs scan diagnostics")
    # the two samples of one image differ (their keys do), so K is not a broadcast
    assert not np.allclose(np.asarray(host["sample"][:, 0]), np.asarray(host["sample"][:, 1]))


def test_resolve_loop():
    assert resolve_loop("auto", "cpu") == "host" and resolve_loop("auto", "gpu") == "scan"
    assert resolve_loop("scan", "cpu") == "scan" and resolve_loop("host", "tpu") == "host"
    with pytest.raises(ValueError, match="execution.loop 'while'"):
        resolve_loop("while")
