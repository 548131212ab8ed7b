"""VQ-Diffusion components against the recorded diffusers/transformers outputs in fixtures/vq/."""

import dataclasses
import importlib.util
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convert.clip_text import convert_clip_text
from convert.strict import ConversionError, flatten
from convert.torch_io import load_state_dict
from convert.vq_transformer import convert_vq_transformer
from jaxinv.diffusion import vq_scheduler
from jaxinv.models import clip_text, vq_transformer
from jaxinv.models.clip_text import CLIPTextConfig, CLIPTextModel
from jaxinv.models.vq_transformer import VQTransformer, VQTransformerConfig

TOL = 1e-4


@pytest.fixture(scope="module")
def vq(fixtures_dir):
    d = fixtures_dir / "vq"
    io = dict(np.load(d / "io.npz"))
    tr_cfg = VQTransformerConfig.from_diffusers(json.loads((d / "transformer_config.json").read_text()))
    te_cfg = CLIPTextConfig.from_transformers(json.loads((d / "text_encoder_config.json").read_text()))
    tr_sd = load_state_dict(d / "transformer.pt")
    te_sd = load_state_dict(d / "text_encoder.pt")
    return dict(dir=d, io=io, tr_cfg=tr_cfg, te_cfg=te_cfg, tr_sd=tr_sd, te_sd=te_sd,
                tr_params=convert_vq_transformer(tr_sd, tr_cfg), te_params=convert_clip_text(te_sd, te_cfg))


def test_clip_text_hidden_states_match_transformers(vq):
    out = CLIPTextModel(vq["te_cfg"]).apply({"params": vq["te_params"]}, jnp.asarray(vq["io"]["input_ids"]))
    np.testing.assert_allclose(np.asarray(out), vq["io"]["text_hidden"], atol=TOL, rtol=0)


def _log_probs(vq, z, t, text, dtype="float32"):
    cfg = dataclasses.replace(vq["tr_cfg"], dtype=dtype)
    return VQTransformer(cfg).apply({"params": vq["tr_params"]}, jnp.asarray(z), jnp.asarray(t), jnp.asarray(text))


def test_transformer_log_probs_match_diffusers(vq):
    io = vq["io"]
    out = _log_probs(vq, io["z"], io["t"], io["text_hidden"])
    assert out.shape == io["transformer_log_probs"].shape and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), io["transformer_log_probs"], atol=TOL, rtol=0)


def test_transformer_per_sample_timesteps(vq):
    io = vq["io"]
    t = int(io["t"])
    out = np.asarray(_log_probs(vq, io["z"], np.array([t, (t + 50) % 100]), io["text_hidden"]))
    np.testing.assert_allclose(out[0], io["transformer_log_probs"][0], atol=TOL, rtol=0)
    assert np.abs(out[1] - io["transformer_log_probs"][1]).max() > 1e-3  # another step, another output


def test_transformer_bfloat16_compute(vq):
    io = vq["io"]
    out = _log_probs(vq, io["z"], io["t"], io["text_hidden"], dtype="bfloat16")
    assert out.dtype == jnp.float32
    assert jax.tree_util.tree_all(jax.tree.map(lambda p: p.dtype == jnp.float32, vq["tr_params"]))
    np.testing.assert_allclose(np.asarray(out), io["transformer_log_probs"], atol=2e-2, rtol=0)
    np.testing.assert_allclose(np.exp(np.asarray(out)).sum(1), 1.0, atol=1e-5)


def test_schedule_arrays_match_diffusers(vq):
    schedule = vq_scheduler.make_vq_schedule(vq["tr_cfg"].num_vector_embeds)
    for name in ("log_at", "log_bt", "log_ct", "log_cumprod_at", "log_cumprod_bt", "log_cumprod_ct"):
        np.testing.assert_array_equal(np.asarray(getattr(schedule, name)), vq["io"][f"sched_{name}"], err_msg=name)


def test_ithq_schedule_values():
    """Values of diffusers' VQDiffusionScheduler(num_vec_classes=4097) (research note, section 3.4)."""
    s = vq_scheduler.make_vq_schedule(4097)
    assert s.log_at.shape == (100,) and s.log_cumprod_at.shape == (101,) and s.mask_class == 4096
    np.testing.assert_allclose(np.exp(np.asarray(s.log_cumprod_ct))[[0, 1, 2, 49, 99]],
                               [9e-6, 0.0101, 0.0202, 0.4949, 0.99999], rtol=2e-3)
    np.testing.assert_allclose(np.exp(np.asarray(s.log_ct))[[50, 98]], [0.0200, 0.5], rtol=3e-3)
    np.testing.assert_allclose(np.exp(np.asarray(s.log_cumprod_bt))[:100], 1e-6 / 4096, rtol=1e-3)
    assert np.asarray(s.log_cumprod_bt)[100] == -np.inf


