"""Forward operators against the original code's outputs (`fixtures/operators/operators.npz`).

Max errors measured against the fixtures (float32): DPS Resizer x4 6e-8, DPS Gaussian blur 2.7e-7,
DPS motion blur (seed 3) 1.3e-7, phase retrieval 1.8e-7, CoDPS circular blur 2.2e-7, CoDPS SR 6e-8;
motion kernels bit-exact; CoDPS likelihood terms to relative 8e-8.
"""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

from jaxinv.operators import (
    OPERATORS,
    batched_inpainting,
    dps_motion_kernel,
    inpainting_masks,
    make_noise,
    make_operator,
    measure,
    motion_kernel,
    resize_matrix,
    stack_operators,
)
from jaxinv.operators.blur import MotionBlur
from jaxinv.operators.spectral import gram_solve, null_project, prox, pseudo_inverse, spectral_of, svd_of

SMALL = (16, 16, 3)


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return dict(np.load(fixtures_dir / "operators" / "operators.npz"))


def nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


def apply_batch(op, x):
    return np.asarray(jax.jit(jax.vmap(op.forward))(x))


def max_err(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


# ---------------------------------------------------------------- against the original code

@pytest.mark.parametrize(
    "key, name, params, tol",
    [
        ("dps_super_resolution_x4", "super_resolution", {"scale": 4}, 1e-6),
        ("dps_gaussian_blur_61_3", "gaussian_blur", {"kernel_size": 61, "sigma": 3.0}, 1e-6),
        ("dps_motion_blur_seed3", "motion_blur", {"kernel_size": 61, "intensity": 0.5, "seed": 3}, 1e-6),
        ("dps_phase_retrieval_2", "phase_retrieval", {"oversample": 2.0}, 2e-6),
        ("codps_gaussian_blur_61_3", "gaussian_blur", {"kernel_size": 61, "sigma": 3.0, "padding": "circular"}, 1e-6),
        ("codps_super_resolution_x4", "codps_super_resolution", {"scale": 4}, 1e-6),
    ],
)
def test_operator_matches_original(ref, key, name, params, tol):
    op = make_operator(name, (64, 64, 3), **params)
    y = apply_batch(op, nhwc(ref["x"]))
    expected = nhwc(ref[key])
    assert y.shape == expected.shape and y.dtype == np.float32
    assert max_err(y, expected) < tol


def test_kernels_match_original(ref):
    blur = make_operator("gaussian_blur", (64, 64, 3), kernel_size=61, sigma=3.0)
    assert max_err(blur.kernel, ref["dps_gaussian_blur_61_3_kernel"][0, 0]) < 1e-8
    codps = make_operator("codps_super_resolution", (64, 64, 3), scale=4)
    assert max_err(codps.kernel, ref["codps_super_resolution_x4_kernel"]) < 1e-8
    assert abs(float(codps.kernel[4, 4]) - 0.01848) < 1e-5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_motion_kernel_bit_exact(ref, seed):
    kernel = motion_kernel(61, 0.5, np.random.RandomState(seed))
    np.testing.assert_array_equal(kernel, ref[f"motion_kernel_61_0.5_seed{seed}"])


def test_dps_motion_operator_kernels(ref, fixtures_dir):
    np.testing.assert_array_equal(dps_motion_kernel(61, 0.5, np.random.RandomState(3)), ref["dps_motion_blur_seed3_kernel"])
    op = make_operator("motion_blur", (64, 64, 3), seed=3)
    np.testing.assert_array_equal(np.asarray(op.kernel), ref["dps_motion_blur_seed3_kernel"])
    # the kernel of the DPS sampling fixture, drawn after np.random.seed(131)
    replay = np.load(fixtures_dir / "dps" / "dps_tiny_motion.npz")["kernel"]
    np.testing.assert_array_equal(dps_motion_kernel(61, 0.5, np.random.RandomState(131)), replay)


def test_dps_random_mask(fixtures_dir):
    """DPS `mask_generator('random', prob (0.6, 0.8))` right after np.random.seed(241), 32x32."""
    expected = np.load(fixtures_dir / "dps" / "dps_tiny_inpaint_random.npz")["mask"][0, 0]
    op = make_operator("inpainting", (32, 32, 3), mask_type="random", mask_prob_range=(0.6, 0.8), seed=241)
    np.testing.assert_array_equal(np.asarray(op.mask[..., 0]), expected)


@pytest.mark.parametrize("name, diff_key", [("codps_gaussian_blur_61_3", "codps_AAT_diff_full"),
                                            ("codps_super_resolution_x4", "codps_AAT_diff_lr")])
@pytest.mark.parametrize("v, s", [(0.3, 0.05), (2.0, 0.01)])
def test_codps_likelihood_term(ref, name, diff_key, v, s):
    """sum(diff * (s^2 I + v A A^T)^{-1} diff) of CoDPS `A_AT`, summed over batch and channels."""
    if name.startswith("codps_gaussian"):
        op = make_operator("gaussian_blur", (64, 64, 3), kernel_size=61, sigma=3.0, padding="circular")
    else:
        op = make_operator("codps_super_resolution", (64, 64, 3), scale=4)
    diff = nhwc(ref[diff_key])
    solved = jax.vmap(lambda r: gram_solve(op, r, s**2, v))(diff)
    value = float(jnp.sum(diff * solved))
    expected = float(ref[f"{name}_AAT_v{v}_s{s}"])
    assert abs(value - expected) / abs(expected) < 1e-5


def _keys_cubic(t):
    t = abs(t)
    return 1.5 * t**3 - 2.5 * t**2 + 1 if t <= 1 else (-0.5 * t**3 + 2.5 * t**2 - 4 * t + 2 if t <= 2 else 0.0)


def _antialiased_cubic_matrix(n, factor):
    """Closed form of the Resizer for 1/factor: output i centred at input factor*(i + 1/2) - 1/2 (0-based),
    weights cubic(d / factor) / factor normalised, taps mirrored symmetrically (-1 -> 0, n -> n - 1)."""
    out = -(-n // factor)
    shift = (out - n / factor) / 2
    matrix = np.zeros((out, n))
    for i in range(out):
        centre = factor * (i + 0.5 - shift) - 0.5
        taps = {j: _keys_cubic((centre - j) / factor) / factor
                for j in range(int(np.floor(centre)) - 2 * factor - 1, int(np.ceil(centre)) + 2 * factor + 2)}
        total = sum(taps.values())
        for j, w in taps.items():
            k = j % (2 * n)
            matrix[i, 2 * n - 1 - k if k >= n else k] += w / total
    return matrix


def test_super_resolution_taps_and_closed_form():
    """The 16 interior x4 taps of the DPS Resizer; x2 and x3 on 16x16 equal M X M^T in closed form."""
    m4 = resize_matrix(64, 16, 0.25)
    taps = [-0.00171, -0.01099, -0.01831, -0.01196, 0.02271, 0.09741, 0.18188, 0.24097]
    np.testing.assert_allclose(m4[5, 14:30], taps + taps[::-1], atol=1e-5)
    np.testing.assert_allclose(m4, _antialiased_cubic_matrix(64, 4), atol=1e-12)
    x = np.random.default_rng(0).uniform(-1, 1, SMALL).astype(np.float32)
    for factor, out in [(2, 8), (3, 6)]:
        op = make_operator("super_resolution", SMALL, scale=factor)
        m = _antialiased_cubic_matrix(16, factor)
        assert m.shape == (out, 16)
        expected = np.einsum("ih,jw,hwc->ijc", m, m, x.astype(np.float64))
        assert max_err(op.forward(x), expected) < 2e-6


# ---------------------------------------------------------------- masks

@pytest.mark.parametrize("margin, lo, hi", [((16, 16), 16, 111), ((32, 32), 32, 95)])
def test_box_masks_follow_generator_ranges(margin, lo, hi):
    """DPS (margin 16): 128x128 box with top-left in [16, 111]; DAPS/SPGD (margin 32): in [32, 95]."""
    masks = inpainting_masks((256, 256, 3), 40, seed=5, mask_type="box", mask_len_range=(128, 129), margin=margin)
    tops, lefts = [], []
    for mask in masks[..., 0]:
        rows, cols = np.nonzero(mask == 0)
        assert rows.max() - rows.min() + 1 == 128 and cols.max() - cols.min() + 1 == 128
        assert (mask == 0).sum() == 128 * 128
        tops.append(rows.min())
        lefts.append(cols.min())
    assert min(tops + lefts) >= lo and max(tops + lefts) <= hi
    assert len(set(tops)) > 10  # a new box per image
    extreme = inpainting_masks((256, 256, 3), 1, seed=5, mask_type="extreme", margin=margin)[0]
    np.testing.assert_array_equal(extreme, 1.0 - masks[0])


def test_random_mask_fraction_and_per_image_vmap():
    masks = inpainting_masks((32, 32, 3), 3, seed=1, mask_type="random", mask_prob_range=(0.8, 0.8))
    assert [(m == 0).sum() for m in masks] == [int(1024 * 0.8)] * 3
    assert not np.array_equal(masks[0], masks[1])
    op = batched_inpainting((32, 32, 3), 3, seed=1, mask_type="random", mask_prob_range=(0.8, 0.8))
    x = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    y = jax.vmap(lambda o, xi: o.forward(xi))(op, x)
    np.testing.assert_array_equal(np.asarray(y), x * masks)


def test_per_image_motion_kernels_stacked():
    """CoDPS-style: a new (DPS two-draw) kernel per image from one seeded stream, vmapped over the stack."""
    rng = np.random.RandomState(225)
    kernels = [dps_motion_kernel(61, 0.5, rng) for _ in range(2)]
    ops = stack_operators([MotionBlur.from_kernel(SMALL, k, "circular") for k in kernels])
    xs = jnp.asarray(np.random.default_rng(4).uniform(-1, 1, (2,) + SMALL), jnp.float32)
    ys = jax.vmap(lambda o, x: o.forward(x))(ops, xs)
    for i in range(2):
        single = MotionBlur.from_kernel(SMALL, kernels[i], "circular")
        np.testing.assert_allclose(np.asarray(ys[i]), np.asarray(single.forward(xs[i])), atol=1e-6)
        r = jnp.asarray(np.random.default_rng(i).normal(size=SMALL), jnp.float32)
        solved = jax.vmap(lambda o, rr: gram_solve(o, rr, 0.01, 1.0))(ops, jnp.stack([r, r]))[i]
        np.testing.assert_allclose(np.asarray(solved), np.asarray(gram_solve(single, r, 0.01, 1.0)), atol=1e-5)
    with pytest.raises(ValueError, match="differ"):
        stack_operators([MotionBlur.from_kernel(SMALL, kernels[0], "circular"),
                         MotionBlur.from_kernel((32, 32, 3), kernels[0], "circular")])


# ---------------------------------------------------------------- noise

def test_gaussian_noise_and_measure():
    op = make_operator("super_resolution", SMALL, scale=2)
    noise = make_noise("gaussian", sigma=0.05)
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, SMALL), jnp.float32)
    key = jax.random.key(0)
    y = measure(op, noise, key, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(op(x) + 0.05 * jax.random.normal(key, (8, 8, 3))), atol=1e-7)
    big = noise.sample(key, jnp.zeros((200_000,)))
    assert abs(float(jnp.std(big)) - 0.05) < 0.05 * 0.01


