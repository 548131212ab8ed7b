"""BKSE KernelWizard port, its strict converter, the crosscheck and the `nonlinear_blur` operator."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convert.bkse import KERNEL_EXTRACTOR_PREFIX, convert_checkpoint, convert_state_dict, main as convert_main
from convert.strict import ConversionError, flatten
from convert.torch_io import load_state_dict
from jaxinv.models.bkse import KernelWizard, KernelWizardConfig, init_shapes, pixel_shuffle, read_options
from jaxinv.operators import OPERATORS, make_operator
from numerics import assert_rounding_close

REAL_OPTIONS = {  # BKSE options/generate_blur/default.yml, KernelWizard section
    "KernelWizard": {
        "pretrained": "experiments/pretrained/GOPRO_wVAE.pth", "input_nc": 3, "nf": 64, "front_RBs": 10,
        "back_RBs": 20, "N_frames": 1, "kernel_dim": 512, "use_vae": True,
        "KernelExtractor": {"norm": "none", "use_sharp": True, "n_blocks": 4, "padding_type": "reflect",
                            "use_dropout": False},
        "Adapter": {"norm": "none", "use_dropout": False},
    }
}


@pytest.fixture(scope="module")
def bkse_dir(fixtures_dir):
    return fixtures_dir / "bkse"


@pytest.fixture(scope="module")
def tiny_converted(bkse_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bkse") / "tiny"
    assert convert_main(["--checkpoint", str(bkse_dir / "bkse_tiny.pth"), "--options",
                         str(bkse_dir / "bkse_tiny_options.json"), "--output", str(out)]) == 0
    return out


def _shape_only(manifest):
    # zero-stride views: the 115M-parameter layout without allocating it
    return {k: np.broadcast_to(np.float32(0), tuple(s)) for k, s in manifest.items()}


def _random_params(config, seed=0):
    """He-scaled normal weights on the module's own tree (faster than tracing `init` on 2 cores)."""
    rng = np.random.default_rng(seed)
    shapes = init_shapes(config)
    return jax.tree_util.tree_map(
        lambda s: jnp.asarray(rng.normal(size=s.shape) / np.sqrt(max(1, int(np.prod(s.shape[:-1])))), jnp.float32),
        shapes)


def test_real_layout_maps_completely(bkse_dir):
    manifest = json.loads((bkse_dir / "GOPRO_wVAE_manifest.json").read_text())
    assert sum(int(np.prod(s)) for s in manifest.values()) == pytest.approx(115.3e6, rel=1e-3)
    config = KernelWizardConfig.from_options(REAL_OPTIONS)
    params = convert_state_dict(_shape_only(manifest), config)
    got = {k: tuple(v.shape) for k, v in flatten(params).items()}
    expected = {k: tuple(v.shape) for k, v in flatten(init_shapes(config, 256, 256)).items()}
    assert got == expected
    n_blur_path = sum(int(np.prod(s)) for k, s in manifest.items() if not k.startswith(KERNEL_EXTRACTOR_PREFIX))
    assert sum(int(np.prod(s)) for s in got.values()) == n_blur_path
    # torch ConvTranspose (in, out, 4, 4) of the innermost level lands as (4, 4, out, in)
    inner = params["adapter"]["model"]["submodule"]["submodule"]["submodule"]["submodule"]["up_1"]["kernel"]
    assert inner.shape == (4, 4, 512, 1024)


@pytest.mark.parametrize("edit, message", [
    (lambda sd: sd.update({"adapter.model.extra.weight": np.zeros((3,), np.float32)}), "module does not have"),
    (lambda sd: sd.update({"kernel_extractor.model.23.conv_block.1.weight": np.zeros((2,), np.float32)}),
     "kernel extractor"),
    (lambda sd: sd.pop("kernel_extractor.model.22.conv_block.5.weight"), "missing"),
    (lambda sd: sd.pop("recon_trunk.28.bias"), "recon_trunk_28/bias"),
    (lambda sd: sd.update({"feature_extractor.0.bias": np.zeros((65,), np.float32)}), "shape mismatches"),
])
def test_converter_is_strict(bkse_dir, edit, message):
    manifest = json.loads((bkse_dir / "GOPRO_wVAE_manifest.json").read_text())
    sd = _shape_only(manifest)
    edit(sd)
    with pytest.raises(ConversionError, match=message):
        convert_state_dict(sd, REAL_OPTIONS)