def test_q_posterior_matches_diffusers(vq):
    io = vq["io"]
    schedule = vq_scheduler.make_vq_schedule(vq["tr_cfg"].num_vector_embeds)
    post = vq_scheduler.q_posterior(schedule, jnp.asarray(io["sched_log_p_x0"]), jnp.asarray(io["sched_x_t"]),
                                    jnp.asarray(io["t"]))
    np.testing.assert_allclose(np.asarray(post), io["sched_q_posterior"], atol=TOL, rtol=0)
    jitted = jax.jit(vq_scheduler.q_posterior)(schedule, io["sched_log_p_x0"], io["sched_x_t"], io["t"])
    np.testing.assert_allclose(np.asarray(jitted), io["sched_q_posterior"], atol=TOL, rtol=0)


def test_step_samples_the_recorded_posterior(vq):
    """Gumbel-max frequencies approach exp(q_posterior) of the original scheduler."""
    io = vq["io"]
    schedule = vq_scheduler.make_vq_schedule(vq["tr_cfg"].num_vector_embeds)
    lp, xt, t = (jnp.asarray(io[k]) for k in ("sched_log_p_x0", "sched_x_t", "t"))
    n = 4000
    draws = jax.jit(jax.vmap(lambda k: vq_scheduler.step(schedule, lp, t, xt, key=k)))(
        jax.random.split(jax.random.PRNGKey(0), n))
    ref = np.exp(io["sched_q_posterior"].astype(np.float64))
    ref /= ref.sum(1, keepdims=True)
    counts = np.stack([np.bincount(d, minlength=ref.shape[1]) for d in np.asarray(draws).reshape(n, -1).T])
    freq = counts.reshape(2, ref.shape[2], ref.shape[1]).transpose(0, 2, 1) / n
    assert np.abs(freq - ref).max() < 0.035
    # t = 0 samples from the model output (codes only): a one-hot prior is reproduced exactly.
    onehot = jnp.log(jnp.maximum(jax.nn.one_hot(xt % 32, 32, axis=1), 1e-30))
    z0 = vq_scheduler.step(schedule, onehot, jnp.asarray(0), xt, key=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(z0), np.asarray(xt % 32))


def test_truncate_hand_worked():
    p = np.array([0.15, 0.5, 0.05, 0.3], np.float32)
    lp = jnp.log(jnp.asarray(p))[None, :, None]
    out = np.asarray(vq_scheduler.truncate(lp, 0.8))[0, :, 0]
    # sorted: 0.5 (kept), 0.3 (cum before 0.5 < 0.8: kept), 0.15 (cum before 0.8, not < 0.8: dropped)
    np.testing.assert_array_equal(np.isfinite(out), [False, True, False, True])
    np.testing.assert_allclose(out[[1, 3]], np.log(p[[1, 3]]), rtol=1e-6)
    top_only = np.asarray(vq_scheduler.truncate(lp, 0.1))[0, :, 0]
    np.testing.assert_array_equal(np.isfinite(top_only), [False, True, False, False])
    # rate 1.0 is not a no-op: once the running sum reaches 1.0 (0.5 + 0.5) the tail is dropped
    tail = jnp.log(jnp.asarray([0.5, 1e-8, 0.5, 1e-8], jnp.float32))[None, :, None]
    np.testing.assert_array_equal(np.isfinite(np.asarray(vq_scheduler.truncate(tail, 1.0)))[0, :, 0],
                                  [True, False, True, False])