@pytest.mark.parametrize("value, rate", [(-0.2, 1.0), (0.5, 0.5)])
def test_poisson_noise_moments(value, rate):
    """DPS version 3: u' = Poisson(255 rate u) / (255 rate), u = (y+1)/2; E = y, Var[y'] = 4 u / (255 rate)."""
    noise = make_noise("poisson", rate=rate)
    y = jnp.full((200_000,), value, jnp.float32)
    sample = np.asarray(noise.sample(jax.random.key(1), y), np.float64)
    u = (value + 1) / 2
    assert abs(sample.mean() - value) < 1e-3
    assert abs(sample.var() / (4 * u / (255 * rate)) - 1) < 0.03
    steps = (sample[sample < 1.0] + 1) / 2 * 255 * rate  # integer counts where not clipped at 1
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


def test_poisson_noise_clips():
    noise = make_noise("poisson", rate=1.0)
    out = np.asarray(noise.sample(jax.random.key(3), jnp.array([1.5, 0.999, -1.2, -1.0] * 1000, jnp.float32)))
    assert out.max() <= 1.0 and out.min() >= -1.0
    np.testing.assert_array_equal(out[2::4], -1.0)  # clipped input: u = 0 gives no counts


# ---------------------------------------------------------------- sweep over every registered operator

