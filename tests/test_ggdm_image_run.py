"""experiments.ggdm_image on a tiny random ADM: the CSV equals rewards and ε-MSEs recomputed from the
saved samples, the seed vmap is traced once and equals per-seed sampling, zero guidance reproduces
the unguided chain, the naive ascent is the closed-form colour shift, and bad input is refused."""
from __future__ import annotations

import csv
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.ggdm.image_base import image_config
from experiments import ggdm_image
from jaxinv.checkpoint import save_params
from jaxinv.diffusion.denoisers import base_alphas_cumprod
from jaxinv.diffusion.schedules import space_timesteps
from jaxinv.models.adm import ADMConfig, ADMUNet
from jaxinv.reward.image_guidance import ddpm_arrays, unguided_sample
from jaxinv.reward.image_rewards import make_image_reward

TINY = ADMConfig(image_size=32, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=False,
                 attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True)
SIZE, STEPS = 8, 3


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    params = jax.jit(ADMUNet(TINY).init)(jax.random.PRNGKey(3), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,)))["params"]
    return save_params(tmp_path_factory.mktemp("prior") / "tiny", params, TINY.to_dict())


def _config(prior, root, **kw):
    c = image_config()
    c.prior_dir, c.output.root, c.image_size, c.sampling_steps = str(prior), str(root), SIZE, STEPS
    c.batch, c.seeds, c.rounds, c.timing.extra = 2, (5, 6), 2, ()
    c.onprior.timesteps, c.naive.steps, c.naive.lr = (10, 400), 50, 3.0
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def gloss_run(tiny_prior, tmp_path_factory):
    c = _config(tiny_prior, tmp_path_factory.mktemp("runs"), delta=0.2, sigma=0.02)
    return c, *ggdm_image.execute(c, progress=False)


def test_csv_matches_the_saved_samples(gloss_run, tiny_prior):
    c, run_dir, summary = gloss_run
    samples = np.load(os.path.join(run_dir, "samples.npz"))["samples"]
    assert samples.shape == (3, 2, 2, SIZE, SIZE, 3)                # (rounds + 1, seeds, batch, H, W, C)
    rows = _csv(os.path.join(run_dir, "rounds.csv"))
    red = samples[..., 0].mean(axis=(-1, -2))                       # channel_mean(0) of every image
    np.testing.assert_allclose([float(r["reward_mean"]) for r in rows], red.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([float(r["reward_std"]) for r in rows], red.std(axis=(1, 2)), rtol=1e-4, atol=1e-6)
    assert summary["final_reward"] == pytest.approx(float(red[-1].mean()), rel=1e-5, abs=1e-6)
    assert ggdm_image.final_line(summary).startswith(f"final_reward={summary['final_reward']:.6g} ")
    # ε-MSE of the prior on re-noised samples, recomputed with the network directly
    eps_fn, params, _ = ggdm_image.load_prior(str(tiny_prior), SIZE)
    abar = base_alphas_cumprod(1000)
    x = jnp.asarray(samples[-1].reshape((-1, SIZE, SIZE, 3)))
    n = jax.random.normal(jax.random.PRNGKey(c.onprior.seed), x.shape)
    for t in c.onprior.timesteps:
        xt = np.sqrt(abar[t]) * x + np.sqrt(1 - abar[t]) * n
        mse = float(jnp.mean((eps_fn(params, xt, jnp.full((4,), t)) - n) ** 2))
        assert float(rows[-1][f"eps_mse_t{t}"]) == pytest.approx(mse, rel=1e-4)
    sat = float(np.mean(np.abs(samples[-1]) > 1))
    assert float(rows[-1]["saturation"]) == pytest.approx(sat, abs=1e-7)
    for name in ("reward.png", "round_0.png", "round_2.png", "naive_ascent.png", "onprior.csv", "summary.json"):
        assert os.path.isfile(os.path.join(run_dir, name))


def test_seed_vmap_is_one_compilation_and_equals_per_seed_sampling(gloss_run, tiny_prior):
    c, run_dir, summary = gloss_run
    assert summary["traces"] == {"unguided": 1, "v2": 1}            # 2 seeds, 2 guided rounds: one trace each
    samples = np.load(os.path.join(run_dir, "samples.npz"))["samples"]
    eps_fn, params, _ = ggdm_image.load_prior(str(tiny_prior), SIZE)
    arrays = ddpm_arrays(base_alphas_cumprod(1000), space_timesteps(1000, str(STEPS)))
    for j, seed in enumerate(c.seeds):
        k1, k2 = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0))
        x_T, noises = jax.random.normal(k1, (2, SIZE, SIZE, 3)), jax.random.normal(k2, (STEPS, 2, SIZE, SIZE, 3))
        z = unguided_sample(lambda x, t: eps_fn(params, x, t), arrays, x_T, noises, clip_denoised=True)
        # float rounding only: batched and per-seed matmuls round differently, and 40 steps amplify it
        np.testing.assert_allclose(samples[0, j], np.asarray(z), atol=1e-4)
    assert not np.allclose(samples[0, 0], samples[0, 1])
    tm = summary["timing"]
    assert len(tm["v2"]["call_s"]) == c.rounds and tm["v2"]["compile_s"] > 0
    assert summary["guided_over_unguided_time"] == pytest.approx(tm["v2"]["per_image_s"] / tm["unguided"]["per_image_s"])


