"""G2D2 against the original code: torch RAdam, the inner KL optimisation replay, and the sampler.

Measured on `g2d2/g2d2_inner_sr2`: optimised phi within 9.2e-5 (max abs) of sony/g2d2; per-iteration
total loss within 5.4e-7 and likelihood loss within 3.6e-7.
"""
import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from convert.torch_io import load_state_dict
from convert.vq_transformer import convert_vq_transformer
from convert.vqvae import convert_vqvae
from experiments.crosscheck import g2d2 as crosscheck
from jaxinv.diffusion.vq_scheduler import make_vq_schedule
from jaxinv.models.vq_transformer import VQTransformer, VQTransformerConfig
from jaxinv.models.vqvae import VQModel
from jaxinv.operators import make_operator
from jaxinv.solvers.g2d2 import (G2D2Settings, make_g2d2_sampler, remask_counts, settings_of, step_schedules,
                                 vq_transformer_prior, vqvae_decoders)
from jaxinv.solvers.g2d2_inner import kl_on_raw_logits, norm_likelihood, torch_radam


@pytest.mark.parametrize("lr,scale", [(0.1, 1.0), (10.0, 1e-7)])
def test_torch_radam_matches_torch_on_a_quadratic(lr, scale):
    # scale 1e-7 makes sqrt(v) comparable to eps, where torch's eps placement differs from optax's
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 3.0, 7).astype(np.float32) * scale
    x0 = rng.normal(size=7).astype(np.float32)
    p = torch.tensor(x0, requires_grad=True)
    opt = torch.optim.RAdam([p], lr=lr)
    ref = []
    for _ in range(30):
        opt.zero_grad()
        (0.5 * torch.sum(torch.tensor(a) * p**2)).backward()
        opt.step()
        ref.append(p.detach().numpy().copy())
    tx = torch_radam(lr)
    x, state = jnp.asarray(x0), tx.init(jnp.asarray(x0))
    ours = []
    for _ in range(30):
        upd, state = tx.update(jnp.asarray(a) * x, state)
        x = optax.apply_updates(x, upd)
        ours.append(np.asarray(x))
    np.testing.assert_allclose(np.stack(ours), np.stack(ref), atol=2e-6, rtol=2e-6)


def test_kl_gradient_is_that_of_the_raw_logit_form():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(5, 4)).astype(np.float32)
    prior = np.log(rng.dirichlet(np.ones(5), 4).T).astype(np.float32)
    tphi = torch.tensor(phi, requires_grad=True)
    q = torch.softmax(tphi, 0)
    (torch.sum(q * tphi) - torch.sum(q * torch.tensor(prior))).backward()
    g = jax.grad(kl_on_raw_logits)(jnp.asarray(phi), jnp.asarray(prior))
    np.testing.assert_allclose(np.asarray(g), tphi.grad.numpy(), atol=1e-6)


def test_inner_replay_matches_the_original(fixtures_dir, capsys):
    g = fixtures_dir / "g2d2"
    args = argparse.Namespace(fixture=str(g / "g2d2_inner_sr2.npz"), spec=str(g / "g2d2_inner_sr2.json"),
                              vqvae=str(fixtures_dir / "vq"), threshold=1e-3)
    err, threshold = crosscheck.run(args)
    assert err < threshold
    fixture = dict(np.load(g / "g2d2_inner_sr2.npz"))
    _, trace = crosscheck.replay(fixture, json.loads((g / "g2d2_inner_sr2.json").read_text()), str(fixtures_dir / "vq"))
    np.testing.assert_allclose(trace.total_loss[0], fixture["total_loss"], rtol=1e-5)
    np.testing.assert_allclose(trace.likelihood_loss[0], fixture["likelihood_loss"], rtol=1e-5)
    assert "likelihood_loss: worst" in capsys.readouterr().out


@pytest.fixture(scope="module")
def tiny(fixtures_dir):
    d = fixtures_dir / "vq"
    vq_cfg = json.loads((d / "vqvae_config.json").read_text())
    tr_cfg = json.loads((d / "transformer_config.json").read_text())
    vq = VQModel.from_diffusers(vq_cfg)
    vq_params = convert_vqvae(load_state_dict(str(d / "vqvae.pt")), vq_cfg)
    tr = VQTransformer(VQTransformerConfig.from_diffusers(tr_cfg))
    tr_params = convert_vq_transformer(load_state_dict(str(d / "transformer.pt")), tr_cfg)
    return vq, vq_params, tr, tr_params


