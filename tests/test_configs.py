"""Every preset loads, names its source, carries the seed's values, and builds its operator and sampler."""
from __future__ import annotations

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import presets
from configs.defaults import get_config
from experiments.run import parse
from jaxinv import build
from jaxinv.models.adm import ADMConfig, ADMUNet
from jaxinv.models.adm import init_shapes as adm_init_shapes
from jaxinv.models.bkse import KernelWizardConfig, init_shapes
from jaxinv.operators import batched_inpainting, dps_motion_kernel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ADMConfig(image_size=256, num_channels=32, num_res_blocks=1, channel_mult=(1,), learn_sigma=True,
                 attention_resolutions=(), num_head_channels=16, use_scale_shift_norm=True, resblock_updown=True)


def _file(dataset, solver, task):
    return os.path.join(ROOT, "configs", dataset, f"{solver}_{task}.py")


def _load(path):
    spec = importlib.util.spec_from_file_location("preset_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def test_preset_files_match_the_table():
    on_disk = sorted((d, *f[:-3].split("_", 1)) for d in ("ffhq", "imagenet")
                     for f in os.listdir(os.path.join(ROOT, "configs", d)) if f.endswith(".py"))
    # solver names contain "_" only for codps_plus
    on_disk = sorted((d, "codps_plus", t[len("plus_"):]) if s == "codps" and t.startswith("plus_") else (d, s, t)
                     for d, s, t in on_disk)
    assert on_disk == presets.PRESETS
    assert len(presets.PRESETS) == 139


# Values transcribed from the original YAML files (research note §2.2, §3.6, §4.4), independently of presets.py.
SEED_VALUES = [
    ("ffhq", "dps", "sr4", dict(scale=0.3), "super_resolution", 0.05),
    ("imagenet", "dps", "inpaint_random", dict(scale=0.5), "inpainting", 0.05),
    ("ffhq", "dps", "phase_retrieval", dict(scale=1.0), "phase_retrieval", 0.05),
    ("ffhq", "dps", "nonlinear_deblur", dict(scale=0.3), "nonlinear_blur", 0.05),
    ("ffhq", "codps_plus", "motion_deblur", dict(scale=0.05, t_div=15, div_ratio=20, inv_var=1), "motion_blur", 0.05),
    ("ffhq", "codps_plus", "inpaint_random", dict(scale=0.4, t_div=10, div_ratio=100, inv_var=0), "inpainting", 0.05),
    ("ffhq", "codps", "inpaint_random", dict(scale=0.4, t_div=80, div_ratio=1000, inv_var=500), "inpainting", 0.05),
    ("imagenet", "codps", "sr4", dict(scale=0.02, t_div=200, div_ratio=10, inv_var=0.01), "codps_super_resolution",
     0.05),
    ("imagenet", "codps_plus", "motion_deblur", dict(scale=0.04, t_div=25, div_ratio=4, inv_var=2), "motion_blur",
     0.05),
    ("ffhq", "spgd", "sr4", dict(num_inner=5, lr=7.0), "super_resolution", 0.01),
    ("imagenet", "spgd", "inpaint_random", dict(num_inner=5, lr=2.5), "inpainting", 0.01),
    ("ffhq", "spgd", "phase_retrieval", dict(num_inner=5, lr=2.0), "phase_retrieval", 0.05),
    ("ffhq", "spgd", "nonlinear_deblur", dict(num_inner=5, lr=1.0), "nonlinear_blur", 0.05),
    ("ffhq", "spgd", "hdr", dict(num_inner=5, lr=1.0), "hdr", 0.05),
    # DiffPIR: the yaml's lambda_ / zeta times main_ddpir.py's task-block factors; noise 12.75/255 x 2
    ("ffhq", "diffpir", "gaussian_deblur", dict(diffpir_lambda=7.0, zeta=0.3, diffpir_steps=100), "gaussian_blur",
     0.1),
    ("imagenet", "diffpir", "sr4", dict(diffpir_lambda=7.0, zeta=0.25, diffpir_steps=100), "super_resolution", 0.1),
    ("ffhq", "diffpir", "inpaint_random", dict(diffpir_lambda=1.0, zeta=1.0, diffpir_steps=20), "inpainting", 0.0),
    # DDRM: README.md's --timesteps 20 --eta 0.85 --etaB 1 --sigma_0 0.05, doubled into [-1, 1]
    ("imagenet", "ddrm", "sr4", dict(ddrm_eta=0.85, ddrm_eta_b=1.0, ddrm_steps=20), "bicubic_sr", 0.1),
    ("ffhq", "ddrm", "sr4_average", dict(ddrm_eta=0.85, ddrm_eta_b=1.0, ddrm_steps=20), "block_average", 0.1),
    ("imagenet", "ddrm", "gaussian_deblur", dict(ddrm_eta=0.85, ddrm_eta_b=1.0, ddrm_steps=20), "separable_blur", 0.1),
    ("ffhq", "ddrm", "denoising", dict(ddrm_eta=0.85, ddrm_eta_b=1.0, ddrm_steps=20), "denoising", 0.1),
    # DDNM: README.md --eta 0.85, the yml's T_sampling 100; --sigma_y 0.1 doubled for the noisy demo
    ("ffhq", "ddnm", "sr4_average", dict(ddnm_eta=0.85, ddnm_steps=100, ddnm_travel_length=1), "block_average", 0.0),
    ("imagenet", "ddnm", "sr4_average_noisy", dict(ddnm_eta=0.85, ddnm_steps=100), "block_average", 0.2),
    ("imagenet", "ddnm", "colorization", dict(ddnm_eta=0.85, ddnm_travel_repeat=1), "colorization", 0.0),
    # RED-diff code: algo/pgdm.yaml; algo/reddiff.yaml with the README's lr 0.5 and lambda 0.25; 100 steps
    ("ffhq", "pgdm", "sr4_average", dict(pgdm_eta=0.0, pgdm_weight=1.0, pgdm_steps=100), "block_average", 0.0),
    ("imagenet", "reddiff", "gaussian_deblur", dict(reddiff_lr=0.5, reddiff_weight=0.25, reddiff_obs_weight=1.0,
                                                    reddiff_steps=100), "separable_blur", 0.0),
    # DAPS: configs/task/*.yaml pixel / pixel_hmc blocks
    ("ffhq", "daps", "sr4", dict(daps_mcmc_steps=100, daps_lr=1e-4, daps_lr_min_ratio=0.01, daps_tau=0.01),
     "super_resolution", 0.05),
    ("imagenet", "daps", "gaussian_deblur_hmc", dict(daps_mcmc_steps=82, daps_lr=4.04e-5, daps_momentum=0.10),
     "gaussian_blur", 0.05),
    ("ffhq", "daps", "phase_retrieval_hmc", dict(daps_mcmc_steps=62, daps_lr=9.75e-6, daps_lr_min_ratio=0.019,
                                                 daps_momentum=0.73), "phase_retrieval", 0.05),
]


@pytest.mark.parametrize("dataset,solver,task,values,operator,sigma", SEED_VALUES)
def test_seed_values(dataset, solver, task, values, operator, sigma):
    c = _load(_file(dataset, solver, task))
    for key, value in values.items():
        assert c.solver[key] == pytest.approx(value), key
    assert c.operator.name == operator and c.noise.params.sigma == pytest.approx(sigma)
    assert c.model.preset == {"ffhq": "ffhq_10m", "imagenet": "imagenet_256_uncond"}[dataset]
    assert c.diffusion.respacing == {"codps_plus": "ddim100"}.get(solver, "1000")
    if solver == "spgd":
        a = c.annealing
        assert (a.num_steps, a.sigma_max, a.sigma_min, a.timestep) == (200, 100.0, 0.1, "poly-7")
        assert c.solver.variant == "code" and c.solver.beta == 0.9 and c.solver.lr_min_ratio == 0.01


def test_operators_differ_as_in_the_seeds():
    """Note §5: same task name, different operators."""
    assert _load(_file("ffhq", "codps", "sr4")).operator.name == "codps_super_resolution"
    assert _load(_file("ffhq", "dps", "gaussian_deblur")).operator.params.padding == "reflect"
    assert _load(_file("ffhq", "codps", "gaussian_deblur")).operator.params.padding == "circular"
    assert _load(_file("ffhq", "spgd", "phase_retrieval")).operator.params.input_range == "[0,1]"
    assert _load(_file("ffhq", "dps", "phase_retrieval")).operator.params.input_range == "[-1,1]"
    dps_box, spgd_box = _load(_file("ffhq", "dps", "inpaint_box")), _load(_file("ffhq", "spgd", "inpaint_box"))
    assert tuple(dps_box.operator.params.margin) == (16, 16) and dps_box.operator.per_image
    assert tuple(spgd_box.operator.params.margin) == (32, 32) and not spgd_box.operator.per_image
    assert _load(_file("ffhq", "codps", "motion_deblur")).operator.per_image


@pytest.mark.parametrize("dataset,solver,task", [
    ("ffhq", "codps", "phase_retrieval"), ("ffhq", "codps_plus", "hdr"), ("imagenet", "codps_plus", "inpaint_random"),
    ("ffhq", "dps", "hdr"), ("celeba", "dps", "sr4")])
def test_undefined_combinations_are_refused(dataset, solver, task):
    with pytest.raises(ValueError, match="no seed config"):
        presets.preset(dataset, solver, task)


@pytest.fixture(scope="module")
def tiny_adm():
    """Zero parameters of a tiny 256x256 ADM: tracing needs only their shapes."""
    return ADMUNet(TINY), jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), adm_init_shapes(TINY))