def test_naive_ascent_is_the_closed_form_colour_shift(gloss_run):
    c, run_dir, summary = gloss_run
    data = np.load(os.path.join(run_dir, "samples.npz"))
    z0 = data["samples"][0]
    red0 = float(z0[..., 0].mean())
    # ∇ channel_mean(0) = 1/(HW) on the red channel: k steps shift red by k·lr/(HW), nothing else
    shift = c.naive.lr / SIZE ** 2
    naive, k = ggdm_image.naive_baseline(make_image_reward("channel_mean", 0), z0, red0 + 17.3 * shift,
                                         c.naive.lr, c.naive.steps)
    assert k == 17
    expected = z0.copy()
    expected[..., 0] += 17 * shift
    np.testing.assert_allclose(naive, expected, atol=1e-5)
    # the run's baseline is the same construction, matched to its last guided round
    k = summary["naive_ascent"]["ascent_steps"]
    assert k == int(np.argmin(np.abs(red0 + np.arange(c.naive.steps + 1) * shift - summary["final_reward"])))
    expected = z0.copy()
    expected[..., 0] += k * shift
    np.testing.assert_allclose(data["naive"], expected, atol=1e-5)
    rows = {r["samples"]: r for r in _csv(os.path.join(run_dir, "onprior.csv"))}
    assert float(rows["naive_ascent"]["reward_mean"]) == pytest.approx(float(data["naive"][..., 0].mean()), abs=1e-5)


@pytest.mark.parametrize("scheme,overrides", [("fixed_target", dict(strength=0.0, target=3.0)),
                                              ("iterative", dict(beta_coef=0.0, version="v2", delta=0.5)),
                                              ("iterative", dict(beta_coef=0.0, version="v1", delta=0.5))])
def test_zero_guidance_reproduces_the_unguided_chain(tiny_prior, tmp_path, scheme, overrides):
    # δ = 0 alone is not zero guidance for G_loss (it still pulls ⟨g, x̂₀⟩ to ⟨g, z⟩); β-coefficient 0 is
    c = _config(tiny_prior, tmp_path, scheme=scheme, **overrides)
    _, summary = ggdm_image.execute(c, progress=False)
    samples = np.load(os.path.join(tmp_path, c.name, os.listdir(os.path.join(tmp_path, c.name))[0],
                                   "samples.npz"))["samples"]
    for k in (1, 2):     # same x_T and noise every round (reuse_noise)
        np.testing.assert_allclose(samples[k], samples[0], atol=1e-6)


def test_bad_input_is_refused(tiny_prior, tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m experiments.train --config configs/train/demo.py"):
        ggdm_image.execute(_config(tmp_path / "missing", tmp_path), progress=False)
    bad_reward = _config(tiny_prior, tmp_path)
    bad_reward.reward.name = "aesthetic"
    with pytest.raises(ValueError, match="unknown image reward 'aesthetic'"):
        ggdm_image.execute(bad_reward, progress=False)
    with pytest.raises(ValueError, match="unknown guidance version 'v3'"):
        ggdm_image.execute(_config(tiny_prior, tmp_path, version="v3"), progress=False)
    with pytest.raises(ValueError, match="unknown scheme"):
        ggdm_image.execute(_config(tiny_prior, tmp_path, scheme="alg2"), progress=False)
    assert not os.path.exists(os.path.join(tmp_path, "ggdm_image"))   # refused before any run directory
