"""The Flax ADM UNet and its converter against guided-diffusion's recorded outputs and real key manifests."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convert.adm import convert_checkpoint, convert_state_dict
from convert.strict import ConversionError, flatten
from convert.torch_io import load_state_dict
from jaxinv.models.adm import PRESETS, ADMConfig, ADMUNet, init_shapes, load_adm, resolve_config
from jaxinv.models.adm_layers import timestep_embedding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_a(fixtures_dir):
    base = fixtures_dir / "adm" / "adm_tiny_a"
    config = ADMConfig.from_json(f"{base}_config.json")
    state_dict = load_state_dict(f"{base}.pt")
    io = dict(np.load(f"{base}_io.npz"))
    x = np.transpose(io["x"], (0, 2, 3, 1))
    expected = np.transpose(io["out"], (0, 2, 3, 1))
    return dict(base=base, config=config, state_dict=state_dict, params=convert_state_dict(state_dict, config),
                x=x, t=io["t"].astype(np.float32), expected=expected, apply=jax.jit(ADMUNet(config).apply))


def small_model(**overrides):
    """A random-weight UNet with every res-block option on, small enough to compile in seconds."""
    config = ADMConfig(**dict(dict(image_size=8, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                                   attention_resolutions="4", num_head_channels=16, use_scale_shift_norm=True,
                                   resblock_updown=True), **overrides))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    t = jnp.array([10.0, 500.0])
    rng = np.random.default_rng(0)  # numpy weights: a jitted random init costs far more to compile
    params = jax.tree_util.tree_map(lambda s: 0.2 * rng.standard_normal(s.shape, np.float32), init_shapes(config))
    return config, params, x, t


@pytest.mark.parametrize("name", ["adm_tiny_a", "adm_tiny_b"])
def test_crosscheck_matches_original(fixtures_dir, capsys, name):
    from experiments.crosscheck.__main__ import main

    base = fixtures_dir / "adm" / name
    rc = main(["adm", "--checkpoint", f"{base}.pt", "--model-config", f"{base}_config.json", "--io", f"{base}_io.npz"])
    lines = capsys.readouterr().out.strip().splitlines()
    err = float(lines[-1].removeprefix("max_abs_err="))
    assert rc == 0
    # Measured 5.4e-7 (a) and 4.8e-7 (b) with max|out| 0.43 / 0.32: float32 round-off.
    assert err < 2e-6


@pytest.mark.parametrize("manifest, preset, params_m", [
    ("ffhq_10m_manifest.json", "ffhq_10m", 93.56),
    ("256x256_diffusion_uncond_manifest.json", "imagenet_256_uncond", 552.81),
])
def test_real_checkpoint_layouts_convert(fixtures_dir, manifest, preset, params_m):
    shapes = json.loads((fixtures_dir / "adm" / manifest).read_text())
    zero = np.zeros((), np.float32)
    state_dict = {k: np.broadcast_to(zero, s) for k, s in shapes.items()}  # views: no memory
    params = convert_state_dict(state_dict, preset)
    config = PRESETS[preset]
    x = jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)
    t = jax.ShapeDtypeStruct((1,), jnp.float32)
    expected = jax.eval_shape(ADMUNet(config).init, jax.ShapeDtypeStruct((2,), jnp.uint32), x, t)["params"]
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(expected)
    got = {p: np.shape(v) for p, v in flatten(params).items()}
    assert got == {p: v.shape for p, v in flatten(expected).items()}
    assert len(got) == len(shapes)
    assert sum(math.prod(s) for s in got.values()) / 1e6 == pytest.approx(params_m, abs=0.01)


def test_corrupted_state_dicts_fail_naming_the_key(tiny_a):
    sd = tiny_a["state_dict"]
    missing = {k: v for k, v in sd.items() if k != "middle_block.1.qkv.weight"}
    with pytest.raises(ConversionError, match=r"middle_block_1/qkv/kernel"):
        convert_state_dict(missing, tiny_a["config"])
    extra = dict(sd, **{"output_blocks.9.0.in_layers.0.weight": np.ones(32, np.float32)})
    with pytest.raises(ConversionError, match=r"output_blocks\.9\.0\.in_layers\.0\.weight"):
        convert_state_dict(extra, tiny_a["config"])
    wrong = dict(sd, **{"input_blocks.1.0.out_layers.3.weight": np.ones((32, 32, 1, 1), np.float32)})
    with pytest.raises(ConversionError, match=r"input_blocks\.1\.0\.out_layers\.3\.weight"):
        convert_state_dict(wrong, tiny_a["config"])
    # The tiny_a checkpoint does not fit tiny_b's architecture.
    with pytest.raises(ConversionError, match="does not match"):
        convert_state_dict(sd, str(tiny_a["base"]).replace("_a", "_b") + "_config.json")


def test_round_trip_through_saved_checkpoint(tiny_a, tmp_path):
    dest = tmp_path / "adm"
    from convert.adm import main

    assert main(["--checkpoint", f"{tiny_a['base']}.pt", "--model-config", f"{tiny_a['base']}_config.json",
                 "--output", str(dest)]) == 0
    with pytest.raises(FileExistsError):
        convert_checkpoint(f"{tiny_a['base']}.pt", tiny_a["config"], dest)
    module, params = load_adm(dest)
    assert module == ADMUNet(tiny_a["config"])
    out = tiny_a["apply"]({"params": params}, tiny_a["x"], tiny_a["t"])
    np.testing.assert_allclose(out, tiny_a["expected"], atol=2e-6)
    # Loading needs no torch.
    code = ("import sys; from jaxinv.models.adm import load_adm; load_adm(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code, str(dest)], check=True, cwd=ROOT,
                   env=dict(os.environ, JAX_PLATFORMS="cpu"))


def test_corrupt_checkpoint_is_refused_naming_its_torch_keys(tiny_a, tmp_path):
    """One key missing, one unknown, one misshaped: exit status 2, one message naming all three torch
    keys with their Flax targets, no traceback, nothing written."""
    import torch

    sd = {k: torch.from_numpy(np.array(v)) for k, v in tiny_a["state_dict"].items()}
    missing, misshaped = "out.2.bias", "input_blocks.1.0.out_layers.3.weight"
    del sd[missing]
    sd[misshaped] = torch.zeros(sd[misshaped].shape[:2] + (1, 1))
    sd["input_blocks.1.0.extra.weight"] = torch.zeros(4)
    torch.save(sd, tmp_path / "corrupt.pt")
    out = tmp_path / "converted"
    proc = subprocess.run([sys.executable, "-m", "convert.adm", "--checkpoint", str(tmp_path / "corrupt.pt"),
                           "--model-config", f"{tiny_a['base']}_config.json", "--output", str(out)],
                          cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
    assert f"{missing} -> out_2/bias" in proc.stderr
    assert f"{misshaped} (32, 32, 1, 1) -> input_blocks_1_0/out_layers_3/kernel expects (3, 3, 32, 32)" in proc.stderr
    assert "input_blocks.1.0.extra.weight -> input_blocks_1_0/extra/scale" in proc.stderr
    assert not out.exists()


def test_missing_keys_are_named_as_the_torch_keys_they_come_from(tiny_a):
    """`default_torch_key` inverts the ADM rule on every key of a real checkpoint."""
    from convert.adm import flax_rule
    from convert.strict import default_torch_key

    for key, value in tiny_a["state_dict"].items():
        assert default_torch_key(flax_rule(key, value)[0]) == key


def test_bfloat16_policy_and_remat(tiny_a):
    x, t, expected = tiny_a["x"], tiny_a["t"], tiny_a["expected"]
    params = tiny_a["params"]
    out_bf16 = jax.jit(ADMUNet(tiny_a["config"], dtype="bfloat16").apply)({"params": params}, x, t)
    assert out_bf16.dtype == jnp.float32
    # Measured 1.5e-3 with max|out| 0.43 (bfloat16 has an 8-bit mantissa).
    assert float(jnp.max(jnp.abs(out_bf16 - expected))) < 1e-2 * np.abs(expected).max()


def test_remat_gives_the_same_values_and_gradients():
    config, params, x, t = small_model()

    def loss(module, xx):
        return jnp.sum(module.apply({"params": params}, xx, t) ** 2)

    plain, remat = ADMUNet(config), ADMUNet(config, remat=True)
    l_plain, g_plain = jax.jit(jax.value_and_grad(lambda xx: loss(plain, xx)))(x)
    l_remat, g_remat = jax.jit(jax.value_and_grad(lambda xx: loss(remat, xx)))(x)
    assert float(jnp.max(jnp.abs(g_plain))) > 0
    # Recomputation changes XLA's fusion, hence float32 round-off (measured 4e-6 on gradients of size ~1).
    np.testing.assert_allclose(l_remat, l_plain, rtol=1e-5)
    np.testing.assert_allclose(g_remat, g_plain, atol=2e-5 * float(jnp.max(jnp.abs(g_plain))))


def test_fractional_timesteps(tiny_a):
    t = np.array([3.25, 870.5], np.float32)
    emb = np.asarray(timestep_embedding(t, 33))
    half = 16
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    ref = np.concatenate([np.cos(t[:, None] * freqs), np.sin(t[:, None] * freqs), np.zeros((2, 1))], axis=1)
    np.testing.assert_allclose(emb, ref, atol=2e-4)  # float32 arguments up to 870
    apply = tiny_a["apply"]
    out_float = apply({"params": tiny_a["params"]}, tiny_a["x"], tiny_a["t"])  # recorded with int steps
    np.testing.assert_allclose(out_float, tiny_a["expected"], atol=2e-6)
    out_frac = apply({"params": tiny_a["params"]}, tiny_a["x"], t)
    assert np.all(np.isfinite(out_frac)) and not np.allclose(out_frac, out_float, atol=1e-4)


def test_dropout_is_off_when_deterministic_and_follows_the_rng():
    config, params, x, t = small_model(dropout=0.5)
    no_dropout = ADMUNet(ADMConfig(**dict(config.to_dict(), dropout=0.0)))
    module = ADMUNet(config)

    def run(key, deterministic):
        return module.apply({"params": params}, x, t, deterministic=deterministic, rngs={"dropout": key})

    run = jax.jit(run, static_argnums=1)
    reference = jax.jit(no_dropout.apply)({"params": params}, x, t)
    np.testing.assert_allclose(run(jax.random.PRNGKey(0), True), reference, atol=1e-5)
    a, b = run(jax.random.PRNGKey(0), False), run(jax.random.PRNGKey(1), False)
    assert not np.allclose(a, reference, atol=1e-3) and not np.allclose(a, b, atol=1e-3)


def test_bad_inputs_raise(tiny_a):
    module, params = ADMUNet(tiny_a["config"]), {"params": tiny_a["params"]}
    x, t = tiny_a["x"], tiny_a["t"]
    with pytest.raises(ValueError, match="3 channels"):
        module.apply(params, np.zeros((2, 32, 32, 4), np.float32), t)
    with pytest.raises(ValueError, match="3 channels"):
        module.apply(params, np.zeros((2, 3, 32, 32), np.float32), t)  # NCHW by mistake
    with pytest.raises(ValueError, match="not divisible by the UNet's downsampling factor 4"):
        module.apply(params, np.zeros((2, 30, 32, 3), np.float32), t)
    with pytest.raises(ValueError, match="image_size 32"):
        module.apply(params, np.zeros((2, 64, 64, 3), np.float32), t)
    with pytest.raises(ValueError, match="timesteps"):
        module.apply(params, x, t[:1])
    with pytest.raises(ValueError, match="class_cond"):
        module.apply(params, x, t, np.array([1, 2]))


def test_config_follows_create_model():
    assert ADMConfig(image_size=64, num_channels=8, num_res_blocks=1).channel_mult == (1, 2, 3, 4)
    assert ADMConfig(image_size=128, num_channels=8, num_res_blocks=1).channel_mult == (1, 1, 2, 3, 4)
    assert ADMConfig(image_size=512, num_channels=8, num_res_blocks=1).channel_mult == (0.5, 1, 1, 2, 2, 4, 4)
    assert ADMConfig(image_size=32, num_channels=8, num_res_blocks=1, channel_mult="1,2,2").channel_mult == (1, 2, 2)
    with pytest.raises(ValueError, match="unsupported image size 32"):
        ADMConfig(image_size=32, num_channels=8, num_res_blocks=1)
    imagenet = PRESETS["imagenet_256_uncond"]
    assert imagenet.attention_ds == (8, 16, 32) and imagenet.out_channels == 6
    assert PRESETS["ffhq_10m"].attention_ds == (16,)
    with pytest.raises(ValueError, match=r"known presets: \['ffhq_10m', 'imagenet_256_uncond'\]"):
        resolve_config("ffhq_1m")
    with pytest.raises(ValueError, match="unknown ADM model config keys"):
        ADMConfig.from_dict({"image_size": 64, "num_channels": 8, "num_res_blocks": 1, "num_head": 4})
    # DPS's YAML gives attention_resolutions as an int; to_dict round-trips through create_model's string form.
    config = ADMConfig.from_dict(dict(PRESETS["ffhq_10m"].to_dict(), attention_resolutions=16, use_fp16=True))
    assert config == PRESETS["ffhq_10m"] and ADMConfig.from_dict(config.to_dict()) == config


def _lax_conv(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("height, width, channels, algorithm", [
    (1, 2, 16, "shifted"), (2, 3, 16, "shifted"), (4, 5, 16, "shifted"), (5, 6, 16, "shifted"),
    (5, 7, 512, "direct"), (16, 18, 64, "winograd"), (16, 17, 64, "direct"), (40, 40, 16, "direct")])
def test_conv3x3_algorithms_equal_the_convolution(height, width, channels, algorithm):
    """Each of Conv3x3's algorithms, as `conv_algorithm` picks it on the CPU, agrees with lax's convolution
    in the output and in the input gradient; off the CPU only the small-input rule is kept."""
    from jaxinv.models.adm_layers import SMALL_SPATIAL, Conv3x3, conv_algorithm

    assert conv_algorithm(height, width, channels, 8) == algorithm
    assert conv_algorithm(height, width, channels, 8, platform="gpu") == (
        "shifted" if min(height, width) <= SMALL_SPATIAL else "direct")
    x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, channels))
    module = Conv3x3(8)
    params = module.init(jax.random.PRNGKey(1), x)["params"]
    params = {**params, "bias": jax.random.normal(jax.random.PRNGKey(2), (8,))}
    out = module.apply({"params": params}, x)
    ref = _lax_conv(x, params["kernel"]) + params["bias"]
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-5)
    grad = jax.grad(lambda x: jnp.sum(jnp.sin(module.apply({"params": params}, x))))(x)
    grad_ref = jax.grad(lambda x: jnp.sum(jnp.sin(_lax_conv(x, params["kernel"]) + params["bias"])))(x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(grad_ref), rtol=1e-4, atol=1e-5)


def test_winograd_conv3x3_and_both_gradients():
    """F(2x2, 3x3) against lax's convolution: output, input and kernel gradients; odd sizes refused."""
    from jaxinv.models import winograd

    x = jax.random.normal(jax.random.PRNGKey(0), (3, 12, 20, 24))
    kernel = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 24, 40)) / 15.0
    np.testing.assert_allclose(np.asarray(winograd.conv3x3(x, kernel)), np.asarray(_lax_conv(x, kernel)),
                               rtol=1e-5, atol=2e-6)
    loss = lambda conv: lambda x, k: jnp.sum(jnp.cos(conv(x, k)))  # noqa: E731
    ours = jax.grad(loss(winograd.conv3x3), (0, 1))(x, kernel)
    ref = jax.grad(loss(_lax_conv), (0, 1))(x, kernel)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="even height and width"):
        winograd.conv3x3(x[:, :11], kernel)
