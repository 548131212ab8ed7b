"""VQ-VAE (diffusers VQModel) against the original's outputs (`fixtures/vq/io.npz`).

Measured: decode (force_not_quantize) 2.1e-7, encode 1.5e-7 max abs error (float32).
"""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convert.strict import ConversionError
from convert.torch_io import load_state_dict
from convert.vqvae import convert_vqvae
from jaxinv.models.vqvae import ITHQ_VQVAE, VQModel, init_shapes


@pytest.fixture(scope="module")
def vq(fixtures_dir):
    d = fixtures_dir / "vq"
    cfg = json.loads((d / "vqvae_config.json").read_text())
    sd = load_state_dict(str(d / "vqvae.pt"))
    return cfg, sd, convert_vqvae(sd, cfg), VQModel.from_diffusers(cfg), dict(np.load(d / "io.npz"))


def nhwc(a):
    return jnp.asarray(np.transpose(a, (0, 2, 3, 1)))


def nchw(a):
    return np.transpose(np.asarray(a), (0, 3, 1, 2))


def test_decode_and_encode_match_diffusers(vq):
    _, _, params, model, io = vq
    decoded = model.apply({"params": params}, nhwc(io["codes"]), force_not_quantize=True, method="decode")
    encoded = model.apply({"params": params}, nhwc(io["image"]), method="encode")
    np.testing.assert_allclose(nchw(decoded), io["decoded"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(nchw(encoded), io["encoded"], atol=1e-4, rtol=0)


def test_quantize_is_nearest_code_and_soft_decode_of_one_hot_equals_hard_decode(vq):
    _, sd, params, model, io = vq
    z = nhwc(io["encoded"])
    codebook = np.asarray(sd["quantize.embedding.weight"], np.float64)
    dist = ((np.asarray(z, np.float64)[..., None, :] - codebook) ** 2).sum(-1)
    zq, idx = model.apply({"params": params}, z, method="quantize")
    # the nearest code up to float32 rounding of the distances (a near-tie may pick either code)
    chosen = np.take_along_axis(dist, np.asarray(idx)[..., None], -1)[..., 0]
    assert (chosen <= dist.min(-1) * (1 + 1e-5) + 1e-6).all()
    np.testing.assert_allclose(np.asarray(zq), codebook[np.asarray(idx)], atol=1e-6)
    hard = model.apply({"params": params}, z, method="decode")
    soft = model.apply({"params": params}, jax.nn.one_hot(idx, codebook.shape[0]), method="decode_code_weights")
    np.testing.assert_allclose(np.asarray(soft), np.asarray(hard), atol=1e-5)


def test_legacy_attention_names_give_the_same_params(vq):
    cfg, sd, params, _, _ = vq
    legacy = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    renamed = {}
    for k, v in sd.items():
        for new, old in legacy.items():
            if f".attentions.0.{new}." in k or f".attentions.1.{new}." in k:
                k = k.replace(f".{new}.", f".{old}.")
        renamed[k] = v
    assert any(".proj_attn." in k for k in renamed)
    out = convert_vqvae(renamed, cfg)
    jax.tree.map(np.testing.assert_array_equal, out, params)


@pytest.mark.parametrize("damage", ["missing", "extra", "shape"])
def test_converter_is_strict_and_names_the_key(vq, damage):
    cfg, sd, _, _, _ = vq
    sd = dict(sd)
    key = "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"
    if damage == "missing":
        del sd[key]
        expected = "decoder/up_blocks_1_resnets_0/conv_shortcut/kernel"
    elif damage == "extra":
        key = expected = "decoder.up_blocks.1.resnets.0.conv3.weight"
        sd[key] = np.zeros((3, 3, 3, 3), np.float32)
    else:
        sd[key] = np.zeros((32, 64, 3, 3), np.float32)
        expected = key
    with pytest.raises(ConversionError, match=expected.replace(".", r"\.")):
        convert_vqvae(sd, cfg)


def test_unsupported_config_is_refused(vq):
    cfg = dict(vq[0], norm_type="spatial")
    with pytest.raises(ValueError, match="norm_type"):
        VQModel.from_diffusers(cfg)


def test_ithq_preset_has_the_checkpoint_layout():
    # microsoft/vq-diffusion-ithq vqvae: 303 tensors, 64.01 M parameters, decoder 37.69 M (diffusers 0.22.1)
    shapes = init_shapes(ITHQ_VQVAE)
    leaves = jax.tree.leaves(shapes)
    assert len(leaves) == 303
    assert abs(sum(int(np.prod(x.shape)) for x in leaves) / 1e6 - 64.01) < 0.01
    assert abs(sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["decoder"])) / 1e6 - 37.69) < 0.01
    assert shapes["quantize_embedding"].shape == (4096, 128)
    assert shapes["decoder"]["up_blocks_1_resnets_0"]["conv_shortcut"]["kernel"].shape == (1, 1, 512, 256)
