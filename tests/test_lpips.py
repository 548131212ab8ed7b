"""LPIPS-VGG against the `lpips` package on one random VGG16 trunk and the package's lin weights.

The torch references run where `lpips` and torchvision are installed (the `ref` extra); the
converter's strictness checks run everywhere.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from convert.lpips import convert_state_dicts, main as convert_main
from convert.strict import ConversionError, flatten
from jaxinv.metrics.lpips import LPIPS, load_lpips, lpips_shapes, unit_normalize
from jaxinv.models.vgg import VGG16_CONVS


def _torch_layout_state_dicts(seed=0):
    """Random VGG16 `features.N` and `lin{k}.model.1` state dicts (numpy, torch layouts)."""
    rng = np.random.default_rng(seed)
    vgg, cin = {}, 3
    for index, cout in VGG16_CONVS:
        vgg[f"features.{index}.weight"] = rng.normal(0, np.sqrt(2 / (9 * cin)), (cout, cin, 3, 3)).astype(np.float32)
        vgg[f"features.{index}.bias"] = rng.normal(0, 0.1, (cout,)).astype(np.float32)
        cin = cout
    lin = {f"lin{k}.model.1.weight": rng.uniform(0, 0.1, (1, c, 1, 1)).astype(np.float32)
           for k, c in enumerate((64, 128, 256, 512, 512))}
    return vgg, lin


def test_conversion_maps_every_key_with_the_layout_change():
    vgg, lin = _torch_layout_state_dicts()
    params = convert_state_dicts({**vgg, "classifier.6.bias": np.zeros(1000, np.float32)}, lin)
    np.testing.assert_array_equal(params["net"]["features_17"]["kernel"],
                                  vgg["features.17.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params["lin3"]["kernel"][0, 0, :, 0], lin["lin3.model.1.weight"][0, :, 0, 0])
    assert set(flatten(params)) == set(flatten(lpips_shapes()))


@pytest.mark.parametrize("damage,expected", [
    ("drop features.14.bias", "net/features_14/bias"),
    ("drop lin2.model.1.weight", "lin2/kernel"),
    ("extra features.30.weight", "features.30.weight"),
    ("extra lin5.model.1.weight", "lin5.model.1.weight"),
    ("extra net.unexpected", "net.unexpected"),
    ("shape features.7.weight", "features.7.weight"),
    ("shape lin0.model.1.weight", "lin0.model.1.weight"),
])
def test_converter_is_strict_and_names_the_key(damage, expected):
    vgg, lin = _torch_layout_state_dicts()
    kind, key = damage.split()
    target = lin if key.startswith("lin") else vgg
    if kind == "drop":
        del target[key]
    elif kind == "extra":
        target[key] = np.zeros((64, 3, 3, 3) if key.startswith("features") else (1, 64, 1, 1), np.float32)
    else:
        target[key] = target[key][:, :-1]
    with pytest.raises(ConversionError, match=expected.replace(".", r"\.")):
        convert_state_dicts(vgg, lin)


def test_unit_normalize_and_zero_distance():
    y = jnp.asarray(np.random.default_rng(1).normal(size=(2, 5, 5, 7)), jnp.float32)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(unit_normalize(y)), axis=-1), 1.0, atol=1e-6)
    vgg, lin = _torch_layout_state_dicts()
    params = convert_state_dicts(vgg, lin)
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
    np.testing.assert_array_equal(np.asarray(LPIPS().apply({"params": params}, x, x)), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        LPIPS().apply({"params": params}, x, x[:1])
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        LPIPS().apply({"params": params}, x[0], x[0])


# ---------------------------------------------------------------- against the lpips package

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(lpips.LPIPS on a random trunk, converted Flax checkpoint dir, tmp dir) sharing every weight."""
    lpips = pytest.importorskip("lpips")
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    import torch.hub
    import torchvision.models._api

    def no_download(*args, **kwargs):
        raise AssertionError("the reference must not download weights")

    saved = torch.hub.load_state_dict_from_url, torchvision.models._api.load_state_dict_from_url
    torch.hub.load_state_dict_from_url = torchvision.models._api.load_state_dict_from_url = no_download
    try:
        torch.manual_seed(0)
        ref = lpips.LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    finally:
        torch.hub.load_state_dict_from_url, torchvision.models._api.load_state_dict_from_url = saved
    features = {}
    with torch.no_grad():
        for name, p in ref.net.named_parameters():
            if name.endswith("bias"):  # torchvision initialises biases to zero; make them matter
                p.copy_(0.1 * torch.randn_like(p))
            features["features." + name.split(".", 1)[1]] = p.detach().clone()
    d = tmp_path_factory.mktemp("lpips")
    # The classifier keys of a torchvision vgg16 state dict are dropped by name; small stand-ins suffice here.
    torch.save({**features, **{f"classifier.{i}.{w}": torch.zeros(1) for i in (0, 3, 6) for w in ("weight", "bias")}},
               d / "vgg16.pth")
    from convert.lpips import default_lin_path

    shipped = torch.load(default_lin_path(), map_location="cpu", weights_only=True)
    assert sorted(shipped) == [f"lin{k}.model.1.weight" for k in range(5)]
    for key, value in shipped.items():  # the reference really uses the shipped lin weights
        torch.testing.assert_close(ref.state_dict()[key], value, rtol=0, atol=0)
    assert convert_main(["--vgg16", str(d / "vgg16.pth"), "--output", str(d / "flax")]) == 0  # --lin: the package's
    return ref, d / "flax", d


