"""Every solver under one jit with vmap over a batch of 4 and 2 seeds (tiny ADM), driver outputs,
the no-backprop guarantee of CoDPS, and DPS's batch-coupled compatibility flag."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import diffusion as D
from jaxinv.operators import make_operator
from numerics import assert_rounding_close
from jaxinv.solvers import (BATCH_AXIS, codps_plus_solver, codps_solver, ddim_solver, ddpm_solver, dps_solver, run,
                            sampling_xs)

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def tiny_model(fixtures_dir):
    from convert.adm import convert_state_dict
    from convert.torch_io import load_state_dict
    from jaxinv.models.adm import ADMUNet, resolve_config

    cfg = str(fixtures_dir / "adm" / "adm_tiny_a_config.json")
    params = convert_state_dict(load_state_dict(fixtures_dir / "adm" / "adm_tiny_a.pt"), cfg)
    return ADMUNet(resolve_config(cfg)), jax.tree_util.tree_map(jnp.asarray, params)


def make(kind, eps_model, y):
    sched = D.make_schedule(1000, "linear", "ddim3" if kind in ("ddim", "codps+") else "3")
    sr = make_operator("super_resolution", SHAPE, scale=4)
    csr = make_operator("codps_super_resolution", SHAPE, scale=4)
    solver = {
        "ddpm": lambda: ddpm_solver(eps_model, sched),
        "ddim": lambda: ddim_solver(eps_model, sched, eta=0.5),
        "dps": lambda: dps_solver(eps_model, sched, sr, y, scale=0.3),
        "codps": lambda: codps_solver(eps_model, sched, csr, y, 0.05, scale=0.05, inv_var=2.0),
        "codps+": lambda: codps_plus_solver(eps_model, sched, csr, y, 0.05, scale=0.05, inv_var=2.0),
    }[kind]()
    return sched, solver


@pytest.mark.parametrize("kind", ["ddpm", "ddim", "dps", "codps", "codps+"])
def test_jit_vmap_batch_and_seeds(tiny_model, kind):
    module, params = tiny_model
    x0 = jax.random.uniform(jax.random.PRNGKey(1), (4, *SHAPE), minval=-1, maxval=1)
    y = jax.vmap(make_operator("super_resolution" if kind == "dps" else "codps_super_resolution",
                               SHAPE, scale=4).forward)(x0)

    def one(params, key, y):
        eps_model = D.flax_eps_model(module, params)
        sched, solver = make(kind, eps_model, y)
        k1, k2 = jax.random.split(key)
        res = run(solver, jax.random.normal(k1, SHAPE), sampling_xs(sched, k2, SHAPE))
        return res["sample"], res["diagnostics"]

    batched = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0, 0)), in_axes=(None, 0, None)))
    keys = jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(s), 4))(jnp.arange(2))
    out, diag = batched(params, keys, y)
    assert out.shape == (2, 4, *SHAPE) and bool(jnp.isfinite(out).all())
    assert not np.allclose(out[0], out[1])  # different seeds, different samples
    assert not np.allclose(out[0, 0], out[0, 1])
    if kind in ("dps", "codps", "codps+"):
        rn = diag["residual_norm"]
        assert rn.shape == (2, 4, 3) and bool((rn[..., :2] > 0).all())
        if kind == "codps+":  # no guidance at t = 0
            assert bool((rn[..., 2] == 0).all())


def test_codps_does_not_backprop_through_the_network(tiny_model):
    module, params = tiny_model

    @jax.custom_vjp
    def guarded(x, t):
        return D.flax_eps_model(module, params)(x, t)

    def fwd(x, t):
        return guarded(x, t), None

    def bwd(_, g):
        raise AssertionError("backprop through the network")

    guarded.defvjp(fwd, bwd)
    x = jax.random.normal(jax.random.PRNGKey(0), SHAPE)
    y = jnp.zeros((8, 8, 3))
    for kind in ("codps", "codps+"):
        sched, solver = make(kind, guarded, y)
        jax.jit(lambda x: run(solver, x, sampling_xs(sched, jax.random.PRNGKey(1), SHAPE))["sample"]).lower(x)
    sched, solver = make("dps", guarded, y)  # positive control: DPS differentiates the network
    with pytest.raises(AssertionError, match="backprop through the network"):
        jax.jit(lambda x: run(solver, x, sampling_xs(sched, jax.random.PRNGKey(1), SHAPE))["sample"]).lower(x)


def _closed_form_dps(batch_norm, xs_T, ys, keys):
    eps_model = D.eps_model_from_denoiser(D.gaussian_denoiser(0.1, 0.4), D.base_alphas_cumprod())
    sched = D.make_schedule(1000, "linear", "8")
    op = make_operator("inpainting", (4, 4, 1), mask=np.eye(4))

    def one(x_T, y, key):
        # no clamp: the batched and the single program must compare as smooth maps (tests/numerics.py)
        solver = dps_solver(eps_model, sched, op, y, scale=0.5, var_type="fixed_small", clip_denoised=False,
                            batch_norm=batch_norm)
        return run(solver, x_T, sampling_xs(sched, key, (4, 4, 1)))["sample"]

    return jax.jit(jax.vmap(one, axis_name=BATCH_AXIS))(xs_T, ys, keys)


def test_dps_batch_norm_flag_couples_samples_like_the_code():
    xs_T = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 1))
    ys = jax.random.uniform(jax.random.PRNGKey(1), (2, 4, 4, 1))
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    per_sample = _closed_form_dps(False, xs_T, ys, keys)
    # per-sample guidance: each vmapped sample equals that sample run alone
    assert_rounding_close(_closed_form_dps(False, xs_T[1:], ys[1:], keys[1:])[0], per_sample[1], "vmapped vs alone")
    assert_rounding_close(_closed_form_dps(True, xs_T[:1], ys[:1], keys[:1]), per_sample[:1], "batch_norm at B = 1")
    coupled = _closed_form_dps(True, xs_T, ys, keys)
    assert np.abs(coupled - per_sample).max() > 1e-3


def test_trajectory_every_k_matches_truncated_runs():
    eps_model = D.eps_model_from_denoiser(D.gaussian_denoiser(0.0, 0.5), D.base_alphas_cumprod())
    sched = D.make_schedule(1000, "linear", "10")
    solver = ddpm_solver(eps_model, sched, "fixed_small", False)
    xs = sampling_xs(sched, jax.random.PRNGKey(0), (2, 2, 1))
    x_T = jnp.ones((2, 2, 1))
    res = run(solver, x_T, xs, trajectory_every=3)
    assert res["trajectory"].shape == (3, 2, 2, 1)
    for j, n in enumerate((3, 6, 9)):
        partial = run(solver, x_T, jax.tree_util.tree_map(lambda a: a[:n], xs))["sample"]
        np.testing.assert_allclose(res["trajectory"][j], partial, atol=1e-6)
    np.testing.assert_allclose(res["sample"], run(solver, x_T, xs)["sample"], atol=1e-6)


def test_recorded_noise_shape_is_checked():
    sched = D.make_schedule(1000, "linear", "10")
    with pytest.raises(ValueError, match="recorded noise must have shape"):
        sampling_xs(sched, jnp.zeros((9, 2, 2, 1)), (2, 2, 1))