def _example(name):
    cls = OPERATORS[name]
    if cls.example_params is None:
        pytest.skip(f"{name}: {cls.example_skip_reason or 'no example configuration'}")
    return make_operator(name, SMALL, **cls.example_params)


def _dense_matrix(op):
    x0 = jnp.zeros(SMALL, jnp.float32)
    jac = jax.jacfwd(op.forward)(x0)
    m = int(np.prod(op.measurement_shape))
    return np.asarray(jac, np.float64).reshape(m, -1)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_sweep(name):
    op = _example(name)
    rng = np.random.default_rng(7)
    xs = jnp.asarray(rng.uniform(-1, 1, (2,) + SMALL), jnp.float32)
    y = op.forward(xs[0])
    assert y.dtype == jnp.float32 and y.shape == op.measurement_shape
    np.testing.assert_allclose(np.asarray(jax.jit(op.forward)(xs[0])), np.asarray(y), atol=1e-6)
    batched = jax.jit(jax.vmap(op.forward))(xs)
    assert batched.shape == (2,) + tuple(y.shape)
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(op.forward(xs[1])), atol=1e-6)

    target = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    grad = jax.grad(lambda x: jnp.sum((target - op.forward(x)) ** 2))(xs[0])
    assert grad.shape == SMALL and bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.abs(grad).max()) > 0

    if op.is_linear:
        a, b = 0.7, -1.3
        np.testing.assert_allclose(np.asarray(op.forward(a * xs[0] + b * xs[1])),
                                   np.asarray(a * op.forward(xs[0]) + b * op.forward(xs[1])), atol=1e-5)
        ax = np.asarray(op.forward(xs[0]), np.float64)
        aty = np.asarray(op.adjoint(target), np.float64)
        assert aty.shape == SMALL
        lhs, rhs = np.sum(ax * np.asarray(target)), np.sum(np.asarray(xs[0]) * aty)
        assert abs(lhs - rhs) <= 1e-5 * max(1.0, abs(lhs))
        dense = _dense_matrix(op)
        np.testing.assert_allclose(aty.ravel(), dense.T @ np.asarray(target, np.float64).ravel(), atol=1e-5)
    else:
        with pytest.raises(ValueError, match="not linear"):
            op.adjoint(y)