def test_options_are_checked(bkse_dir, tmp_path):
    assert read_options(bkse_dir / "bkse_tiny_options.json").kernel_dim == 64
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps(REAL_OPTIONS))
    assert read_options(path).back_RBs == 20
    pytest.importorskip("yaml")
    yml = tmp_path / "default.yml"  # the layout of BKSE options/generate_blur/default.yml
    yml.write_text("gpu_ids: [0]\nKernelWizard:\n  pretrained: GOPRO_wVAE.pth\n  input_nc: 3\n  nf: 64\n"
                   "  front_RBs: 10\n  back_RBs: 20\n  N_frames: 1\n  kernel_dim: 512\n  use_vae: true\n"
                   "  KernelExtractor:\n    norm: none\n    use_sharp: true\n    n_blocks: 4\n"
                   "    padding_type: reflect\n    use_dropout: false\n  Adapter:\n    norm: none\n"
                   "    use_dropout: false\n")
    assert read_options(yml) == KernelWizardConfig.from_options(REAL_OPTIONS)
    with pytest.raises(ValueError, match="8 \\* nf"):
        KernelWizardConfig(nf=8, kernel_dim=512)
    with pytest.raises(ValueError, match="unknown keys"):
        KernelWizardConfig.from_options({**REAL_OPTIONS["KernelWizard"], "nff": 3})


def test_pixel_shuffle_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5, 12)).astype(np.float32)[:, 0]  # (2, 4, 5, 12) NHWC
    ref = torch.nn.functional.pixel_shuffle(torch.from_numpy(x.transpose(0, 3, 1, 2)), 2).numpy()
    np.testing.assert_array_equal(np.asarray(pixel_shuffle(jnp.asarray(x), 2)), ref.transpose(0, 2, 3, 1))


def test_crosscheck_tiny(bkse_dir, capsys):
    from experiments.crosscheck.__main__ import main

    rc = main(["bkse", "--checkpoint", str(bkse_dir / "bkse_tiny.pth"), "--options",
               str(bkse_dir / "bkse_tiny_options.json"), "--io", str(bkse_dir / "bkse_tiny_io.npz")])
    lines = capsys.readouterr().out.strip().splitlines()
    err = float(lines[-1].split("=")[1])
    threshold = float(lines[-2].split("=")[1])
    assert rc == 0 and err < threshold and threshold == pytest.approx(1e-4 * 1.0538, rel=1e-2)


def test_operator_equals_original_with_recorded_latent(bkse_dir, tiny_converted):
    io = np.load(bkse_dir / "bkse_tiny_io.npz")
    op = make_operator("nonlinear_blur", (128, 128, 3), checkpoint_dir=str(tiny_converted))
    assert not op.is_linear and op.image_shape == (128, 128, 3)
    op = op.with_latent(io["kernel"][0].transpose(1, 2, 0))
    x = jnp.asarray(io["x"][0].transpose(1, 2, 0)) * 2 - 1
    expected = np.clip(io["out"][0].transpose(1, 2, 0) * 2 - 1, -1, 1)
    np.testing.assert_allclose(np.asarray(jax.jit(op.forward)(x)), expected, atol=2e-6)
    bf16 = make_operator("nonlinear_blur", (128, 128, 3), checkpoint_dir=str(tiny_converted), dtype=jnp.bfloat16)
    y16 = jax.jit(bf16.with_latent(op.latent).forward)(x)
    assert y16.dtype == jnp.float32 and float(jnp.abs(y16 - expected).max()) < 1e-2