def _pairs(seed, shape=(3, 64, 48, 3)):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, shape).astype(np.float32)
    b = np.clip(a + 0.3 * rng.standard_normal(shape), -1, 1).astype(np.float32)
    return a, b


def test_lpips_equals_the_package(reference):
    import torch

    ref, flax_dir, _ = reference
    distance = load_lpips(flax_dir)
    for seed, shape in ((0, (3, 64, 48, 3)), (1, (2, 37, 53, 3))):  # odd sides: floor pooling
        a, b = _pairs(seed, shape)
        with torch.no_grad():
            want = ref(torch.from_numpy(a.transpose(0, 3, 1, 2)), torch.from_numpy(b.transpose(0, 3, 1, 2)))
        want = want.numpy().reshape(-1)
        got = np.asarray(distance(jnp.asarray(a), jnp.asarray(b)))
        assert got.shape == (shape[0],)
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)  # distances ~0.02 here; measured error ~6e-9
        assert np.all(want > 1e-3)  # a real distance, not a trivially small one


def test_trunk_features_equal_torchvision(reference):
    import torch

    from jaxinv.checkpoint import load_params
    from jaxinv.models.vgg import VGG16Features

    ref, flax_dir, _ = reference
    params, _ = load_params(flax_dir)
    a, _ = _pairs(3)
    x = (a - np.array([-0.030, -0.088, -0.188], np.float32)) / np.array([0.458, 0.448, 0.450], np.float32)
    with torch.no_grad():
        want = ref.net(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    got = VGG16Features().apply({"params": params["net"]}, jnp.asarray(x))
    for g, w in zip(got, want):
        w = w.numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(np.asarray(g), w, atol=1e-4 * max(1.0, float(np.abs(w).max())), rtol=0)


def test_converter_refuses_to_overwrite_and_loads_without_torch_names(reference):
    _, flax_dir, d = reference
    with pytest.raises(FileExistsError):
        from convert.lpips import convert_checkpoint
        convert_checkpoint(d / "vgg16.pth", None, flax_dir)
    assert convert_main(["--vgg16", str(d / "vgg16.pth"), "--lin", str(d / "missing.pth"),
                         "--output", str(d / "other")]) == 2
    assert not (d / "other").exists()


def test_full_torchvision_vgg16_layout_converts():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    with torch.device("meta"):
        layout = tv.models.vgg16(weights=None).state_dict()
    assert any(k.startswith("classifier.") for k in layout)
    vgg = {k: np.zeros(tuple(v.shape), np.float32) for k, v in layout.items()}  # lazily zeroed pages
    _, lin = _torch_layout_state_dicts()
    convert_state_dicts(vgg, lin)


def test_missing_lin_weights_name_the_flag(tmp_path, monkeypatch):
    import convert.lpips as convert_lpips

    monkeypatch.setattr(convert_lpips, "default_lin_path", lambda: None)
    with pytest.raises(FileNotFoundError, match="--lin"):
        convert_lpips.convert_checkpoint(tmp_path / "vgg16.pth", None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