def test_converter_accepts_legacy_names_and_is_strict(vq):
    legacy = {k.replace("attn1.to_q", "attn1.query").replace("attn1.to_out.0", "attn1.proj_attn"): v
              for k, v in vq["tr_sd"].items()}
    params = convert_vq_transformer(legacy, vq["tr_cfg"])
    for path, leaf in flatten(params).items():
        np.testing.assert_array_equal(leaf, flatten(vq["tr_params"])[path])
    with pytest.raises(ConversionError, match="no mapping|does not have"):
        convert_vq_transformer({**vq["tr_sd"], "transformer_blocks.0.extra.weight": np.zeros((2, 2))}, vq["tr_cfg"])
    bad = dict(vq["tr_sd"])
    bad["out.weight"] = np.zeros((31, 16), np.float32)
    with pytest.raises(ConversionError, match="out.weight"):
        convert_vq_transformer(bad, vq["tr_cfg"])
    missing = dict(vq["tr_sd"])
    del missing["norm_out.bias"]
    with pytest.raises(ConversionError, match="missing"):
        convert_vq_transformer(missing, vq["tr_cfg"])
    te = {"text_model." + k: v for k, v in vq["te_sd"].items()}
    te["text_model.embeddings.position_ids"] = np.arange(77)[None]
    assert flatten(convert_clip_text(te, vq["te_cfg"])).keys() == flatten(vq["te_params"]).keys()


def _ithq_transformer_keys(layers=36, d=1408, text=512, codes=4096, steps=100, grid=32):
    """The diffusers key/shape listing of microsoft/vq-diffusion-ithq's transformer (diffusers 0.22.1)."""
    keys = {"latent_image_embedding.emb.weight": (codes + 1, d), "latent_image_embedding.height_emb.weight": (grid, d),
            "latent_image_embedding.width_emb.weight": (grid, d), "norm_out.weight": (d,), "norm_out.bias": (d,),
            "out.weight": (codes, d), "out.bias": (codes,)}
    for i in range(layers):
        b = f"transformer_blocks.{i}."
        for n in ("norm1", "norm2"):
            keys |= {b + n + ".emb.weight": (steps, d), b + n + ".linear.weight": (2 * d, d), b + n + ".linear.bias": (2 * d,)}
        for a, kv in (("attn1", d), ("attn2", text)):
            keys |= {b + a + ".to_q.weight": (d, d), b + a + ".to_k.weight": (d, kv), b + a + ".to_v.weight": (d, kv),
                     b + a + ".to_out.0.weight": (d, d)}
            keys |= {b + a + f".{p}.bias": (d,) for p in ("to_q", "to_k", "to_v", "to_out.0")}
        keys |= {b + "norm3.weight": (d,), b + "norm3.bias": (d,), b + "ff.net.0.proj.weight": (4 * d, d),
                 b + "ff.net.0.proj.bias": (4 * d,), b + "ff.net.2.weight": (d, 4 * d), b + "ff.net.2.bias": (d,)}
    return keys


def _ithq_clip_keys(layers=12, d=512, vocab=49408):
    keys = {"text_model.embeddings.token_embedding.weight": (vocab, d),
            "text_model.embeddings.position_embedding.weight": (77, d),
            "text_model.embeddings.position_ids": (1, 77),
            "text_model.final_layer_norm.weight": (d,), "text_model.final_layer_norm.bias": (d,)}
    for i in range(layers):
        b = f"text_model.encoder.layers.{i}."
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            keys |= {b + f"self_attn.{p}.weight": (d, d), b + f"self_attn.{p}.bias": (d,)}
        for n in ("layer_norm1", "layer_norm2"):
            keys |= {b + n + ".weight": (d,), b + n + ".bias": (d,)}
        keys |= {b + "mlp.fc1.weight": (4 * d, d), b + "mlp.fc1.bias": (4 * d,), b + "mlp.fc2.weight": (d, 4 * d),
                 b + "mlp.fc2.bias": (d,)}
    return keys


def _shape_only(keys):
    # zero-stride views: names and shapes of a full-size checkpoint without its memory
    return {k: np.broadcast_to(np.float32(0), s) for k, s in keys.items()}


def test_ithq_sized_trees_convert_completely():
    keys = _ithq_transformer_keys()
    assert len(keys) == 1015
    params = convert_vq_transformer(_shape_only(keys), vq_transformer.ITHQ_TRANSFORMER)
    expected = flatten(vq_transformer.init_shapes(vq_transformer.ITHQ_TRANSFORMER))
    got = flatten(params)
    assert got.keys() == expected.keys()
    assert all(got[p].shape == expected[p].shape for p in got)
    assert sum(int(np.prod(s.shape)) for s in expected.values()) == pytest.approx(1359.27e6, rel=1e-5)

    keys = _ithq_clip_keys()
    params = convert_clip_text(_shape_only(keys), clip_text.ITHQ_CLIP_TEXT)
    expected = flatten(clip_text.init_shapes(clip_text.ITHQ_CLIP_TEXT))
    assert flatten(params).keys() == expected.keys()
    assert sum(int(np.prod(s.shape)) for s in expected.values()) == pytest.approx(63.17e6, rel=1e-4)