@pytest.mark.parametrize("dataset,solver,task", presets.PRESETS, ids=[f"{d}/{s}_{t}" for d, s, t in presets.PRESETS])
def test_every_preset_builds_operator_noise_and_sampler(dataset, solver, task, tiny_adm):
    c = _load(_file(dataset, solver, task))
    assert c == presets.preset(dataset, solver, task)
    assert c.source.startswith({"dps": "DPS2022/", "codps": "CSIPlab/CoDPS", "codps_plus": "CSIPlab/CoDPS",
                                "spgd": "74587887/SPGD", "diffpir": "yuanzhi-zhu/DiffPIR", "ddrm": "bahjat-kawar/ddrm", "ddnm": "wyhuai/DDNM", "pgdm": "NVlabs/RED-diff",
                                "reddiff": "NVlabs/RED-diff", "daps": "zhangbingliang2019/DAPS"}[solver])
    extra = {}
    if c.operator.name == "nonlinear_blur":   # a zero KernelWizard stands in for GOPRO_wVAE.pth
        kw = KernelWizardConfig(nf=4, kernel_dim=32, front_RBs=1, back_RBs=1)
        shapes = init_shapes(kw, 256, 256)
        extra = dict(checkpoint_dir=None, model_config=kw,
                     params=jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))
    source = build.OperatorSource(c, **extra)
    operator = source.batch([0])
    noise = build.build_noise(c)
    module, params = tiny_adm
    sample = build.make_sample_fn(c, module)
    shape = build.image_shape(c)
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    one_op = jax.tree.map(lambda a: a[0], operator) if source.per_image else operator
    y = jax.eval_shape(lambda x: noise.sample(jax.random.PRNGKey(0), one_op.forward(x)), x)
    out = jax.eval_shape(sample, params, one_op, y, jax.random.PRNGKey(1))
    assert out["sample"].shape == shape and out["sample"].dtype == jnp.float32


