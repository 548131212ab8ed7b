"""FID: the Fréchet distance against closed forms and pytorch-fid, the Inception against pytorch-fid.

pytorch-fid's Inception is built on random weights (its weight download is replaced by a state dict
of the same architecture), converted with `convert.inception`, and compared feature by feature.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convert.inception import convert_state_dict, main as convert_main
from convert.strict import ConversionError, flatten
from jaxinv.metrics import fid as fid_lib
from jaxinv.metrics.fid import activation_statistics, frechet_distance, load_statistics, save_statistics
from jaxinv.models.inception import bilinear_resize_matrix, inception_shapes, resize_bilinear

_TORCH_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def _torch_layout_state_dict(seed=0):
    """A random state dict with the keys and shapes of pytorch-fid's `fid_inception_v3()`."""
    rng = np.random.default_rng(seed)
    out = {"fc.weight": np.zeros((1008, 2048), np.float32), "fc.bias": np.zeros(1008, np.float32)}
    for path, leaf in flatten(inception_shapes()).items():
        key = ".".join(path[1:-1] + (_TORCH_LEAF[path[-1]],))
        shape = leaf.shape if len(leaf.shape) == 1 else tuple(leaf.shape[i] for i in (3, 2, 0, 1))
        out[key] = rng.normal(size=shape).astype(np.float32)
        if path[-1] == "var":
            out[key] = np.abs(out[key])
            out[key.replace("running_var", "num_batches_tracked")] = np.array(0, np.int64)
    return out


# ---------------------------------------------------------------- Fréchet distance

def _closed_form(mu1, d1, mu2, d2):
    """FID of covariances sharing an eigenbasis with eigenvalues d1, d2: Tr sqrt = Σ sqrt(d1 d2)."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(d1 + d2 - 2 * np.sqrt(d1 * d2)))


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    d1, d2 = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    want = _closed_form(mu1, d1, mu2, d2)
    assert frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2)) == pytest.approx(want, rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))  # same eigenvectors, non-diagonal covariances
    got = frechet_distance(mu1, q @ np.diag(d1) @ q.T, mu2, q @ np.diag(d2) @ q.T)
    assert got == pytest.approx(want, rel=1e-8)
    assert frechet_distance(mu1, np.diag(d1), mu1, np.diag(d1)) == pytest.approx(0, abs=1e-10)
    assert frechet_distance(1.0, 4.0, 3.0, 1.0) == pytest.approx(4 + 4 + 1 - 2 * 2)  # 1-d, as np.atleast_2d


def test_frechet_distance_singular_retry_and_imaginary_check(monkeypatch):
    rng = np.random.default_rng(1)
    mu1, mu2, d1, d2 = rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    real_sqrtm, calls = fid_lib.linalg.sqrtm, []

    def sqrtm_failing_once(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(fid_lib.linalg, "sqrtm", sqrtm_failing_once)
    with pytest.warns(RuntimeWarning, match="adding 0.01"):
        got = frechet_distance(mu1, np.diag(d1), mu2, np.diag(d2), eps=0.01)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], np.diag((d1 + 0.01) * (d2 + 0.01)))
    # The retry only changes the root: Tr Σ1 + Tr Σ2 stay without the offset, as in pytorch-fid.
    want = np.sum((mu1 - mu2) ** 2) + np.sum(d1 + d2) - 2 * np.sum(np.sqrt((d1 + 0.01) * (d2 + 0.01)))
    assert got == pytest.approx(want, rel=1e-10)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(np.zeros(2), np.diag([1.0, 1.0]), np.zeros(2), np.diag([-1.0, 1.0]))


def test_frechet_distance_shape_errors():
    with pytest.raises(ValueError, match="mean vectors"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(3))
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


def test_statistics_are_unbiased_mean_and_covariance_and_npz_round_trip(tmp_path):
    x = np.random.default_rng(2).normal(size=(7, 5))
    mu, sigma = activation_statistics(x)
    centred = x - x.sum(0) / 7
    np.testing.assert_allclose(mu, x.sum(0) / 7, rtol=1e-12)
    np.testing.assert_allclose(sigma, centred.T @ centred / 6, rtol=1e-12)
    save_statistics(tmp_path / "stats.npz", mu, sigma)
    with np.load(tmp_path / "stats.npz") as f:  # pytorch-fid's reader: f['mu'][:], f['sigma'][:]
        assert sorted(f.files) == ["mu", "sigma"]
    m2, s2 = load_statistics(tmp_path / "stats.npz")
    np.testing.assert_array_equal(m2, mu)
    np.testing.assert_array_equal(s2, sigma)
    np.savez(tmp_path / "bad.npz", mean=mu)
    with pytest.raises(ValueError, match="no mu, sigma"):
        load_statistics(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="N >= 2"):
        activation_statistics(x[:1])


def test_frechet_distance_equals_pytorch_fid():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.default_rng(3)
    for n, d in ((200, 32), (20, 32)):  # full-rank and rank-deficient covariances
        a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        b = 0.5 + rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        s1, s2 = activation_statistics(a), activation_statistics(b)
        want = fid_score.calculate_frechet_distance(*s1, *s2)
        got = frechet_distance(*s1, *s2)
        assert got == pytest.approx(float(want), rel=1e-6)


# ---------------------------------------------------------------- resize and converter

@pytest.mark.parametrize("size", [(64, 64), (320, 301), (299, 299), (17, 500)])
def test_resize_equals_torch_bilinear(size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(sum(size)).uniform(0, 1, (2, *size, 3)).astype(np.float32)
    want = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2)), size=(299, 299),
                                           mode="bilinear", align_corners=False).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(resize_bilinear(x, (299, 299))), want, atol=1e-6, rtol=0)
    np.testing.assert_allclose(bilinear_resize_matrix(size[0], 299).sum(1), 1.0, atol=1e-6)


def test_conversion_maps_every_key():
    sd = _torch_layout_state_dict()
    variables = convert_state_dict(sd)
    np.testing.assert_array_equal(variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"],
                                  sd["Mixed_6b.branch7x7_2.conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(variables["batch_stats"]["Mixed_7c"]["branch_pool"]["bn"]["var"],
                                  sd["Mixed_7c.branch_pool.bn.running_var"])
    assert set(flatten(variables)) == set(flatten(inception_shapes()))


@pytest.mark.parametrize("damage,expected", [
    ("drop Mixed_5b.branch_pool.bn.running_mean", "batch_stats/Mixed_5b/branch_pool/bn/mean"),
    ("drop Conv2d_1a_3x3.conv.weight", "params/Conv2d_1a_3x3/conv/kernel"),
    ("extra AuxLogits.conv0.conv.weight", "AuxLogits.conv0.conv.weight"),
    ("extra Mixed_7c.unexpected.weight", "Mixed_7c.unexpected.weight"),
    ("shape Mixed_6e.branch7x7dbl_3.conv.weight", "Mixed_6e.branch7x7dbl_3.conv.weight"),
    ("shape Conv2d_4a_3x3.bn.weight", "Conv2d_4a_3x3.bn.weight"),
])
def test_converter_is_strict_and_names_the_key(damage, expected):
    sd = _torch_layout_state_dict()
    kind, key = damage.split()
    if kind == "drop":
        del sd[key]
    elif kind == "extra":
        sd[key] = np.zeros((128, 768, 1, 1), np.float32)
    else:
        sd[key] = sd[key][:-1]
    with pytest.raises(ConversionError, match=expected.replace(".", r"\.")):
        convert_state_dict(sd)


# ---------------------------------------------------------------- against pytorch-fid's InceptionV3

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(pytorch-fid InceptionV3 on random, BN-calibrated weights; converted Flax directory)."""
    torch = pytest.importorskip("torch")
    inception = pytest.importorskip("pytorch_fid.inception")
    F = torch.nn.functional
    torch.manual_seed(0)
    # fid_inception_v3's architecture, built here because it would download its weights.
    net = inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = inception.FIDInceptionE_1(1280)
    net.Mixed_7c = inception.FIDInceptionE_2(2048)
    # Random convs and BatchNorm affines; the running statistics are those of one calibration batch
    # (momentum 1), so that activations neither vanish nor blow up through the 94 conv layers.
    calib = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.momentum = 1.0
        net.train()
        net(2 * F.interpolate(calib, size=(299, 299), mode="bilinear", align_corners=False) - 1)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *a, **k: state
    try:
        ref = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        inception.load_state_dict_from_url = original
    d = tmp_path_factory.mktemp("inception")
    torch.save(state, d / "pt_inception.pth")
    assert convert_main(["--weights", str(d / "pt_inception.pth"), "--output", str(d / "flax")]) == 0
    return ref, d / "flax"