GRAM_CASES = [
    ("gaussian_blur", {"kernel_size": 5, "sigma": 1.0, "padding": "circular"}),
    ("gaussian_blur", {"kernel_size": 21, "sigma": 3.0, "padding": "circular"}),  # kernel wider than the image
    ("motion_blur", {"kernel_size": 61, "intensity": 0.5, "seed": 4, "padding": "circular", "draws": 1}),
    ("codps_super_resolution", {"scale": 2, "kernel_size": 5, "sigma": 1.5}),
    ("codps_super_resolution", {"scale": 4}),
    ("inpainting", {"mask_type": "random", "seed": 2}),
    ("super_resolution", {"scale": 2}),
    ("super_resolution", {"scale": 4}),
    ("block_average", {"scale": 4}),
    ("separable_blur", {}),
    ("separable_blur", {"kernel": "uniform", "taps": 9}),
    ("separable_blur", {"sigma": 1.0, "sigma_w": 20.0, "taps": 9}),
    ("bicubic_sr", {"scale": 2}),
    ("denoising", {}),
    ("colorization", {}),
]


@pytest.mark.parametrize("name, params", GRAM_CASES)
def test_gram_solve_equals_dense_solve(name, params):
    op = make_operator(name, SMALL, **params)
    dense = _dense_matrix(op)
    r = np.random.default_rng(3).normal(size=op.measurement_shape)
    for s2, v in [(0.05**2, 0.3), (1e-2, 2.0)]:
        expected = np.linalg.solve(s2 * np.eye(dense.shape[0]) + v * dense @ dense.T, r.ravel())
        got = np.asarray(jax.jit(lambda r: gram_solve(op, r, s2, v))(jnp.asarray(r, jnp.float32)), np.float64).ravel()
        assert max_err(got, expected) < 2e-4 * np.abs(expected).max()