def test_per_image_operators_follow_the_seed_order():
    """Image i gets the i-th draw of RandomState(seed) whatever the batch it is in (DPS masks, CoDPS kernels)."""
    c = presets.preset("ffhq", "dps", "inpaint_random")
    c.data.image_size = 64
    reference = batched_inpainting((64, 64, 3), 5, 0, mask_type="random", mask_prob_range=(0.3, 0.7), margin=(16, 16))
    source = build.OperatorSource(c)
    np.testing.assert_array_equal(np.asarray(source.batch([3, 1]).mask), np.asarray(reference.mask)[[3, 1]])
    np.testing.assert_array_equal(np.asarray(source.batch([4]).mask), np.asarray(reference.mask)[[4]])
    c = presets.preset("ffhq", "codps", "motion_deblur")
    rng = np.random.RandomState(225)
    kernels = [dps_motion_kernel(61, 0.5, rng) for _ in range(2)]
    stacked = build.OperatorSource(c).batch([1, 0])
    np.testing.assert_allclose(np.asarray(stacked.kernel[0]).squeeze(), kernels[1].astype(np.float32).squeeze(), atol=0)
    np.testing.assert_allclose(np.asarray(stacked.kernel[1]).squeeze(), kernels[0].astype(np.float32).squeeze(), atol=0)


def test_cli_overrides():
    config, resume, num_samples = parse(["run", "--config=configs/ffhq/dps_sr4.py", "--config.solver.scale=0.5",
                                         "--config.data.end=10", "--num_samples=3"])
    assert config.solver.scale == 0.5 and config.data.end == 10 and num_samples == 3 and resume is None
    assert config.operator.params.scale == 4 and config.name == "ffhq_dps_sr4"
    assert get_config().solver.scale == 1.0
    config, _, _ = parse(["run", "--config=configs/ffhq/codps_motion_deblur.py",
                          "--config.operator.params.padding=reflect"])
    assert config.operator.params.padding == "reflect"
    with pytest.raises(Exception, match="no_such_field"):
        parse(["run", "--config=configs/ffhq/dps_sr4.py", "--config.solver.no_such_field=1"])
    with pytest.raises(Exception, match="scale"):
        parse(["run", "--config=configs/ffhq/dps_sr4.py", "--config.solver.scale=abc"])