def test_inception_pool3_features_equal_pytorch_fid(reference):
    import torch

    ref, flax_dir = reference
    x = np.random.default_rng(4).uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x.transpose(0, 3, 1, 2)))[0].numpy().reshape(2, -1)
    features = fid_lib.load_inception(flax_dir)
    got = fid_lib.inception_features(features, x, batch_size=2)
    assert got.shape == (2, 2048)
    assert 0.1 < np.std(want) < 10  # informative features on the scale of real pool3 activations
    # float32 rounding accumulates over 94 convs (fan-in up to 4032): ~2e-6 relative per layer,
    # 1.5e-4 absolute at pool3 here; the float64 run below shows the remaining gap is rounding only.
    np.testing.assert_allclose(got, want, atol=5e-4, rtol=0)


def test_inception_equals_pytorch_fid_in_float64(reference):
    import copy

    import torch

    from jaxinv.checkpoint import load_params
    from jaxinv.models.inception import FIDInceptionV3

    ref, flax_dir = reference
    x = np.random.default_rng(5).uniform(0, 1, (1, 40, 52, 3))
    with torch.no_grad():
        want = copy.deepcopy(ref).double()(torch.from_numpy(x.transpose(0, 3, 1, 2)))[0].numpy().reshape(1, -1)
    variables, _ = load_params(flax_dir)
    with jax.enable_x64(True):
        variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), variables)
        got = np.asarray(jax.jit(FIDInceptionV3().apply)(variables, jnp.asarray(x, jnp.float64)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, atol=1e-9, rtol=0)