def test_crosscheck_on_fixture_dir(fixtures_dir, capsys):
    from experiments.crosscheck.__main__ import main

    assert main(["vq", "--components", str(fixtures_dir / "vq")]) == 0
    out = capsys.readouterr().out
    err = float(out.strip().splitlines()[-1].split("=")[1])
    assert err < 1e-4
    assert "transformer_log_probs" in out and "text_hidden" in out and "sched_q_posterior" in out
    if importlib.util.find_spec("convert.vqvae") is not None:
        assert "decoded:" in out and "encoded:" in out


def _fake_pipeline(vq, root):
    """A diffusers pipeline folder from the fixture components, mixing .safetensors and .bin weights."""
    from safetensors.numpy import save_file

    from test_clip import write_vocab

    d, io = vq["dir"], vq["io"]
    for name in ("transformer", "text_encoder", "vqvae", "tokenizer", "scheduler",
                 "learned_classifier_free_sampling_embeddings"):
        (root / name).mkdir(parents=True)
    (root / "transformer" / "config.json").write_text((d / "transformer_config.json").read_text())
    save_file({k: np.ascontiguousarray(v) for k, v in vq["tr_sd"].items()},
              str(root / "transformer" / "diffusion_pytorch_model.safetensors"))
    (root / "text_encoder" / "config.json").write_text((d / "text_encoder_config.json").read_text())
    shutil.copy(d / "text_encoder.pt", root / "text_encoder" / "pytorch_model.bin")
    (root / "vqvae" / "config.json").write_text((d / "vqvae_config.json").read_text())
    shutil.copy(d / "vqvae.pt", root / "vqvae" / "diffusion_pytorch_model.bin")
    cf = root / "learned_classifier_free_sampling_embeddings"
    emb = np.random.default_rng(0).standard_normal((77, 24)).astype(np.float32)
    save_file({"embeddings": emb.astype(np.float16)}, str(cf / "diffusion_pytorch_model.fp16.safetensors"))
    (cf / "config.json").write_text(json.dumps({"learnable": True, "hidden_size": 24, "length": 77}))
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "VQDiffusionScheduler", "num_vec_classes": 33, "num_train_timesteps": 100}))
    write_vocab(root / "tokenizer")
    return emb


def test_pipeline_converter_round_trip(vq, tmp_path):
    pytest.importorskip("convert.vqvae")
    from convert.vq_diffusion import main
    from jaxinv.models.vq_diffusion import load_vq_diffusion

    io = vq["io"]
    emb = _fake_pipeline(vq, tmp_path / "pipe")
    out = tmp_path / "out"
    assert main(["--pipeline", str(tmp_path / "pipe"), "--output", str(out)]) == 0
    assert main(["--pipeline", str(tmp_path / "pipe"), "--output", str(out)]) == 2   # refuses to overwrite
    c = load_vq_diffusion(str(out))
    hidden = c.text_encoder.apply({"params": c.text_encoder_params}, jnp.asarray(io["input_ids"]))
    np.testing.assert_allclose(np.asarray(hidden), io["text_hidden"], atol=TOL, rtol=0)
    lp = c.transformer.apply({"params": c.transformer_params}, io["z"], io["t"], io["text_hidden"])
    np.testing.assert_allclose(np.asarray(lp), io["transformer_log_probs"], atol=TOL, rtol=0)
    img = c.vqvae.apply({"params": c.vqvae_params}, jnp.asarray(io["codes"].transpose(0, 2, 3, 1)),
                        force_not_quantize=True, method="decode")
    np.testing.assert_allclose(np.asarray(img).transpose(0, 3, 1, 2), io["decoded"], atol=TOL, rtol=0)
    np.testing.assert_allclose(c.learned_embeddings, emb, atol=2e-3, rtol=1e-3)  # stored as fp16
    np.testing.assert_array_equal(np.asarray(c.schedule.log_cumprod_ct), io["sched_log_cumprod_ct"])
    assert c.tokenizer.pad_id == 0 and c.tokenizer("the").shape == (1, 77)