def test_relaxed_decoder_gradient_matches_finite_differences(tiny):
    # float32 gradient (as the sampler uses it) against float64 central differences
    vq, params, _, _ = tiny
    op = make_operator("super_resolution", (16, 16, 3), scale=2)
    rng = np.random.default_rng(2)
    y = rng.normal(size=(8, 8, 3))
    phi = rng.normal(size=(32, 64))
    direction = rng.normal(size=(32, 64))
    direction /= np.linalg.norm(direction)

    def objective(p, y):
        decode_weights, _ = vqvae_decoders(vq, p, (8, 8))
        lik = norm_likelihood(op, y)
        return lambda phi: lik(decode_weights(jax.nn.softmax(phi, axis=0)))

    grad = jax.jit(jax.grad(objective(params, jnp.asarray(y, jnp.float32))))(jnp.asarray(phi, jnp.float32))
    with jax.enable_x64(True):
        f = jax.jit(objective(jax.tree.map(lambda a: np.asarray(a, np.float64), params), jnp.asarray(y)))
        h = 1e-3
        fd = float((f(jnp.asarray(phi + h * direction)) - f(jnp.asarray(phi - h * direction))) / (2 * h))
    assert abs(float(np.vdot(np.asarray(grad, np.float64), direction)) - fd) < 1e-4 * abs(fd)


def test_presets_and_schedules_follow_the_code():
    from configs.g2d2 import gblur_imagenet, sr_ffhq

    lr, kl = step_schedules(settings_of(gblur_imagenet.get_config()))
    np.testing.assert_allclose([lr[0], lr[-1], kl[0], kl[-1]], [47.434, 4.7434, 3e-3, 3e-5], rtol=1e-4)
    assert sr_ffhq.get_config().solver.g2d2.guidance_scale == 1.0
    counts = remask_counts(make_vq_schedule(4097), np.array([99, 75, 50, 25, 1, 0]), 1024)
    np.testing.assert_array_equal(counts, [1013, 765, 506, 248, 0, 0])


@pytest.mark.parametrize("posterior", ["diffusion", "decouple_random"])
def test_guidance_lowers_the_measurement_residual(tiny, posterior):
    # noise-free y of a random token image; unguided (lr 0) samples the transformer prior only.
    # RAdam needs more than 5 iterations per step to leave its unrectified (lr * m_hat) phase.
    vq, vq_params, tr, tr_params = tiny
    decode_weights, decode_tokens = vqvae_decoders(vq, vq_params, (8, 8))
    op = make_operator("super_resolution", (16, 16, 3), scale=2)
    rng = np.random.default_rng(3)
    y = op.forward(decode_tokens(jnp.asarray(rng.integers(0, 32, 64))))
    cond = tuple(jnp.asarray(rng.normal(size=(2, 77, 24)), jnp.float32))
    prior = vq_transformer_prior(tr, tr_params, guidance_scale=5.0)
    schedule = make_vq_schedule(33)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)

    s = G2D2Settings(num_steps=3, num_inner=10, lr=5.0, lr_width=1.0, posterior=posterior)
    sample = make_g2d2_sampler(prior, decode_weights, decode_tokens, lambda y: norm_likelihood(op, y), schedule, s, 64)
    per_key = jax.vmap(sample, in_axes=(None, 0, None, None))
    images, tokens, _ = jax.jit(jax.vmap(per_key, in_axes=(None, None, None, 0)))(y, keys, cond, jnp.array([1.0, 0.0]))
    assert tokens.shape == (2, 2, 64) and int(tokens.max()) < 32  # every token unmasked at the end
    guided, unguided = np.asarray(jax.vmap(jax.vmap(norm_likelihood(op, y)))(images))
    # measured ratios 0.71 (diffusion) and 0.68 (decouple_random); the samples' spread (+-0.04) is far
    # below the gap, so a token that rounds the other way on another machine cannot close it
    assert guided.mean() < 0.85 * unguided.mean(), (guided, unguided)