def test_operator_latent_is_spgd_seeded(tiny_converted):
    op = make_operator("nonlinear_blur", (256, 128, 3), checkpoint_dir=str(tiny_converted))
    np.random.seed(0)  # SPGD/DAPS NonlinearBlur.__init__
    spgd = np.random.randn(1, 64, 2, 1) * 1.2
    np.testing.assert_allclose(np.asarray(op.latent), spgd[0].transpose(1, 2, 0), rtol=1e-6)
    other = make_operator("nonlinear_blur", (256, 128, 3), checkpoint_dir=str(tiny_converted), latent_seed=3)
    assert not np.allclose(np.asarray(other.latent), np.asarray(op.latent))
    with pytest.raises(ValueError, match="multiples of 128"):
        make_operator("nonlinear_blur", (96, 128, 3), checkpoint_dir=str(tiny_converted))


def test_operator_with_tiny_random_model_jit_vmap_grad():
    """The registry sweep's checks, at 128x128 (the sweep's 16x16 is too small for this network)."""
    assert OPERATORS["nonlinear_blur"].example_params is None
    config = KernelWizardConfig(nf=4, kernel_dim=32, front_RBs=1, back_RBs=1)
    params = _random_params(config)
    op = make_operator("nonlinear_blur", (128, 128, 3), params=params, model_config=config)
    rng = np.random.default_rng(7)
    xs = jnp.asarray(rng.uniform(-1, 1, (2, 128, 128, 3)), jnp.float32)
    forward = jax.jit(op.forward)
    y = forward(xs[0])
    assert y.shape == op.measurement_shape == (128, 128, 3) and y.dtype == jnp.float32
    assert float(y.max()) <= 1.0 and float(y.min()) >= -1.0
    batched = jax.jit(jax.vmap(op.forward))(xs)
    np.testing.assert_allclose(np.asarray(batched[0]), np.asarray(y), atol=1e-6)
    target = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    grad = jax.jit(jax.grad(lambda x: jnp.sum((target - op.forward(x)) ** 2)))(xs[0])
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).max()) > 0
    # the DPS-compatibility path draws a new latent per key; the fixed-latent forward does not change
    # remat and plain are two programs: compare their gradients before the operator's output clamp,
    # whose derivative jumps at +-1 (tests/numerics.py); most outputs of this random network saturate
    remat = make_operator("nonlinear_blur", (128, 128, 3), params=params, model_config=config, remat=True)

    def pre_clamp_loss(operator):
        model = KernelWizard(operator.config, remat=operator.remat)
        return lambda x: jnp.sum((target - model.apply({"params": params}, ((x + 1) / 2)[None],
                                                       operator.latent[None])[0]) ** 2)

    assert_rounding_close(jax.jit(jax.grad(pre_clamp_loss(remat)))(xs[0]), jax.jit(jax.grad(pre_clamp_loss(op)))(xs[0]),
                          "remat vs plain gradient")
    fresh = jax.jit(op.forward_with_fresh_latent)
    a, b = fresh(xs[0], jax.random.key(1)), fresh(xs[0], jax.random.key(2))
    assert float(jnp.abs(a - b).max()) > 0
    np.testing.assert_array_equal(np.asarray(forward(xs[0])), np.asarray(y))
    with pytest.raises(ValueError, match="not linear"):
        op.adjoint(y)


def test_missing_checkpoint_names_file_and_command(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        make_operator("nonlinear_blur", (256, 256, 3), checkpoint_dir=str(tmp_path / "gopro"))
    message = str(info.value)
    assert "model_config.json" in message
    assert "python -m convert.bkse --checkpoint GOPRO_wVAE.pth" in message and str(tmp_path / "gopro") in message


def test_converted_checkpoint_refuses_overwrite(bkse_dir, tiny_converted):
    with pytest.raises(FileExistsError):
        convert_checkpoint(bkse_dir / "bkse_tiny.pth", bkse_dir / "bkse_tiny_options.json", tiny_converted)
    assert set(load_state_dict(bkse_dir / "bkse_tiny.pth")) >= {"adapter.model.up.1.bias"}