SVD_OPERATORS = ("inpainting", "block_average", "separable_blur", "bicubic_sr", "denoising", "colorization",
                 "super_resolution", "gaussian_blur")   # the circular Gaussian: Hartley basis; motion blur has none


@pytest.mark.parametrize("name, params", GRAM_CASES)
def test_spectral_factors_reproduce_the_operator(name, params):
    """The spectral view is orthogonal and reproduces A A^T; the full SVD gives A = U S V^T and
    A^T = V S U^T with V orthogonal; A A^+ A = A; the prox solves its normal equations
    (A^T A + rho I) z = A^T y + rho x; (I - A^+ A) x is invisible to A."""
    op = make_operator(name, SMALL, **params)
    dense = _dense_matrix(op)
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=SMALL), jnp.float32)
    y = jnp.asarray(rng.normal(size=op.measurement_shape), jnp.float32)
    xv, yv = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    view = op.spectral()
    close = lambda got, want, tol=1e-4: max_err(np.asarray(got, np.float64).ravel(), want) < tol * np.abs(want).max()  # noqa: E731
    assert close(view.u(view.eigenvalues * view.ut(y)), dense @ (dense.T @ yv))
    assert close(view.u(view.ut(y)), yv, 1e-5)
    assert (op.svd() is not None) == (name in SVD_OPERATORS)
    if name in SVD_OPERATORS:
        svd = svd_of(op, "the test")
        assert close(svd.u(svd.singulars * svd.vt(x)), dense @ xv)
        assert close(svd.v(svd.singulars * svd.ut(y)), dense.T @ yv)
        assert close(svd.v(svd.vt(x)), xv, 1e-5) and close(svd.u(svd.ut(op.forward(x))), dense @ xv, 1e-5)
        assert abs(float(jnp.linalg.norm(svd.vt(x))) - np.linalg.norm(xv)) < 1e-4 * np.linalg.norm(xv)
        unmeasured = ~np.asarray(jnp.broadcast_to(svd.measured, SMALL))
        assert np.all(np.asarray(jnp.broadcast_to(svd.singulars, SMALL))[unmeasured] == 0)
    assert abs(float(jnp.linalg.norm(view.ut(y))) / view.gain - np.linalg.norm(yv)) < 1e-4 * np.linalg.norm(yv)
    rho = 0.3
    z = np.asarray(prox(op, y, x, rho), np.float64).ravel()
    assert close(dense.T @ (dense @ z) + rho * z, dense.T @ yv + rho * xv)
    singular = np.linalg.svd(dense, compute_uv=False)
    if singular[singular > 1e-6].min() / singular.max() > 1e-3:   # A^+ amplifies float32 round-off by 1/s_min
        assert close(op.forward(pseudo_inverse(op, op.forward(x))), dense @ xv)
        assert np.abs(np.asarray(op.forward(null_project(op, x)))).max() < 1e-4 * np.abs(dense @ xv).max()


@pytest.mark.parametrize("name, params", [("gaussian_blur", {"kernel_size": 5}), ("phase_retrieval", {}),
                                          ("hdr", {})])
def test_no_gram_solve_without_a_spectrum(name, params):
    op = make_operator(name, SMALL, **params)
    assert op.spectral() is None and op.svd() is None
    with pytest.raises(ValueError, match=r"DiffPIR needs .*Operators that have it: .*gaussian_blur \(padding='circular'\)"):
        spectral_of(op, "DiffPIR")
    with pytest.raises(ValueError, match=r"DDRM needs .*full SVD.*Operators that have it: .*block_average"):
        svd_of(op, "DDRM")


# ---------------------------------------------------------------- registry and errors

def test_register_operator_from_another_module():
    """A module can add an operator; `make_operator` then builds it and names clash loudly."""
    from flax import struct

    from jaxinv.operators import OperatorBase, register_operator

    try:
        @register_operator("test_negate")
        @struct.dataclass
        class Negate(OperatorBase):
            image_shape: tuple = struct.field(pytree_node=False)
            is_linear = True

            @classmethod
            def create(cls, image_shape):
                return cls(image_shape=image_shape)

            def _apply(self, x):
                return -x

        op = make_operator("test_negate", SMALL)
        np.testing.assert_array_equal(np.asarray(op.adjoint(jnp.ones(SMALL))), -np.ones(SMALL))
        with pytest.raises(ValueError, match="already registered"):
            register_operator("test_negate")(OPERATORS["hdr"])
    finally:
        OPERATORS.pop("test_negate", None)


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown operator 'deblur'.*super_resolution"):
        make_operator("deblur", SMALL)
    with pytest.raises(ValueError, match="bad parameters for operator 'gaussian_blur'.*kernel_size"):
        make_operator("gaussian_blur", SMALL, std=3.0)
    with pytest.raises(ValueError, match="padding"):
        make_operator("gaussian_blur", SMALL, kernel_size=5, padding="zeros")
    with pytest.raises(ValueError, match="motion kernel size must be >= 54"):
        make_operator("motion_blur", SMALL, kernel_size=9, padding="circular")
    with pytest.raises(ValueError, match="reflect padding by 30"):
        make_operator("gaussian_blur", SMALL)
    with pytest.raises(ValueError, match="multiples of scale"):
        make_operator("codps_super_resolution", (18, 18, 3), scale=4)
    with pytest.raises(ValueError, match="do not fit"):
        make_operator("inpainting", SMALL, mask_type="box")
    with pytest.raises(ValueError, match="unknown noise"):
        make_noise("speckle")
    with pytest.raises(ValueError, match="bad parameters for noise"):
        make_noise("gaussian", rate=1.0)
    op = make_operator("super_resolution", SMALL, scale=2)
    with pytest.raises(ValueError, match=r"channel count: expected .*\(16, 16, 3\).*got \(16, 16, 1\)"):
        op.forward(jnp.zeros((16, 16, 1)))
    with pytest.raises(ValueError, match=r"image shape: expected .*\(16, 16, 3\).*got \(2, 16, 16, 3\)"):
        op.forward(jnp.zeros((2, 16, 16, 3)))
    with pytest.raises(ValueError, match=r"got \(8, 8, 3\)"):
        jax.jit(op.forward)(jnp.zeros((8, 8, 3)))


def test_pseudo_inverse_drops_small_singular_values_with_rcond():
    """numpy's pinv convention on a circular blur whose singular values reach 3e-5 of the largest."""
    op = make_operator("gaussian_blur", (16, 16, 1), kernel_size=13, sigma=3.0, padding="circular")
    dense = np.asarray(jax.jacfwd(op.forward)(jnp.zeros((16, 16, 1))), np.float64).reshape(256, 256)
    y = np.random.default_rng(0).standard_normal((16, 16, 1)).astype(np.float32)
    for rcond in (1e-3, 1e-2):
        got = np.asarray(pseudo_inverse(op, jnp.asarray(y), rcond=rcond), np.float64).ravel()
        want = np.linalg.pinv(dense, rcond=rcond) @ y.ravel()
        assert max_err(got, want) < 1e-4 * np.abs(want).max()
    exact = np.asarray(pseudo_inverse(op, jnp.asarray(y)), np.float64)
    assert np.abs(exact).max() > 100 * np.abs(got).max()   # without rcond the noise grows by 1 / s
